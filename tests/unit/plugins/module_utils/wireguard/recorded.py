"""Outputs recorded on Debian 12 (wireguard-go 0.0.20220316, wireguard-tools 1.0.20210914, iproute2 6.1) from an
interface brought up by ``wg-quick up`` (keys are throwaway test keys; the private one is a stand-in)."""

PRIVATE = "OHp2VLPl9Wpyz3EO41Y9mkrzpUKSgE5LBUzSz5qz110="
PUBLIC = "T6/6PgpaS6VPrlXH6jmXcSNXRcLLURGQgHWCBDf4in4="
PEER = "7iGOMFtCSG7fcIvhIDVPKfl93IXt/fJ2gPPO/4Z6vH8="
PSK = "UDgv6baa16wCOdxNVo5iA6FIPI+oq49ZeMLvN04j7n0="

SHOWCONF = """[Interface]
ListenPort = 51820
PrivateKey = %s

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = 10.99.0.2/32, 10.98.0.0/24
Endpoint = 127.0.0.1:51821
PersistentKeepalive = 25
""" % (PRIVATE, PEER, PSK)

ADDR = ('[{"ifindex":2,"ifname":"wg0","flags":["POINTOPOINT","MULTICAST","NOARP","UP","LOWER_UP"],"mtu":65456,'
        '"qdisc":"pfifo_fast","operstate":"UNKNOWN","group":"default","txqlen":500,"link_type":"none","addr_info":'
        '[{"family":"inet","local":"10.99.0.1","prefixlen":32,"scope":"global","label":"wg0","valid_life_time":'
        '4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::d23c:cfb7:a2b2:f52c",'
        '"prefixlen":64,"scope":"link","stable-privacy":true,"valid_life_time":4294967295,'
        '"preferred_life_time":4294967295}]}]\n')

ROUTES4 = '[{"dst":"10.98.0.0/24","scope":"link","flags":[]},{"dst":"10.99.0.2","scope":"link","flags":[]}]\n'
ROUTES6 = '[{"dst":"fe80::/64","protocol":"kernel","metric":256,"flags":[],"pref":"medium"}]\n'

OUTPUTS = {
    "ip -j addr show dev wg0": (0, ADDR, ""),
    "wg showconf wg0": (0, SHOWCONF, ""),
    "wg show wg0 public-key": (0, PUBLIC + "\n", ""),
    "ip -j -4 route show dev wg0": (0, ROUTES4, ""),
    "ip -j -6 route show dev wg0": (0, ROUTES6, ""),
    "ip -j addr show dev wg1": (1, "", 'Device "wg1" does not exist.\n'),
}


class Recorded(object):
    def __init__(self, outputs=None):
        self.outputs = dict(OUTPUTS, **(outputs or {}))
        self.calls = []

    def __call__(self, args, data=None, **kwargs):
        self.calls.append((list(args), data))
        return self.outputs[" ".join(args)]
