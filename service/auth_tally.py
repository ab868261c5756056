"""Auth metrics counted in memory and moved into Prometheus's values in bulk.

``POST /v1/auth`` is called once per Send and Verify request, and recording
each answer straight into prometheus-client costs a counter and a histogram
update, each a lock and a write to its memory-mapped file under gunicorn:
about a fifth of the auth path's own CPU (bench/README.md, "Auth path").
So the endpoint only adds to a few in-memory numbers under one lock, and
the numbers are moved into the Prometheus metrics (``fold``):

- at least every ``FOLD_INTERVAL`` seconds, by a background thread started
  in the serving process (after gunicorn forked);
- just before this process renders ``GET /metrics``, so a scrape answered
  by this worker includes all of its own answers;
- when the worker stops (``worker_exit`` and ``atexit``, as usage counts:
  service/periodic.py).

A scrape answered by another worker therefore sees this worker's answers at
most ``FOLD_INTERVAL`` late; Prometheus scrapes every 15 s or so. A worker
killed without running Python (SIGKILL) loses at most that interval's
counts, as it would lose its usage counts.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left

from prometheus_client import Counter, Histogram

from service.periodic import PeriodicTask
from service.prometheus_internals import add_observations, bucket_bounds

FOLD_INTERVAL = 1.0


class AuthTally:
    """Decisions by (outcome, reason) and durations by histogram bucket."""

    def __init__(self, decisions: Counter, durations: Histogram) -> None:
        self._decisions = decisions
        self._durations = durations
        self._bounds = bucket_bounds(durations)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._buckets = [0] * len(self._bounds)
        self._seconds = 0.0
        self._fold_lock = threading.Lock()
        self._periodic = PeriodicTask(
            self.fold, FOLD_INTERVAL, "keyledger-auth-metrics"
        )

    def record(self, outcome: str, reason: str, seconds: float) -> None:
        """One answer: the hot path's only metrics work."""
        # bisect_left finds the first bound >= seconds: observe()'s bucket.
        bucket = bisect_left(self._bounds, seconds)
        key = (outcome, reason)
        with self._lock:
            counts = self._counts
            counts[key] = counts.get(key, 0) + 1
            self._buckets[bucket] += 1
            self._seconds += seconds

    def fold(self) -> None:
        """Moves what was recorded so far into the Prometheus metrics."""
        with self._fold_lock:
            with self._lock:
                counts, self._counts = self._counts, {}
                buckets, self._buckets = self._buckets, [0] * len(self._bounds)
                seconds, self._seconds = self._seconds, 0.0
            if not counts:
                return
            for (outcome, reason), count in counts.items():
                self._decisions.labels(outcome, reason).inc(count)
            add_observations(self._durations, buckets, seconds)

    def start(self) -> None:
        """Starts the folding thread; call it in the serving process."""
        self._periodic.start()

    def stop(self) -> None:
        """Stops the thread and folds what is left."""
        self._periodic.stop()


# Every tally of this process, started or not, for fold_all (GET /metrics).
_all: weakref.WeakSet[AuthTally] = weakref.WeakSet()


def new_tally(decisions: Counter, durations: Histogram) -> AuthTally:
    tally = AuthTally(decisions, durations)
    _all.add(tally)
    return tally


def fold_all() -> None:
    """Before this process renders ``GET /metrics``."""
    for tally in list(_all):
        tally.fold()
