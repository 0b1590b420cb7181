"""Who is who: duplicate names, two members with one public key, malformed keys, incomplete peers.

Each case: host variable changes (without the ``wiremesh_`` prefix), external peers, the message the run must
stop with, and the problem (subject, field, fragment) the planner raises for the same input."""

import base64

import pytest

from ..plugins.module_utils.mesh.helpers import key
from .harness import assert_refused, needs_ansible

pytestmark = needs_ansible

SHORT_KEY = base64.b64encode(b"\x01" * 31).decode()       # 31 bytes: one short of a Curve25519 key


def peer(name, **fields):
    data = {"name": name, "allowed_ips": ["10.5.0.1/32"], "public_key": key(name)}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


CASES = [
    pytest.param(None, [peer("a")], "peer a: name: 'a' is also used by a", ("peer a", "name", "is also used by a"),
                 id="peer-named-like-a-host"),
    pytest.param(None, [peer("laptop"), peer("laptop", allowed_ips=["10.5.0.2/32"], public_key=key("twin"))],
                 "peer laptop: name: 'laptop' is also used by peer laptop",
                 ("peer laptop", "name", "is also used by peer laptop"), id="two-peers-with-one-name"),
    # a host cloned from another's image, /etc/wireguard included
    pytest.param({"a": {"public_key": key("a")}, "b": {"public_key": key("a")}}, None,
                 "b: wiremesh_public_key: %s... is also used by a" % key("a")[:10],
                 ("b", "public_key", "is also used by a"), id="two-hosts-with-one-key"),
    pytest.param({"c": {"public_key": key("c")}}, [peer("laptop", public_key=key("c"))],
                 "peer laptop: public_key: %s... is also used by c" % key("c")[:10],
                 ("peer laptop", "public_key", "is also used by c"), id="peer-with-a-hosts-key"),
    pytest.param({"a": {"public_key": "not-a-key"}}, None,
                 "a: wiremesh_public_key: is not a WireGuard public key (44 base64 characters)",
                 ("a", "public_key", "is not a WireGuard public key"), id="host-key-not-base64"),
    pytest.param(None, [peer("laptop", public_key=SHORT_KEY)],
                 "peer laptop: public_key: is not a WireGuard public key",
                 ("peer laptop", "public_key", "is not a WireGuard public key"), id="peer-key-of-the-wrong-length"),
    pytest.param(None, [peer("laptop", public_key=None)], "peer laptop: public_key: is required",
                 ("peer laptop", "public_key", "is required"), id="peer-without-a-key"),
    pytest.param(None, [peer("laptop", allowed_ips=None)], "peer laptop: allowed_ips: is required",
                 ("peer laptop", "allowed_ips", "is required"), id="peer-without-addresses"),
    pytest.param(None, [peer("laptop", allowed_ips=None, allowed_ip=["10.5.0.1/32"])],
                 "peer laptop: allowed_ip: is not a known field",
                 ("peer laptop", "allowed_ip", "is not a known field"), id="peer-with-a-misspelt-field"),
]


@pytest.mark.parametrize("hosts, peers, message, problem", CASES)
def test_identity(inventory, hosts, peers, message, problem):
    assert_refused(inventory.change(hosts, peers), message, problem)
