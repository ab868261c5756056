"""Makes a flood of refused /v1/auth calls visible, without ever refusing
anyone because of it.

Each ``invalid_credentials`` answer is counted per (DevKey, client_ip).
The first one in a quiet minute writes a warning at once; further ones in
the same minute are only counted, and the next warning (at most one a
minute per pair) carries the count since the last. The DevKey is public;
the secret is never seen here. Subscribers (e.g. a metrics exporter) get
every failure as it happens.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("keyledger.auth")

WINDOW_SECONDS = 60.0
MAX_TRACKED = 10_000  # pairs remembered; bounded against random DevKeys
# Warnings per minute across all pairs: random DevKeys must not flood the
# log. Past the budget, refusals are only counted, and the next minute's
# first warning says how many lines were held back.
MAX_WARNINGS_PER_WINDOW = 100
_DEV_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")

FailureListener = Callable[[str, str], None]


@dataclass
class _Tally:
    logged_at: float
    unreported: int = 0


def printable_dev_key(dev_key: str) -> str:
    """A DevKey as it may appear in a log line: caller-supplied text that is
    not DevKey-shaped (newlines, escapes, megabytes) is not written."""
    if not dev_key:
        return "<none>"
    return dev_key if _DEV_KEY_SHAPE.fullmatch(dev_key) else "<not a DevKey>"


class FailedAuthMonitor:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._lock = threading.Lock()
        self._listeners: list[FailureListener] = []
        self.failures = 0
        self._budget_window = -WINDOW_SECONDS
        self._budget_used = 0
        self._held_back = 0

    def subscribe(self, listener: FailureListener) -> None:
        """``listener(dev_key, client_ip)`` on every refused call; the DevKey
        as :func:`printable_dev_key` renders it."""
        self._listeners.append(listener)

    def record(self, dev_key: str, client_ip: str, peer: str | None) -> None:
        shown = printable_dev_key(dev_key)
        now = self._clock()
        with self._lock:
            self.failures += 1
            pair = (shown, client_ip)
            tally = self._tallies.get(pair)
            if tally is not None and now - tally.logged_at < WINDOW_SECONDS:
                tally.unreported += 1
                report = 0
            else:
                report = 1 + (tally.unreported if tally else 0)
                if tally is None:
                    self._make_room(now)
                self._tallies[pair] = _Tally(logged_at=now)
            held_back = self._spend_budget(now) if report else 0
            if held_back < 0:
                # Over the budget: keep the count, and let this pair's next
                # refusal try again.
                self._tallies[pair] = _Tally(now - WINDOW_SECONDS, report)
                report = 0
        if held_back > 0:
            logger.warning(
                "refused credentials: %d warning lines held back in the previous "
                "minute (more than %d pairs of DevKey and client_ip)",
                held_back,
                MAX_WARNINGS_PER_WINDOW,
            )
        if report:
            logger.warning(
                "refused credentials: dev_key=%s client_ip=%s peer=%s count=%d "
                "(refusals since the previous warning for this pair; at most "
                "one warning a minute)",
                shown,
                client_ip,
                peer or "-",
                report,
            )
        for listener in self._listeners:
            listener(shown, client_ip)

    def _spend_budget(self, now: float) -> int:
        """-1 when the minute's warnings are spent; else how many lines the
        previous minute held back (0 mostly)."""
        if now - self._budget_window >= WINDOW_SECONDS:
            held_back, self._held_back = self._held_back, 0
            self._budget_window, self._budget_used = now, 0
        else:
            held_back = 0
        if self._budget_used >= MAX_WARNINGS_PER_WINDOW:
            self._held_back += 1
            return -1
        self._budget_used += 1
        return held_back

    def _make_room(self, now: float) -> None:
        if len(self._tallies) < MAX_TRACKED:
            return
        stale = [
            pair
            for pair, tally in self._tallies.items()
            if now - tally.logged_at >= WINDOW_SECONDS
        ]
        for pair in stale:
            del self._tallies[pair]
        if len(self._tallies) >= MAX_TRACKED:
            self._tallies.clear()
