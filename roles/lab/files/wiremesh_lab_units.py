"""Units of the wiremesh lab supervisor (wiremesh-lab-init): definitions and their state machine.

A unit is /etc/wiremesh-lab/units/<name>.json; a file present = enabled:
    {"type": "simple", "exec": [argv], "env": {}}          restarted on exit (backoff 1 s .. 5 s)
    {"type": "oneshot", "start": [argv], "stop": [argv], "check": [argv], "interval": 5,
     "timeout": 60, "env": {}}                              check fails -> stop (ignored) + start
Each unit's commands run in a session of their own with stdout/stderr appended to
/var/log/wiremesh-lab/<unit>.log. The supervisor reaps every child and hands a unit's exit codes to
Unit.exited(); Unit.tick() runs the timers (restart backoff, checks, command timeouts).
"""
import os
import re
import signal
import time

BASE = os.environ.get("WIREMESH_LAB_BASE", "")  # tests only: prefixes every path
UNIT_DIR, LOG_DIR = BASE + "/etc/wiremesh-lab/units", BASE + "/var/log/wiremesh-lab"
NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")
BACKOFF_MIN, BACKOFF_MAX, STOP_GRACE = 1.0, 5.0, 5.0


def parse_unit(name, data):
    """Validate a unit definition; return it with defaults filled in (raises ValueError)."""
    if not NAME_RE.match(name) or name in ("init", "sshd"):
        raise ValueError(f"bad unit name {name!r}")
    if not isinstance(data, dict):
        raise ValueError("a unit must be a JSON object")

    def argv(key, required=False):
        value = data.get(key)
        if value is None and not required:
            return None
        if not (isinstance(value, list) and value and all(isinstance(a, str) for a in value)):
            raise ValueError(f"{key!r} must be a non-empty list of strings")
        return value

    env = data.get("env", {})
    if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
        raise ValueError("'env' must map strings to strings")
    if data.get("type") == "simple":
        return {"type": "simple", "exec": argv("exec", True), "env": env}
    if data.get("type") != "oneshot":
        raise ValueError("'type' must be 'simple' or 'oneshot'")
    unit = {"type": "oneshot", "start": argv("start", True), "stop": argv("stop"), "check": argv("check"), "env": env}
    for key, default in (("interval", 5), ("timeout", 60)):
        unit[key] = data.get(key, default)
        if isinstance(unit[key], bool) or not isinstance(unit[key], (int, float)) or unit[key] <= 0:
            raise ValueError(f"{key!r} must be a positive number")
    return unit


def next_backoff(current):
    """Delay doubling from BACKOFF_MIN up to BACKOFF_MAX."""
    return min(max(current * 2, BACKOFF_MIN), BACKOFF_MAX)


def log(name, message):
    try:
        with open(f"{LOG_DIR}/{name}.log", "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [wiremesh-lab-init] {message}\n")
    except OSError:
        pass


def spawn(argv, env, logname):
    """Start argv in a session of its own, stdout+stderr appended to LOG_DIR/<logname>.log."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, f"{LOG_DIR}/{logname}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    return os.posix_spawnp(argv[0], argv, dict(os.environ, **env), file_actions=actions, setsid=True,
                           setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))


def kill(pid, sig, group=True):
    """Signal pid's process group (falling back to pid itself); ignore processes already gone."""
    for target in ((-pid, pid) if group else (pid,)):
        try:
            return os.kill(target, sig)
        except OSError:
            pass


class Unit:
    """One unit's state: stopped | running (simple) | starting, active (oneshot) | stopping | failed."""

    def __init__(self, name, spec):
        self.name, self.spec, self.next_spec = name, spec, None  # next_spec: applied at the next start
        self.state, self.since, self.started = "stopped", time.time(), 0.0
        self.pid = self.action = self.deadline = self.next_at = self.then = self.last_exit = None
        self.want, self.removed, self.restarts, self.backoff = False, False, 0, BACKOFF_MIN

    def set_state(self, state):
        if state != self.state:
            self.state, self.since = state, time.time()
            log(self.name, f"state {state}")

    def info(self):
        return {"type": self.spec["type"], "state": self.state, "wanted": self.want, "pid": self.pid,
                "action": self.action, "last_exit": self.last_exit, "restarts": self.restarts,
                "since": round(self.since, 3), "log": f"{LOG_DIR}/{self.name}.log"}

    def run(self, argv, action=None):
        """Spawn the simple unit's process (action None) or a oneshot command (start/stop/check)."""
        self.action = action
        self.deadline = time.monotonic() + self.spec["timeout"] if action else None
        if action != "check":
            log(self.name, f"{action or 'exec'}: {' '.join(argv)}")
        try:
            self.pid = spawn(argv, self.spec["env"], self.name)
        except OSError as exc:
            log(self.name, f"cannot run {argv[0]}: {exc}")
            self.pid = None
            self.exited(127)

    def oneshot(self, action):
        if self.spec.get(action):
            self.run(self.spec[action], action)
        else:  # no stop/check command: done at once
            self.action = action
            self.exited(0)

    def start(self):
        self.want, self.then = True, None
        if self.state == "stopping":
            self.then = "start"
        elif self.state == "failed" and self.spec["type"] == "oneshot":
            self.stop(then="start")
        elif self.state in ("stopped", "failed"):
            self.begin()

    def begin(self):
        self.then = None
        if self.next_spec:
            self.spec, self.next_spec = self.next_spec, None
        if self.spec["type"] == "simple":
            self.set_state("running")
            self.started = time.monotonic()
            self.run(self.spec["exec"])
        else:
            self.set_state("starting")
            self.oneshot("start")

    def stop(self, then=None):
        """Stop; then="start" makes it a restart."""
        self.want, self.then, self.next_at = then == "start", then, None
        if self.state == "stopping":
            return
        if self.pid and self.spec["type"] == "simple":
            self.set_state("stopping")
            kill(self.pid, signal.SIGTERM)
            self.deadline = time.monotonic() + STOP_GRACE
        elif self.pid:  # a oneshot command is in flight: it finishes (or times out) first, then stop runs
            self.set_state("stopping")
        elif self.state != "stopped" and self.spec["type"] == "oneshot":
            self.set_state("stopping")
            self.oneshot("stop")
        else:
            self.set_state("stopped")
            if then == "start":
                self.begin()

    def exited(self, code):
        """The simple unit's process, or the oneshot command in flight, exited with code."""
        now, action, pid = time.monotonic(), self.action, self.pid
        self.pid = self.action = self.deadline = None
        if action != "check" or code:
            log(self.name, f"{action or 'process'} exited with {code}")
        if self.spec["type"] == "simple":
            self.last_exit = code
            if pid:  # what it left behind in its process group goes too
                kill(-pid, signal.SIGTERM, group=False)
            if self.state == "stopping" or not self.want:
                self.set_state("stopped")
                if self.then == "start":
                    self.begin()
                return
            self.backoff = BACKOFF_MIN if now - self.started > 10 else self.backoff
            self.set_state("failed")
            self.next_at, self.backoff = now + self.backoff, next_backoff(self.backoff)
        elif self.state == "stopping" and action != "stop":
            self.oneshot("stop")
        elif action == "stop":
            self.set_state("stopped")
            if self.then == "start":
                self.begin()
        elif action == "start" and code == 0:
            self.last_exit = code
            self.set_state("active")
            self.next_at, self.backoff = now + self.spec["interval"], BACKOFF_MIN
        elif action == "start":
            self.last_exit = code
            self.set_state("failed")
            self.next_at, self.backoff = now + self.backoff, next_backoff(self.backoff)
        elif code == 0:  # check passed
            self.next_at = now + self.spec["interval"]
        else:
            log(self.name, "check failed: restarting")
            self.restarts += 1
            self.stop(then="start")

    def tick(self, now):
        if self.pid and self.deadline and now > self.deadline:
            log(self.name, f"{self.action or 'stop'} timed out: killing")
            kill(self.pid, signal.SIGKILL)
            self.deadline = None
        if self.pid or not self.want or self.next_at is None or now < self.next_at:
            return
        self.next_at = None
        if self.state == "failed":
            self.restarts += 1
            self.start()
        elif self.state == "active" and self.spec["check"]:
            self.oneshot("check")
