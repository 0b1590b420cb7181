# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one of the three servers as a child process on 127.0.0.1 (for tests and benchmarks): start it, learn
the port it bound from its log, signal it by PID. Every wait is bounded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import List, Optional

LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(name: str) -> List[str]:
    """The installed console script wiremesh-NAME beside this Python, else `python -m wiremesh_vision.NAME`."""
    script = os.path.join(os.path.dirname(sys.executable), "wiremesh-" + name)
    return [script] if os.path.exists(script) else [sys.executable, "-m", "wiremesh_vision." + name]


def environment() -> dict:
    """os.environ with this package importable (for the `python -m` fallback)."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])))


class Server:
    """One wiremesh-NAME process on 127.0.0.1; its stderr is appended to log_path. start() again after a stop
    reuses the port it had."""

    def __init__(self, name: str, args, log_path: str):
        self.name, self.args, self.log_path = name, list(args), log_path
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 30.0) -> "Server":
        with open(self.log_path, "a", encoding="utf-8") as log:
            offset = log.tell()
            self.proc = subprocess.Popen(command(self.name) + ["--bind", "127.0.0.1", "--port", str(self.port)]
                                         + self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log, env=environment(), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, encoding="utf-8") as log:
                log.seek(offset)
                match = LISTENING.search(log.read())
            if match:
                self.port = int(match.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("%s did not start within %.0f s:\n%s" % (self.name, timeout, self.log()))

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def signal(self, signum: int, timeout: float = 10.0) -> Optional[int]:
        """Send signum to the process (by its PID) and wait for it to exit; its exit code. A process that
        ignores it for timeout seconds is killed and RuntimeError raised."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.kill(self.proc.pid, signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            raise RuntimeError("%s ignored signal %d for %.0f s:\n%s" % (self.name, signum, timeout, self.log()))

    def stop(self) -> Optional[int]:
        return self.signal(signal.SIGTERM)

    def kill(self) -> Optional[int]:
        return self.signal(signal.SIGKILL)

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8") as log:
            return log.read()[-4000:]
