"""The state document: sticky addresses, reservations, preshared keys per peered pair, validation."""

import itertools

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import state as mesh_state
from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.api import build_plan

from .helpers import key, node


def psk_source():
    counter = itertools.count()
    return lambda: key("psk%d" % next(counter))


def lab(names=("do1", "do2", "aws1")):
    locs = {"do1": "fra1", "do2": "fra1", "aws1": "euc1", "a0": "euc1"}
    return [node(n, locs[n], "198.51.100.%d" % (i + 1), ["192.168.%d.%d/24" % (len(locs[n]), i + 2)])
            for i, n in enumerate(names)]


def test_update_records_addresses_keys_and_pair_psks():
    plan = build_plan("10.4.0.0/16", "location", lab(), standbys=0)
    new = mesh_state.update(mesh_state.empty(), plan, new_psk=psk_source())
    assert new["nodes"]["do1"] == {"mesh_ip": "10.4.0.2", "public_key": key("do1"), "reserved": False}
    # location mode: do2 peers only with its leader do1; do1 with aws1
    assert sorted(new["psks"]) == ["aws1|do1", "do1|do2"]
    assert mesh_state.check(new) is new


def test_psks_are_generated_once_and_kept():
    plan = build_plan("10.4.0.0/16", "location", lab(), standbys=0)
    first = mesh_state.update(mesh_state.empty(), plan, new_psk=psk_source())
    second = mesh_state.update(first, plan, new_psk=lambda: pytest.fail("no new key may be made"))
    assert second == first


def test_psks_for_gives_a_node_only_its_own_pairs():
    plan = build_plan("10.4.0.0/16", "location", lab(), standbys=0)
    st = mesh_state.update(mesh_state.empty(), plan, new_psk=psk_source())
    assert set(mesh_state.psks_for(st, "do2")) == {key("do1")}
    assert set(mesh_state.psks_for(st, "do1")) == {key("do2"), key("aws1")}
    assert mesh_state.psks_for(st, "nobody") == {}


def test_without_psks_none_are_kept():
    plan = build_plan("10.4.0.0/16", "location", lab(), standbys=0)
    assert mesh_state.update(mesh_state.empty(), plan)["psks"] == {}


def test_sticky_addresses_reservations_and_forget():
    first = mesh_state.update(mesh_state.empty(), build_plan("10.4.0.0/16", "full", lab()))
    # a node that sorts first joins and do2 leaves: nobody is renumbered, do2's address stays reserved
    plan = build_plan("10.4.0.0/16", "full", lab(("a0", "do1", "aws1")), assigned=mesh_state.assigned(first))
    second = mesh_state.update(first, plan)
    assert {n: e["mesh_ip"] for n, e in second["nodes"].items()} == {
        "aws1": "10.4.0.1", "do1": "10.4.0.2", "do2": "10.4.0.3", "a0": "10.4.0.4"}
    assert second["nodes"]["do2"]["reserved"] is True
    third = mesh_state.update(second, plan, forget=["do2"])
    assert "do2" not in third["nodes"]


@pytest.mark.parametrize("doc, message", [
    ({}, "not a wiremesh state document"),
    ({"version": 1, "nodes": [], "psks": {}}, "must be mappings"),
    ({"version": 1, "nodes": {"a": {"mesh_ip": "x"}}, "psks": {}}, "node a: mesh_ip 'x' is not an address"),
    ({"version": 1, "nodes": {"a": {"mesh_ip": "10.4.0.1", "public_key": "k"}}, "psks": {}}, "node a: public_key"),
    ({"version": 1, "nodes": {}, "psks": {"ab": key("x")}}, "psks: entry 'ab' is malformed"),
])
def test_check_rejects_damaged_documents(doc, message):
    with pytest.raises(ValueError, match=message):
        mesh_state.check(doc)


def test_rotate_drops_the_psks_of_the_rotated_hosts_pairs_and_update_draws_new_ones():
    plan = build_plan("10.4.0.0/16", "full", lab())
    old = mesh_state.update(mesh_state.empty(), plan, new_psk=psk_source())
    assert sorted(old["psks"]) == ["aws1|do1", "aws1|do2", "do1|do2"]
    rotated = mesh_state.rotate(old, ["do1"])
    assert sorted(rotated["psks"]) == ["aws1|do2"] and rotated["nodes"] == old["nodes"]
    assert sorted(old["psks"]) == ["aws1|do1", "aws1|do2", "do1|do2"], "the input is not modified"
    counter = itertools.count(100)
    new = mesh_state.update(rotated, plan, new_psk=lambda: key("psk%d" % next(counter)))
    assert new["psks"]["aws1|do2"] == old["psks"]["aws1|do2"]
    assert new["psks"]["aws1|do1"] != old["psks"]["aws1|do1"] and new["psks"]["do1|do2"] != old["psks"]["do1|do2"]
    assert mesh_state.rotate(old, []) == old


def test_rotate_refuses_a_host_the_state_does_not_know():
    plan = build_plan("10.4.0.0/16", "full", lab())
    old = mesh_state.update(mesh_state.empty(), plan, new_psk=psk_source())
    with pytest.raises(ValueError, match="cannot rotate ghost: not in the mesh state"):
        mesh_state.rotate(old, ["do1", "ghost"])


def inputs_of(nodes):
    return {n["name"]: n for n in nodes}


def test_a_slice_plans_the_whole_mesh_from_what_the_state_remembers():
    """AWX job slicing: each job sees a third of the hosts; with absent_members every slice plans the same mesh
    as one unsliced run, with the same addresses and preshared keys."""
    names = ("do1", "do2", "aws1", "a0")
    whole = lab(names)
    full = build_plan("10.4.0.0/16", "location", whole)
    state = mesh_state.update(mesh_state.empty(), full, new_psk=psk_source(), inputs=inputs_of(whole))
    assert state["nodes"]["do1"]["inputs"]["endpoint"] == whole[0]["endpoint"]
    assert "public_key" not in state["nodes"]["do1"]["inputs"] and "name" not in state["nodes"]["do1"]["inputs"]
    for part in (["do1"], ["do2", "a0"], ["aws1"]):
        seen = [n for n in lab(names) if n["name"] in part]
        for n in seen:
            del n["public_key"]         # keys of this slice's hosts come from the hosts in a real run
            n["public_key"] = key(n["name"])
        kept = mesh_state.absent_members(state, set(part))
        assert sorted(n["name"] for n in kept) == sorted(set(names) - set(part))
        sliced = build_plan("10.4.0.0/16", "location", seen + kept, assigned=mesh_state.assigned(state))
        assert sliced.to_dict() == full.to_dict()
        after = mesh_state.update(state, sliced, new_psk=lambda: pytest.fail("no new key may be made"),
                                  inputs=inputs_of(seen + kept))
        assert after == state


def test_absent_members_skip_the_reserved_the_forgotten_and_those_without_inputs():
    whole = lab()
    state = mesh_state.update(mesh_state.empty(), build_plan("10.4.0.0/16", "full", whole), inputs=inputs_of(whole))
    state["nodes"]["do2"]["reserved"] = True
    del state["nodes"]["aws1"]["inputs"]                   # planned by an older version: nothing to plan it from
    assert mesh_state.absent_members(state, set()) == [dict(whole[0], public_key=key("do1"))]
    assert mesh_state.absent_members(state, set(), forget=["do1"]) == []
