"""wg_node's parts (files, kernel parameters, units, firewall) and the whole pass against a fake host: a first run
changes what differs, a second run changes nothing and runs no mutating command, check mode changes nothing."""

import os
import stat

import pytest

from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard import (
    firewall, hostfiles, hostinfo, interface, node, services, sysctl)
from ansible_collections.wiremesh.multicloud.plugins.module_utils.wireguard.common import WireGuardError

from .fakehost import FakeHost, key

PRIV = key("node-private")
A = key("a")


class Host(FakeHost):
    """FakeHost plus what wg_node runs besides wg/ip: mesh routes, systemctl, the lab supervisor, firewalls."""

    def __init__(self):
        super().__init__()
        self.enabled, self.active = set(), set()
        self.mesh_routes = set()          # (to, via)
        self.firewalld = None             # None: not installed; else {"running", "runtime", "permanent"}
        self.ufw = None                   # None: not installed; else {"active", "rules"}

    def __call__(self, args, data=None, **kwargs):
        args = list(args)
        if args[:2] == ["ip", "-j"] and "proto" in args:
            self.calls.append((args, data))
            family = args[2]
            rows = [{"dst": to.split("/")[0] if to.endswith("/32") else to, "gateway": via}
                    for to, via in sorted(self.mesh_routes) if (":" in to) == (family == "-6")]
            return 0, __import__("json").dumps(rows), ""
        if args[:2] == ["ip", "route"] and "proto" in args:
            self.calls.append((args, data))
            route = (args[3] if "/" in args[3] else args[3] + "/32", args[5])
            (self.mesh_routes.add if args[2] == "replace" else self.mesh_routes.discard)(route)
            return 0, "", ""
        if args[0] == "systemctl":
            self.calls.append((args, data))
            verb, name = args[1], args[-1]
            if verb == "is-enabled":
                return (0, "enabled\n", "") if name in self.enabled else (1, "disabled\n", "")
            if verb == "is-active":
                return (0, "active\n", "") if name in self.active else (3, "inactive\n", "")
            if verb == "enable":
                self.enabled.add(name)
            if verb in ("start", "restart"):
                self.active.add(name)
            return 0, "", ""
        if args[0] == services.LAB_CTL:
            self.calls.append((args, data))
            return 0, "", ""
        if args[0] == "firewall-cmd":
            self.calls.append((args, data))
            fw = self.firewalld
            if args[1] == "--state":
                return (0, "running\n", "") if fw["running"] else (252, "not running\n", "")
            scope = "permanent" if "--permanent" in args else "runtime"
            port = args[-1].split("=", 1)[1]
            if args[-1].startswith("--query-port"):
                return (0, "yes\n", "") if port in fw[scope] else (1, "no\n", "")
            fw[scope].add(port)
            return 0, "success\n", ""
        if args[0] == "ufw":
            self.calls.append((args, data))
            if args[1] == "status":
                lines = ["Status: active" if self.ufw["active"] else "Status: inactive", "",
                         "To                         Action      From"]
                lines += ["%-26s ALLOW       Anywhere" % r for r in sorted(self.ufw["rules"])]
                return 0, "\n".join(lines) + "\n", ""
            self.ufw["rules"].add(args[2])
            return 0, "Rule added\n", ""
        return super().__call__(args, data, **kwargs)


def which_of(host):
    def which(name):
        installed = {"firewall-cmd": host.firewalld is not None, "ufw": host.ufw is not None}
        return "/usr/sbin/" + name if installed.get(name) else None
    return which


# -- hostinfo ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, facts", [
    ('ID=debian\nVERSION_ID="12"\n', {"distribution": "Debian", "os_family": "Debian", "distribution_version": "12"}),
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', {"distribution": "Ubuntu", "os_family": "Debian",
                                                         "distribution_version": "24.04"}),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
     {"distribution": "Rocky", "os_family": "RedHat", "distribution_version": "9.4"}),
    ('ID="amzn"\nVERSION_ID="2023"\n', {"distribution": "Amazon", "os_family": "RedHat",
                                        "distribution_version": "2023"}),
    ('NAME="Pop!_OS"\nID=pop\nID_LIKE="ubuntu debian"\n', {"distribution": "Pop!_OS", "os_family": "Debian",
                                                           "distribution_version": ""}),
])
def test_os_facts_name_the_os_as_ansible_facts_do(text, facts):
    assert hostinfo.os_facts(hostinfo.parse_os_release(text)) == facts


def test_installed_packages_from_dpkg_and_rpm():
    def dpkg(args):
        assert args[0] == "dpkg-query"
        return 1, "wireguard-tools install ok installed\niproute2 deinstall ok config-files\n", \
            "dpkg-query: no packages found matching wireguard-go\n"
    assert hostinfo.installed_packages(dpkg, bool, "Debian", ["wireguard-go", "iproute2", "wireguard-tools"]) == {
        "iproute2": False, "wireguard-go": False, "wireguard-tools": True}

    def rpm(args):
        assert args[0] == "rpm"
        return 1, "wireguard-tools\npackage iproute is not installed\n", ""
    assert hostinfo.installed_packages(rpm, bool, "RedHat", ["wireguard-tools", "iproute"]) == {
        "iproute": False, "wireguard-tools": True}
    assert hostinfo.installed_packages(rpm, lambda name: None, "RedHat", ["iproute"]) == {}


def test_agent_state_is_read_when_the_agent_runs(tmp_path):
    assert hostinfo.agent_state("wg0", str(tmp_path)) is None
    (tmp_path / "failover-wg0.state.json").write_text('{"dead": ["do1"]}')
    assert hostinfo.agent_state("wg0", str(tmp_path)) == {"dead": ["do1"]}
    (tmp_path / "failover-wg0.state.json").write_text('{"dead": ')
    assert hostinfo.agent_state("wg0", str(tmp_path)) is None


# -- files ---------------------------------------------------------------------------------------------------------

def test_files_are_written_once_with_their_mode(tmp_path):
    path = str(tmp_path / "sub" / "unit.json")
    specs = [{"path": path, "content": "one\n", "mode": "0600"}]
    changed, actions, diffs = hostfiles.converge(specs, check_mode=True)
    assert changed == [path] and not os.path.exists(path) and diffs[0]["after"] == "one\n"
    changed, actions, diffs = hostfiles.converge(specs)
    assert changed == [path] and open(path).read() == "one\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o755
    assert hostfiles.converge(specs) == ([], [], [])
    os.chmod(path, 0o644)
    changed, actions, diffs = hostfiles.converge(specs)
    assert actions == ["set mode 0600 on %s" % path] and diffs == []
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


# -- kernel parameters ---------------------------------------------------------------------------------------------

def test_sysctls_set_live_and_kept_in_their_file(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "net.ipv4.ip_forward").write_text("0\n")

    def where(name):
        return str(proc / name)
    conf = str(tmp_path / "60-wiremesh.conf")
    actions, diffs = sysctl.converge({"net.ipv4.ip_forward": 1}, conf, check_mode=True, proc=where)
    assert actions == ["set net.ipv4.ip_forward = 1", "write %s" % conf]
    assert (proc / "net.ipv4.ip_forward").read_text() == "0\n" and not os.path.exists(conf)
    sysctl.converge({"net.ipv4.ip_forward": 1}, conf, proc=where)
    assert (proc / "net.ipv4.ip_forward").read_text() == "1\n"
    assert "net.ipv4.ip_forward = 1\n" in open(conf).read()
    assert sysctl.converge({"net.ipv4.ip_forward": 1}, conf, proc=where) == ([], [])
    actions, dummy = sysctl.converge({}, conf, proc=where)           # no longer wanted: out of the file, live kept
    assert actions == ["write %s" % conf] and "ip_forward" not in open(conf).read()
    assert (proc / "net.ipv4.ip_forward").read_text() == "1\n"
    assert sysctl.converge({}, str(tmp_path / "none.conf"), proc=where) == ([], [])
    with pytest.raises(WireGuardError, match="net.ipv4.nope"):
        sysctl.converge({"net.ipv4.nope": 1}, conf, proc=where)


# -- units and firewall --------------------------------------------------------------------------------------------

UNITS = [{"name": "wg-quick@wg0.service", "enabled": True, "started": False, "files": ["/d/dropin.conf"]},
         {"name": "agent.service", "enabled": True, "started": True, "files": ["/d/agent.service"]}]


def test_systemd_units_enabled_started_and_restarted_when_their_file_changed():
    host = Host()
    assert services.daemon_reload(host, UNITS, ["/d/other"]) == []
    assert services.daemon_reload(host, UNITS, ["/d/agent.service"]) == ["systemctl daemon-reload"]
    assert services.systemd(host, UNITS, [], check_mode=True) == [
        "systemctl enable wg-quick@wg0.service", "systemctl enable agent.service", "systemctl start agent.service"]
    assert host.enabled == set()
    services.systemd(host, UNITS, [])
    assert host.enabled == {"wg-quick@wg0.service", "agent.service"} and host.active == {"agent.service"}
    assert services.systemd(host, UNITS, []) == []
    assert services.systemd(host, UNITS, ["/d/agent.service"]) == ["systemctl restart agent.service"]


def test_lab_supervisor_reloads_only_when_a_unit_file_changed():
    host = Host()
    assert services.lab(host, UNITS, []) == [] and host.calls == []
    assert services.lab(host, UNITS, ["/d/dropin.conf"]) == ["wiremesh-lab-ctl reload"]
    assert host.commands() == [services.LAB_CTL + " reload"]


def test_firewall_port_opened_where_a_firewall_runs():
    host = Host()
    assert firewall.converge(host, which_of(host), "auto", 51820) == [] and host.calls == []
    host.firewalld = {"running": True, "runtime": set(), "permanent": {"51820/udp"}}
    assert firewall.converge(host, which_of(host), "auto", 51820) == ["firewall-cmd --add-port=51820/udp"]
    assert firewall.converge(host, which_of(host), "firewalld", 51820) == []
    assert firewall.converge(host, which_of(host), "none", 51821) == []
    host.firewalld, host.ufw = None, {"active": True, "rules": {"22/tcp"}}
    assert firewall.converge(host, which_of(host), "auto", 51820) == ["ufw allow 51820/udp"]
    assert firewall.converge(host, which_of(host), "ufw", 51820) == []
    host.ufw["active"] = False
    assert firewall.converge(host, which_of(host), "auto", 51999) == []


# -- the whole pass ------------------------------------------------------------------------------------------------

@pytest.fixture
def env(tmp_path, monkeypatch):
    (tmp_path / "wg0.key").write_text(PRIV + "\n")
    os.chmod(str(tmp_path / "wg0.key"), 0o600)
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "net.ipv4.ip_forward").write_text("0\n")
    monkeypatch.setattr(sysctl, "_proc", lambda name: str(proc / name))
    unit = str(tmp_path / "units" / "wg-quick@wg0.json")
    config = {"mesh_ip": "10.4.0.2", "interface": {"address": ["10.4.0.2/32"], "listen_port": 51820},
              "peers": [{"name": "aws1", "public_key": A, "endpoint": "203.0.113.21:51820",
                         "allowed_ips": ["10.4.0.1/32"], "persistent_keepalive": 25}],
              "routes": [{"to": "10.4.0.3/32", "via": "10.110.0.12"}]}
    params = {"name": "wg0", "config": config, "private_key_path": str(tmp_path / "wg0.key"),
              "config_path": str(tmp_path / "wg0.conf"), "preshared_keys": None, "mtu": None, "up_command": None,
              "setsid": "setsid", "files": [{"path": unit, "content": "{}\n", "mode": "0644"}],
              "sysctls": {"net.ipv4.ip_forward": 1}, "sysctl_file": str(tmp_path / "60-wiremesh.conf"),
              "manage_routes": True, "route_protocol": 199, "service_manager": "lab",
              "units": [{"name": "wg-quick@wg0", "files": [unit]}], "firewall": "auto"}
    return Host(), params, proc


def _converge(host, params, check_mode=False):
    return node.converge(host, which_of(host), params, check_mode=check_mode)


def test_first_pass_converges_second_pass_changes_nothing(env):
    host, params, proc = env
    result = _converge(host, params, check_mode=True)
    assert result["changed"] and host.mutating() == [] and not os.path.exists(params["config_path"])
    assert (proc / "net.ipv4.ip_forward").read_text() == "0\n"

    result = _converge(host, params)
    assert result["changed"]
    actions = result["actions"]
    assert actions[0].startswith("write ") and "set net.ipv4.ip_forward = 1" in actions
    assert "add route 10.4.0.3/32 via 10.110.0.12" in actions and actions[-1] == "wiremesh-lab-ctl reload"
    assert actions.index("wiremesh-lab-ctl reload") > [a.startswith("bring up") for a in actions].index(True)
    assert host.mesh_routes == {("10.4.0.3/32", "10.110.0.12")}
    assert PRIV not in repr(result)

    host.calls.clear()
    again = _converge(host, params)
    assert not again["changed"] and again["actions"] == [] and again["diff"] == []
    assert host.mutating() == [], host.mutating()


def test_a_stale_route_goes_and_the_diff_redacts_the_key(env):
    host, params, dummy = env
    _converge(host, params)
    params["config"]["routes"] = []
    params["config"]["peers"][0]["allowed_ips"] = ["10.4.0.1/32", "10.4.9.0/24"]
    result = _converge(host, params)
    assert "delete route 10.4.0.3/32 via 10.110.0.12" in result["actions"] and host.mesh_routes == set()
    wg_diff = [d for d in result["diff"] if d["after_header"] == params["config_path"]][0]
    assert "10.4.9.0/24" in wg_diff["after"] and PRIV not in wg_diff["after"] and PRIV not in wg_diff["before"]


def test_a_failover_agent_switching_during_the_sync_is_looked_at_again(tmp_path):
    """The agent's `wg set` lands right after our `wg syncconf` once: the check after it sees the failover peers'
    ranges short, looks again after a pause and applies again, instead of failing the run."""
    B, C = key("b"), key("c")
    (tmp_path / "wg0.key").write_text(PRIV + "\n")
    os.chmod(str(tmp_path / "wg0.key"), 0o600)
    host = Host()
    host.add_link("wg0", private_key=PRIV, addrs=["10.4.0.2/32"])
    host.add_peer("wg0", A, ["10.4.0.1/32"], endpoint="203.0.113.1:51820")
    host.add_peer("wg0", B, [], endpoint="203.0.113.3:51820")
    host.add_peer("wg0", C, ["10.4.0.5/32"], endpoint="203.0.113.5:51820")
    config = {"interface": {"address": ["10.4.0.2/32"], "listen_port": 51820},
              "peers": [{"name": "a", "public_key": A, "endpoint": "203.0.113.1:51820",
                         "allowed_ips": ["10.4.0.1/32", "10.9.0.0/24"]},
                        {"name": "b", "public_key": B, "endpoint": "203.0.113.3:51820", "allowed_ips": []},
                        {"name": "c", "public_key": C, "endpoint": "203.0.113.5:51820", "allowed_ips": ["10.4.0.5/32"]}],
              "failover": {"self": "n", "peers": {"a": {"public_key": A}, "b": {"public_key": B}}}}
    params = {"name": "wg0", "config": config, "private_key_path": str(tmp_path / "wg0.key"),
              "config_path": str(tmp_path / "wg0.conf"), "preshared_keys": None, "mtu": None, "up_command": None,
              "setsid": "setsid"}
    syncs, pauses = [], []

    def racing(args, data=None, **kwargs):
        answer = Host.__call__(host, args, data, **kwargs)
        if args[:2] == ["wg", "syncconf"]:
            syncs.append(1)
            if len(syncs) == 1:       # the agent's wg set, a moment late, takes a range out of the failover peers
                host.peer("wg0", C).allowed.append("10.9.0.0/24")
                host.peer("wg0", A).allowed.remove("10.9.0.0/24")
        return answer
    result = interface.present(racing, params, sleep=pauses.append)
    assert len(syncs) == 2 and pauses == [interface.AGENT_PAUSE_S]
    assert "10.9.0.0/24" in host.peer("wg0", A).allowed and result["changed"]
