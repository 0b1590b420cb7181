# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather concurrent detection requests into batches: one worker thread per backend instance takes the first
waiting frame, then keeps taking frames until it holds `max_batch` of them or `max_wait` seconds have passed
since the first, and runs them in one detect_batch() call. So a GPU serving several cameras runs one forward
pass for frames that arrive together, and a lone camera waits at most max_wait for company.

The queue itself is unbounded here: the detector admits at most its capacity of requests (workers x max_batch
+ backlog) and answers 503 past that, so the queue can never hold more."""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Callable, List, NamedTuple, Optional, Sequence

STOP = object()


class Job(NamedTuple):
    image: object
    future: Future
    queued: float  # time.perf_counter() when it entered the queue


class Done(NamedTuple):
    detections: list
    batch: int  # frames in the forward pass this one was part of
    queue_ms: float
    detect_ms: float


def detect_batch(instance, images: Sequence) -> List[list]:
    """instance.detect_batch(images) where the backend has it, else one detect() per image."""
    if hasattr(instance, "detect_batch"):
        return instance.detect_batch(images)
    return [instance.detect(image) for image in images]


class Batcher:
    def __init__(self, instances: Sequence, max_batch: int, max_wait: float,
                 admitted: Optional[Callable[[], int]] = None):
        self.jobs: "queue.Queue" = queue.Queue()
        self.max_batch, self.max_wait = max_batch, max_wait
        self.admitted = admitted  # requests admitted and not answered yet: none left to wait for = no wait
        self.running = 0  # frames in forward passes right now
        self.lock = threading.Lock()
        self.batches = 0
        self.threads = [threading.Thread(target=self._work, args=(instance,), name="detect-%d" % number,
                                         daemon=True) for number, instance in enumerate(instances)]
        for thread in self.threads:
            thread.start()

    def submit(self, image) -> Future:
        future: Future = Future()
        self.jobs.put(Job(image, future, time.perf_counter()))
        return future

    def _gather(self, first: Job) -> List[Job]:
        batch = [first]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            if self.admitted is not None and self.jobs.empty() and self.admitted() <= len(batch) + self.running:
                break  # every admitted request is in a batch already: waiting could only add latency
            left = deadline - time.perf_counter()
            try:
                job = self.jobs.get(timeout=left) if left > 0 else self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is STOP:
                self.jobs.put(STOP)  # for the next worker, after this batch
                break
            batch.append(job)
        return batch

    def _work(self, instance) -> None:
        while True:
            first = self.jobs.get()
            if first is STOP:
                self.jobs.put(STOP)
                return
            batch = self._gather(first)
            started = time.perf_counter()
            with self.lock:
                self.running += len(batch)
            try:
                found = detect_batch(instance, [job.image for job in batch])
            except Exception as exc:  # pylint: disable=broad-except  # each waiting request gets the error
                for job in batch:
                    job.future.set_exception(exc)
                continue
            finally:
                with self.lock:
                    self.running -= len(batch)
            done = time.perf_counter()
            self.batches += 1
            for job, detections in zip(batch, found):
                job.future.set_result(Done(detections, len(batch), round((started - job.queued) * 1000, 2),
                                           round((done - started) * 1000, 2)))

    def close(self) -> None:
        self.jobs.put(STOP)
