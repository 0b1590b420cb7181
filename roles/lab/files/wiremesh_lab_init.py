"""wiremesh-lab-init: the init process of one wiremesh lab host (python3 stdlib only).

- child subreaper: every orphan (wireguard-go daemonizes) is re-parented here and reaped;
- runs sshd in the foreground and restarts it when it dies (`wiremesh-lab-ctl stop sshd` stops it, its
  sessions too, until `start sshd` or the next boot: a host that is up but unreachable over SSH);
- supervises the units of /etc/wiremesh-lab/units/<name>.json (see wiremesh_lab_units.py, which
  must sit next to this file);
- answers JSON lines on /run/wiremesh-lab/control.sock (see wiremesh-lab-ctl);
- SIGTERM: stop all units (oneshot: run stop), stop sshd, kill remaining children, exit.
For tests, WIREMESH_LAB_BASE prefixes every path, WIREMESH_LAB_SSHD=0 disables sshd and WIREMESH_LAB_SSHD_ARGV
(a JSON list) replaces its command line.
"""
import ctypes
import json
import os
import select
import signal
import socket
import time

from wiremesh_lab_units import BACKOFF_MIN, BASE, LOG_DIR, UNIT_DIR, Unit, kill, log, parse_unit, spawn

SOCK = BASE + "/run/wiremesh-lab/control.sock"
SSHD = json.loads(os.environ.get("WIREMESH_LAB_SSHD_ARGV") or "null") or \
    ["/usr/sbin/sshd", "-D", "-e", "-o", "PidFile=/run/sshd.pid"]
SSHD_ENABLED = os.environ.get("WIREMESH_LAB_SSHD", "1") != "0"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def proc_table():
    """{pid: (ppid, state)} of every process of the machine."""
    table = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                state, ppid = handle.read().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        table[int(entry)] = (int(ppid), state)
    return table


def descendants(table, pid):
    """Every live descendant of pid in a proc_table(), children first."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop(0)
        kids = [p for p, (ppid, state) in table.items() if ppid == parent and state != "Z" and p not in found]
        found += kids
        todo += kids
    return found


class Init:
    def __init__(self):
        self.units, self.stopping = {}, False
        self.sshd_pid, self.sshd_next, self.sshd_restarts = None, 0.0, 0
        self.sshd_wanted, self.sshd_since, self.sshd_exit = SSHD_ENABLED, time.time(), None

    def read_unit(self, name):
        with open(f"{UNIT_DIR}/{name}.json", encoding="utf-8") as handle:
            return parse_unit(name, json.load(handle))

    def reload(self):
        """Start units whose file is new, stop those whose file is gone; changed files apply at the next start."""
        errors, names = {}, set()
        for name in sorted(e[:-5] for e in (os.listdir(UNIT_DIR) if os.path.isdir(UNIT_DIR) else [])
                           if e.endswith(".json")):
            try:
                spec = self.read_unit(name)
            except (OSError, ValueError) as exc:
                errors[name] = str(exc)
                log(name, f"invalid unit file: {exc}")
                continue
            names.add(name)
            if name in self.units and not self.units[name].removed:
                self.units[name].next_spec = spec
            else:
                self.units[name] = Unit(name, spec)
                self.units[name].start()
        for name, unit in self.units.items():
            if name not in names and name not in errors and not unit.removed:
                unit.removed = True
                unit.stop()
        return {"ok": True, "errors": errors}

    def sshd_info(self):
        """sshd's status, shaped like a simple unit's."""
        state = "running" if self.sshd_pid else ("failed" if self.sshd_wanted else "stopped")
        return {"type": "simple", "state": state, "wanted": self.sshd_wanted, "pid": self.sshd_pid, "action": None,
                "last_exit": self.sshd_exit, "restarts": self.sshd_restarts, "since": round(self.sshd_since, 3),
                "log": f"{LOG_DIR}/sshd.log"}

    def sshd_command(self, cmd):
        """start/stop/restart/status of sshd; stop ends its sessions too (nobody gets in any more)."""
        if cmd != "status" and not SSHD_ENABLED:
            return {"ok": False, "error": "sshd is disabled here (WIREMESH_LAB_SSHD=0)"}
        if cmd in ("stop", "restart") and self.sshd_pid:
            table = proc_table()
            for pid in [self.sshd_pid] + descendants(table, self.sshd_pid):
                kill(pid, signal.SIGTERM, group=False)
            log("sshd", f"{cmd}: sshd {self.sshd_pid} and its sessions terminated")
        if cmd == "stop":
            self.sshd_wanted, self.sshd_since = False, time.time()
        elif cmd in ("start", "restart"):
            self.sshd_wanted = True
            if self.sshd_pid is None:
                self.sshd_next = 0.0
        return {"ok": True, "unit": self.sshd_info()}

    def command(self, request):
        cmd, name = request.get("cmd"), request.get("unit")
        units = {n: u for n, u in self.units.items() if not u.removed}
        if cmd == "reload":
            return self.reload()
        if cmd == "status" and not name:
            return {"ok": True, "units": {n: u.info() for n, u in units.items()}, "sshd": self.sshd_info()}
        if name == "sshd" and cmd in ("status", "start", "stop", "restart"):
            return self.sshd_command(cmd)
        if cmd not in ("status", "start", "stop", "restart") or not isinstance(name, str):
            return {"ok": False, "error": f"unknown request {request!r}"}
        if cmd in ("status", "stop") and name not in units:
            return {"ok": False, "unit": None, "error": f"no such unit {name}"}
        if cmd == "stop":
            units[name].stop()
        elif cmd in ("start", "restart"):
            try:
                spec = self.read_unit(name)
            except (OSError, ValueError) as exc:
                return {"ok": False, "error": f"cannot load unit {name}: {exc}"}
            if name not in units:
                self.units[name] = units[name] = Unit(name, spec)
            units[name].next_spec, units[name].backoff = spec, BACKOFF_MIN
            units[name].stop(then="start") if cmd == "restart" else units[name].start()
        return {"ok": True, "unit": units[name].info()}

    def serve(self, conn):
        data = b""
        try:
            conn.settimeout(2)
            while b"\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            try:
                reply = self.command(json.loads(data))
            except (ValueError, AttributeError, TypeError) as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            conn.sendall(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.close()

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            if pid == self.sshd_pid:
                log("sshd", f"sshd exited with {code}")
                self.sshd_pid, self.sshd_next = None, time.monotonic() + 1
                self.sshd_exit, self.sshd_since = code, time.time()
            for unit in self.units.values():
                if unit.pid == pid:
                    unit.exited(code)
                    break

    def tick(self):
        now = time.monotonic()
        if self.sshd_wanted and not self.stopping and self.sshd_pid is None and now >= self.sshd_next:
            self.sshd_restarts += 1 if self.sshd_next else 0
            try:
                os.makedirs(BASE + "/run/sshd", mode=0o755, exist_ok=True)
                self.sshd_pid, self.sshd_since = spawn(SSHD, {}, "sshd"), time.time()
            except OSError as exc:
                log("sshd", f"cannot start sshd: {exc}")
                self.sshd_next = now + 5
        for unit in list(self.units.values()):
            unit.tick(now)
            if unit.removed and unit.state == "stopped" and not unit.pid:
                del self.units[unit.name]

    @staticmethod
    def children():
        return [pid for pid, (ppid, state) in proc_table().items() if ppid == os.getpid() and state != "Z"]

    def shutdown(self):
        """Stop the units and sshd, then every remaining child (TERM, then KILL)."""
        self.stopping = True
        for unit in self.units.values():
            unit.stop()
        if self.sshd_pid:
            kill(self.sshd_pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(u.state != "stopped" for u in self.units.values()):
            time.sleep(0.1)
            self.reap()
            self.tick()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            end = time.monotonic() + 3
            while time.monotonic() < end and self.children():
                for pid in self.children():
                    kill(pid, sig)
                time.sleep(0.1)
                self.reap()

    def main(self):
        if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        os.environ["PATH"] = PATH
        for path in (UNIT_DIR, LOG_DIR, os.path.dirname(SOCK)):
            os.makedirs(path, mode=0o755, exist_ok=True)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)  # signals wake select() up
        flags = set()
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGHUP, lambda *_: flags.add("reload"))
        signal.signal(signal.SIGTERM, lambda *_: flags.add("term"))
        signal.signal(signal.SIGINT, lambda *_: flags.add("term"))
        if os.path.exists(SOCK):
            os.unlink(SOCK)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(SOCK)
        os.chmod(SOCK, 0o600)
        server.listen(16)
        log("init", f"started, pid {os.getpid()}")
        self.reload()
        while "term" not in flags:
            readable = select.select([server, wake_r], [], [], 0.5)[0]
            if wake_r in readable:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            if server in readable:
                self.serve(server.accept()[0])
            if "reload" in flags:
                flags.discard("reload")
                self.reload()
            self.reap()
            self.tick()
        log("init", "SIGTERM: shutting down")
        self.shutdown()
        server.close()
        os.unlink(SOCK)


if __name__ == "__main__":
    Init().main()
