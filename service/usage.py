"""Counting auth decisions per key off the hot path.

``/v1/auth`` only adds one to a counter in this process's memory: no I/O, no
event. A background thread moves the counts into the usage table at least
every flush interval, and once more when the worker stops (gunicorn's
``worker_exit``, ``atexit``; a SIGTERM reaches both through gunicorn's
graceful shutdown). The store adds each flush to what other workers and
instances wrote, so the table is the sum over all of them.

What a crash loses: a worker killed without a chance to run Python
(SIGKILL, out-of-memory, power loss) loses the counts it gathered since its
last flush, at most one interval's worth. A flush that fails (store down)
keeps its counts and retries at the next interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from service.periodic import PeriodicTask

ALLOWED = "allowed"
HOUR = 3600
DEFAULT_FLUSH_INTERVAL = 5.0
MAX_FLUSH_INTERVAL = 10.0

logger = logging.getLogger("keyledger.usage")

Slot = tuple[str, int, str]  # key id, start of its hour (epoch s), outcome


@dataclass
class UsageBatch:
    """Counts gathered since the last flush, and each key's latest allowed call."""

    counts: dict[Slot, int] = field(default_factory=dict)
    last_used: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def merge(self, other: UsageBatch) -> None:
        for slot, calls in other.counts.items():
            self.counts[slot] = self.counts.get(slot, 0) + calls
        for key_id, moment in other.last_used.items():
            if moment > self.last_used.get(key_id, 0.0):
                self.last_used[key_id] = moment


class UsageCounter:
    """This process's tallies. ``count`` is on the auth path: a dictionary
    update under a lock the flusher holds only to swap the batch out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch = UsageBatch()

    def count(self, key_id: str, outcome: str, now: float) -> None:
        second = int(now)
        slot = (key_id, second - second % HOUR, outcome)
        with self._lock:
            counts = self._batch.counts
            counts[slot] = counts.get(slot, 0) + 1
            if outcome == ALLOWED:
                self._batch.last_used[key_id] = now

    def drain(self) -> UsageBatch:
        with self._lock:
            batch, self._batch = self._batch, UsageBatch()
        return batch

    def give_back(self, batch: UsageBatch) -> None:
        """Puts counts that could not be written back, for the next flush."""
        with self._lock:
            self._batch.merge(batch)


class UsageFlusher:
    def __init__(
        self,
        counter: UsageCounter,
        write: Callable[[UsageBatch], None],
        interval: float = DEFAULT_FLUSH_INTERVAL,
    ) -> None:
        if not 0 < interval <= MAX_FLUSH_INTERVAL:
            msg = f"the usage flush interval must be in (0, {MAX_FLUSH_INTERVAL}] s"
            raise ValueError(msg)
        self._counter = counter
        self._write = write
        self._flush_lock = threading.Lock()
        self._periodic = PeriodicTask(self.flush, interval, "keyledger-usage-flush")

    def start(self) -> None:
        """Starts the thread; call it in the process that serves requests
        (after gunicorn forked), never in a parent."""
        self._periodic.start()

    def flush(self) -> bool:
        """Writes what was counted so far; False (counts kept) on failure."""
        with self._flush_lock:
            batch = self._counter.drain()
            if not batch:
                return True
            try:
                self._write(batch)
            except Exception as error:  # the store is down: retry next time
                self._counter.give_back(batch)
                logger.warning("usage flush failed, kept for retry: %r", error)
                return False
            return True

    def stop(self) -> None:
        """Stops the thread and writes the last counts."""
        self._periodic.stop()
