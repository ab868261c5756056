"""Decisions reused for a short while, forgotten when the change feed names
their DevKey.

Entries are keyed by a keyed hash (HMAC-SHA256 under a random per-process
key) of ``dev_key:dev_secret``, the API and the client address, so neither a
secret nor an unsalted hash of one sits in memory as a dictionary key.
Reading is lock-free (one dict lookup); writes and invalidations take a lock
so that a decision fetched before an invalidation is never stored after it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from keyledger_client._decision import Decision


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    bypassed: int
    invalidated: int
    size: int
    feed_reads: int = 0
    feed_failures: int = 0

    @property
    def hit_rate(self) -> float:
        asked = self.hits + self.misses + self.bypassed
        return self.hits / asked if asked else 0.0


@dataclass(frozen=True, slots=True)
class _Entry:
    decision: Decision
    dev_key: str
    until: float  # time.monotonic() after which it is not reused
    until_wall: float | None  # time.time() from which the key has expired


class DecisionCache:
    def __init__(
        self,
        max_age: float,
        max_entries: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        self.max_age = max_age
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._wall = wall
        self._hash_key = secrets.token_bytes(32)
        self._entries: dict[bytes, _Entry] = {}
        self._by_dev_key: dict[str, set[bytes]] = {}
        self._lock = threading.Lock()
        # Invalidation clock: every invalidation takes the next tick; a
        # decision is stored only if its DevKey was not invalidated since the
        # tick its request started at.
        self._tick = 0
        self._invalidated_at: dict[str, int] = {}
        self._floor = 0
        # monotonic time of the last successful feed read; None: never read.
        self._feed_ok_at: float | None = None
        self.hits = self.misses = self.bypassed = self.invalidated = 0
        self.feed_reads = self.feed_failures = 0

    def key(self, dev_key: str, dev_secret: str, api: str, client_ip: str) -> bytes:
        message = f"{dev_key}:{dev_secret}\n{api}\n{client_ip}".encode()
        return hmac.digest(self._hash_key, message, "sha256")

    @property
    def usable(self) -> bool:
        """False until the feed was read, and once it went unread for max_age."""
        ok_at = self._feed_ok_at
        return ok_at is not None and self._monotonic() - ok_at <= self.max_age

    def get(self, key: bytes) -> Decision | None:
        # The hot path of a cached client: one clock read, one dict lookup.
        now = self._monotonic()
        ok_at = self._feed_ok_at
        if ok_at is None or now - ok_at > self.max_age:
            self.bypassed += 1
            return None
        entry = self._entries.get(key)
        if (
            entry is not None
            and now < entry.until
            and (entry.until_wall is None or self._wall() < entry.until_wall)
        ):
            self.hits += 1
            return entry.decision
        self.misses += 1
        return None

    def started(self) -> int:
        """The tick a request starts at; hand it back to :meth:`put`."""
        return self._tick

    def put(self, key: bytes, dev_key: str, decision: Decision, since: int) -> None:
        if not self.usable:
            return
        until_wall = None
        if decision.allowed and decision.expires_at is not None:
            # expires_at names the last valid second.
            until_wall = decision.expires_at.timestamp() + 1
        with self._lock:
            if max(self._invalidated_at.get(dev_key, 0), self._floor) > since:
                return
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
                self._by_dev_key.clear()
            self._entries[key] = _Entry(
                decision, dev_key, self._monotonic() + self.max_age, until_wall
            )
            self._by_dev_key.setdefault(dev_key, set()).add(key)

    def invalidate(self, dev_keys: Iterable[str]) -> None:
        with self._lock:
            self._tick += 1
            for dev_key in dev_keys:
                self._invalidated_at[dev_key] = self._tick
                for key in self._by_dev_key.pop(dev_key, ()):
                    if self._entries.pop(key, None) is not None:
                        self.invalidated += 1
            if len(self._invalidated_at) > self._max_entries:
                # Forget who was invalidated when, conservatively: every
                # request in flight now stores nothing.
                self._invalidated_at.clear()
                self._floor = self._tick

    def clear(self) -> None:
        with self._lock:
            self._tick += 1
            self._floor = self._tick
            self._invalidated_at.clear()
            self._entries.clear()
            self._by_dev_key.clear()

    def feed_read(self) -> None:
        self._feed_ok_at = self._monotonic()
        self.feed_reads += 1

    def feed_failed(self) -> None:
        self.feed_failures += 1

    def stats(self) -> CacheStats:
        return CacheStats(
            self.hits,
            self.misses,
            self.bypassed,
            self.invalidated,
            len(self._entries),
            self.feed_reads,
            self.feed_failures,
        )
