"""The INI format: rendering, parsing back, stripping wg-quick keys."""

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh import wgconf

from .helpers import key

CONFIG = {
    "interface": {"address": ["10.4.0.2/32"], "listen_port": 51820, "mtu": 1420},
    "peers": [
        {"name": "b", "public_key": key("b"), "endpoint": "198.51.100.2:51820",
         "allowed_ips": ["10.4.0.3/32", "10.9.0.0/24"], "persistent_keepalive": 25},
        {"name": "a", "public_key": key("a"), "endpoint": None, "allowed_ips": ["10.4.0.1/32"],
         "persistent_keepalive": None},
    ],
}


def test_render_is_sorted_and_omits_empty_fields():
    text = wgconf.render(CONFIG)
    assert text.index("# a") < text.index("# b")
    assert "PrivateKey" not in text and "Endpoint = None" not in text
    assert "AllowedIPs = 10.4.0.3/32, 10.9.0.0/24" in text


def test_round_trip_with_secrets():
    priv, psk = key("priv"), key("psk")
    parsed = wgconf.parse(wgconf.render(CONFIG, private_key=priv, preshared_keys={key("b"): psk}))
    assert parsed["interface"] == {"address": ["10.4.0.2/32"], "listenport": "51820", "mtu": "1420",
                                   "privatekey": priv}
    by_name = {p["name"]: p for p in parsed["peers"]}
    assert by_name["b"]["presharedkey"] == psk
    assert by_name["b"]["allowedips"] == ["10.4.0.3/32", "10.9.0.0/24"]
    assert "presharedkey" not in by_name["a"]


def test_strip_keeps_only_what_wg_understands():
    stripped = wgconf.strip(wgconf.render(CONFIG, private_key=key("priv")))
    assert "Address" not in stripped and "MTU" not in stripped
    assert "ListenPort = 51820" in stripped and "PrivateKey" in stripped and "Endpoint" in stripped


def test_parse_wg_showconf_output():
    text = "[Interface]\nListenPort = 51820\nPrivateKey = %s\n\n[Peer]\nPublicKey = %s\n" \
           "AllowedIPs = 10.4.0.1/32\nEndpoint = 198.51.100.9:41000\n" % (key("x"), key("y"))
    parsed = wgconf.parse(text)
    assert parsed["peers"] == [{"publickey": key("y"), "allowedips": ["10.4.0.1/32"],
                                "endpoint": "198.51.100.9:41000"}]


@pytest.mark.parametrize("text", ["garbage", "[Interface]\nColour = blue\n", "Key = v\n"])
def test_parse_rejects_what_it_does_not_know(text):
    with pytest.raises(ValueError):
        wgconf.parse(text)


def test_parse_errors_never_quote_a_secret():
    secret = key("secret")
    with pytest.raises(ValueError) as err:
        wgconf.parse("[Interface]\nPrivateKey %s\n" % secret)
    assert secret not in str(err.value) and "line 2" in str(err.value)


def test_trailing_comments_are_accepted():
    parsed = wgconf.parse("[Interface]\nListenPort = 51820 # fixed\n\n[Peer]\n# b\nPublicKey = %s\n" % key("b"))
    assert parsed["interface"]["listenport"] == "51820"
    assert parsed["peers"][0] == {"name": "b", "publickey": key("b")}


def test_preshared_keys_come_only_from_the_argument():
    config = {"interface": {}, "peers": [{"name": "b", "public_key": key("b"), "preshared_key": key("psk")}]}
    assert "PresharedKey" not in wgconf.render(config)
