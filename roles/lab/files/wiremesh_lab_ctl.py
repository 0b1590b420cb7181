"""wiremesh-lab-ctl: control a lab host's supervisor (wiremesh-lab-init), systemctl-style.

usage: wiremesh-lab-ctl start|stop|restart|status|reload [UNIT] [--wait SECONDS]
UNIT `sshd` is the host's sshd (stop also ends its sessions; it stays stopped until start or the next boot).

  reload   re-read /etc/wiremesh-lab/units (start new units, stop removed ones)
  start    (re-)read UNIT's file and start it unless it is up; restart: stop, then start
  stop     stop UNIT (it stays stopped until start/restart or the host boots again)
  status   print JSON; with UNIT exit 0 only when it is running/active, 3 otherwise, 4 if unknown
  --wait S wait up to S seconds until UNIT (reload: every wanted unit) is running/active
           (stop: stopped); exit 1 with its last log lines when it fails or time runs out
"""
import argparse
import json
import os
import socket
import sys
import time

BASE = os.environ.get("WIREMESH_LAB_BASE", "")
SOCK = BASE + "/run/wiremesh-lab/control.sock"
STABLE = 1.0  # a simple unit counts as up once it has been running this long


def request(payload, sock=SOCK, timeout=30):
    """One request to a supervisor's control socket (this host's, or ``sock``); its JSON answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(sock)
        conn.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def verdict(info, goal, now):
    """'ok', 'fail' or 'wait' for one unit's status info while waiting for goal ('up'/'stopped')."""
    if info is None:
        return "fail"
    state = info["state"]
    if goal == "stopped":
        return "ok" if state == "stopped" else "wait"
    if state == "active" or (state == "running" and now - info["since"] >= STABLE):
        return "ok"
    if state in ("failed", "stopped"):
        return "fail"
    return "wait"


def exit_code(info):
    """systemctl-like exit code of `status UNIT`."""
    if info is None:
        return 4
    return 0 if info["state"] in ("running", "active") else 3


def tail(path, lines=20):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError as exc:
        return f"({exc})\n"


def wait(names, goal, seconds):
    deadline = time.time() + seconds
    while True:
        reply = request({"cmd": "status"})
        if names is None:  # reload: the units (sshd is no unit file)
            names = [n for n, info in reply["units"].items() if info["wanted"]]
        units = dict(reply["units"], sshd=reply["sshd"])
        verdicts = {n: verdict(units.get(n), goal, time.time()) for n in names}
        bad = [n for n, v in verdicts.items() if v == "fail"]
        if not bad and all(v == "ok" for v in verdicts.values()):
            return 0
        if bad or time.time() >= deadline:
            for name in bad or [n for n, v in verdicts.items() if v != "ok"]:
                info = units.get(name)
                reason = "failed" if name in bad else f"not {goal} after {seconds:g} s"
                sys.stderr.write(f"unit {name} {reason}: {json.dumps(info)}\n")
                if info:
                    sys.stderr.write(tail(info["log"]))
            return 1
        time.sleep(0.2)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="wiremesh-lab-ctl", description=__doc__.splitlines()[0])
    parser.add_argument("cmd", choices=["start", "stop", "restart", "status", "reload"])
    parser.add_argument("unit", nargs="?")
    parser.add_argument("--wait", type=float, metavar="SECONDS")
    args = parser.parse_args(argv)
    if args.cmd in ("start", "stop", "restart") and not args.unit:
        parser.error(f"{args.cmd} needs a UNIT")
    try:
        if args.cmd == "status":
            reply = request({"cmd": "status", "unit": args.unit})
            print(json.dumps(reply.get("unit") if args.unit else reply, indent=2, sort_keys=True))
            return exit_code(reply.get("unit")) if args.unit else 0
        reply = request({"cmd": args.cmd, "unit": args.unit})
        if not reply.get("ok"):
            sys.stderr.write(f"wiremesh-lab-ctl: {reply.get('error')}\n")
            return 1
        errors = reply.get("errors") or {}
        for name, error in errors.items():
            sys.stderr.write(f"wiremesh-lab-ctl: unit {name} ignored: {error}\n")
        rc = 1 if errors else 0
        if args.wait is not None:
            goal = "stopped" if args.cmd == "stop" else "up"
            rc = wait([args.unit] if args.unit else None, goal, args.wait) or rc
        return rc
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"wiremesh-lab-ctl: supervisor not reachable on {SOCK}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
