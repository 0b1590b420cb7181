"""Property: whatever the live state, one run converges it (the next compare is empty), the peers that stay
are never removed and re-added, and nothing but syncconf/wg set/ip is used."""

import ipaddress

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import conffile, diff, live
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.interface import _converge

from .fakehost import FakeHost, key, pub_of

KEYS = [key("peer%d" % i) for i in range(5)]
NETS = ["10.4.0.%d/32" % i for i in range(1, 6)] + ["10.9.0.0/24", "10.9.0.0/16", "fd00::/64", "192.168.1.0/24"]
ENDPOINTS = [None, "203.0.113.1:51820", "203.0.113.2:51820", "[2001:db8::1]:51820"]
PSKS = [None, key("psk1"), key("psk2")]
PRIVS = [key("host1"), key("host2")]

peer = st.fixed_dictionaries({
    "allowed": st.lists(st.sampled_from(NETS), max_size=3, unique=True),
    "endpoint": st.sampled_from(ENDPOINTS),
    "keepalive": st.sampled_from([0, 0, 25]),
    "psk": st.sampled_from(PSKS),
})
peers = st.dictionaries(st.sampled_from(KEYS), peer, max_size=4)
state = st.fixed_dictionaries({
    "private": st.sampled_from(PRIVS), "port": st.sampled_from([51820, 41000]), "mtu": st.sampled_from([1420, 1380]),
    "up": st.booleans(), "addrs": st.lists(st.sampled_from(["10.4.0.9/32", "10.4.0.9/24", "fd00::9/64"]),
                                           max_size=2, unique=True),
    "routes": st.lists(st.sampled_from(NETS), max_size=3, unique=True), "peers": peers,
})


def build(fake, s):
    link = fake.add_link("wg0", private_key=s["private"], port=s["port"], mtu=s["mtu"], up=s["up"], addrs=s["addrs"],
                         routes=[(n, "boot") for n in s["routes"]])
    for a, dummy in link["addrs"]:
        if s["up"] and a.network.prefixlen < a.network.max_prefixlen:
            link["routes"].append((a.network, "kernel"))
    for pub, p in s["peers"].items():
        fake.add_peer("wg0", pub, p["allowed"], p["endpoint"], p["keepalive"], p["psk"], handshake=1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(live_state=state, wanted=state, mtu=st.sampled_from([None, 1380]))
def test_one_run_converges(live_state, wanted, mtu):
    fake = FakeHost()
    build(fake, live_state)
    psks = dict((pub, p["psk"]) for pub, p in wanted["peers"].items() if p["psk"])
    config = {"interface": {"address": wanted["addrs"], "listen_port": wanted["port"], "mtu": mtu},
              "peers": [{"name": "n%d" % KEYS.index(pub), "public_key": pub, "endpoint": p["endpoint"],
                         "allowed_ips": p["allowed"], "persistent_keepalive": p["keepalive"] or None}
                        for pub, p in wanted["peers"].items()]}
    text = conffile.render(config, wanted["private"], psks)
    desired = diff.desired_state(config, pub_of(wanted["private"]), psks)
    kept = dict((p.public_key, p) for p in fake.links["wg0"]["wg"]["peers"] if p.public_key in wanted["peers"])
    _converge(fake, "wg0", desired, live.read(fake, "wg0"), {}, text, [], diff.resolve)  # raises if not converged
    assert diff.compare("wg0", desired, live.read(fake, "wg0")) == []
    for pub, obj in kept.items():
        assert fake.peer("wg0", pub) is obj and obj.handshake == 1
    link = fake.links["wg0"]
    for net in desired["routes"]:
        assert any(net.subnet_of(r) for r, dummy in link["routes"] if r.version == net.version), net
    assert all(c.split()[0] in ("ip", "wg") for c in fake.commands())
    assert not [c for c in fake.commands() if "setconf" in c or "link delete" in c or "link set dev wg0 down" in c]
    assert ipaddress.ip_network("0.0.0.0/0") not in [r for r, dummy in link["routes"]]
