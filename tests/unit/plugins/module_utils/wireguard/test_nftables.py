"""wg_node's access-policy step (module_utils/wireguard/nftables.py) against a fake nft: the table is loaded when
missing or carrying another digest, in one transaction that replaces it; nothing is run when it is in place; check
mode reads only; no policy removes a table loaded earlier; a host without nft fails naming the package."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import nftables
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError

TEXT = 'table inet wiremesh_wg0 {\n\tcomment "wiremesh 0123456789abcdef"\n\tchain input {\n\t}\n}\n'


class FakeNft:
    def __init__(self, live=None):
        self.live = live            # the digest of the loaded table, or None when there is none
        self.calls = []

    def __call__(self, args, data=None):
        self.calls.append((args, data))
        if args[:3] == ["nft", "list", "table"]:
            if self.live is None:
                return 1, "", "Error: No such file or directory"
            return 0, 'table inet wiremesh_wg0 {\n\tcomment "wiremesh %s"\n}\n' % self.live, ""
        if args == ["nft", "-f", "-"]:
            assert data.startswith("table inet wiremesh_wg0\ndelete table inet wiremesh_wg0\n")
            self.live = "0123456789abcdef"
            return 0, "", ""
        if args[:3] == ["nft", "delete", "table"]:
            self.live = None
            return 0, "", ""
        raise AssertionError(args)


@pytest.fixture
def where(tmp_path, monkeypatch):
    monkeypatch.setattr(nftables, "path_of", lambda interface: str(tmp_path / ("%s.nft" % interface)))
    return tmp_path


def which(name):
    return "/usr/sbin/" + name


def test_load_once_then_nothing(where):
    nft = FakeNft()
    actions, diffs = nftables.converge(nft, which, "wg0", TEXT)
    assert actions == ["write %s" % (where / "wg0.nft"), "load the access policy into nftables table inet wiremesh_wg0"]
    assert diffs[0]["after"] == nftables.loadable(TEXT) and (where / "wg0.nft").stat().st_mode & 0o777 == 0o600
    nft.calls.clear()
    assert nftables.converge(nft, which, "wg0", TEXT) == ([], [])
    assert [c[0][:2] for c in nft.calls] == [["nft", "list"]]          # one read on a converged host


def test_a_table_flushed_by_someone_is_loaded_again_and_check_mode_changes_nothing(where):
    nftables.converge(FakeNft(), which, "wg0", TEXT)
    nft = FakeNft(live="ffffffffffffffff")
    actions, _diffs = nftables.converge(nft, which, "wg0", TEXT, check_mode=True)
    assert actions == ["load the access policy into nftables table inet wiremesh_wg0"] and nft.live == "ffffffffffffffff"
    nftables.converge(nft, which, "wg0", TEXT)
    assert nft.live == "0123456789abcdef"


def test_no_policy_removes_the_table_and_its_file(where):
    nft = FakeNft()
    nftables.converge(nft, which, "wg0", TEXT)
    actions, _diffs = nftables.converge(nft, which, "wg0", None)
    assert actions == ["delete nftables table inet wiremesh_wg0 (no access policy)", "remove %s" % (where / "wg0.nft")]
    assert nft.live is None and not (where / "wg0.nft").exists()
    assert nftables.converge(nft, which, "wg0", None) == ([], [])


def test_a_policy_without_nft_fails_naming_the_package(where):
    with pytest.raises(WireGuardError, match="nft is not installed on this host \\(package nftables\\)"):
        nftables.converge(FakeNft(), lambda name: None, "wg0", TEXT)
    assert nftables.converge(FakeNft(), lambda name: None, "wg0", None) == ([], [])
