# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small bounded counters: an event rate over a sliding window, and percentiles of recent samples."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Iterable, Optional


class Rate:
    """Events per second over the last `window` seconds (or since start, if that is shorter)."""

    def __init__(self, window: float = 5.0, limit: int = 10000):
        self.window = window
        self.started = time.monotonic()
        self.times: deque = deque(maxlen=limit)
        self.total = 0

    def add(self) -> None:
        self.times.append(time.monotonic())
        self.total += 1

    def per_second(self) -> float:
        now = time.monotonic()
        while self.times and self.times[0] < now - self.window:
            self.times.popleft()
        span = min(self.window, now - self.started)
        return round(len(self.times) / span, 2) if span > 0 else 0.0


def percentile(values: Iterable[float], pct: float) -> Optional[float]:
    """Nearest-rank percentile (pct in 0..100) of values, None if there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)]


class Samples:
    """The last `size` measurements, with p50/p95."""

    def __init__(self, size: int = 200):
        self.values: deque = deque(maxlen=size)

    def add(self, value: float) -> None:
        self.values.append(value)

    def summary(self) -> dict:
        p50, p95 = percentile(self.values, 50), percentile(self.values, 95)
        return {"p50": None if p50 is None else round(p50, 2), "p95": None if p95 is None else round(p95, 2),
                "samples": len(self.values)}
