"""live.read against recorded outputs of the real tools."""

import ipaddress

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import live
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError

from .recorded import PEER, PRIVATE, PSK, PUBLIC, Recorded


def test_reads_everything_without_the_private_key():
    state = live.read(Recorded(), "wg0")
    assert PRIVATE not in repr(state)
    assert state["public_key"] == PUBLIC
    assert state["listen_port"] == 51820 and state["fwmark"] is None
    assert state["mtu"] == 65456 and state["up"] is True
    assert [(str(a["address"]), a["scope"]) for a in state["addresses"]] == [
        ("10.99.0.1/32", "global"), ("fe80::d23c:cfb7:a2b2:f52c/64", "link")]
    peer = state["peers"][PEER]
    assert peer == {"psk": PSK, "endpoint": "127.0.0.1:51821", "keepalive": 25,
                    "allowed_ips": frozenset([ipaddress.ip_network("10.99.0.2/32"),
                                              ipaddress.ip_network("10.98.0.0/24")])}
    # "10.99.0.2" (ip -j prints host routes without the prefix) is read as a /32; proto boot is not kernel.
    assert {(str(r["dst"]), r["kernel"]) for r in state["routes"]} == {
        ("10.98.0.0/24", False), ("10.99.0.2/32", False), ("fe80::/64", True)}


def test_missing_interface_is_none():
    run = Recorded()
    assert live.read(run, "wg1") is None
    assert [c[0] for c in run.calls] == [["ip", "-j", "addr", "show", "dev", "wg1"]]


def test_default_route_and_no_private_key():
    run = Recorded({
        "ip -j -4 route show dev wg0": (0, '[{"dst":"default","scope":"link","flags":[]}]', ""),
        "wg show wg0 public-key": (0, "(none)\n", ""),
        "wg showconf wg0": (0, "[Interface]\nListenPort = 41393\nFwMark = 0xca6c\n", ""),
    })
    state = live.read(run, "wg0")
    assert state["public_key"] is None and state["peers"] == {} and state["fwmark"] == 0xca6c
    assert ipaddress.ip_network("0.0.0.0/0") in [r["dst"] for r in state["routes"]]


def test_not_a_wireguard_interface_fails_cleanly():
    run = Recorded({"wg showconf wg0": (1, "", "Unable to access interface: Protocol not supported\n")})
    with pytest.raises(WireGuardError, match="wg showconf wg0 failed.*Protocol not supported"):
        live.read(run, "wg0")


def test_other_ip_errors_are_reported():
    run = Recorded({"ip -j addr show dev wg0": (255, "", "RTNETLINK answers: Operation not permitted\n")})
    with pytest.raises(WireGuardError, match="Operation not permitted"):
        live.read(run, "wg0")
