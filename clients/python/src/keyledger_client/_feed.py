"""The background reader of keyledger's change feed that keeps a
:class:`DecisionCache` honest."""

from __future__ import annotations

import logging
import threading
from typing import Any

from keyledger_client._cache import DecisionCache
from keyledger_client._decision import KeyledgerError
from keyledger_client._transport import Transport

PAGE_LIMIT = 500
logger = logging.getLogger("keyledger_client.feed")


class FeedFollower:
    """Polls ``GET /v1/changes`` every ``interval`` seconds on a daemon
    thread and drops the cached decisions of every DevKey it names."""

    def __init__(
        self,
        transport: Transport,
        cache: DecisionCache,
        token: str,
        interval: float,
    ) -> None:
        if interval <= 0:
            raise ValueError("refresh_interval must be positive")
        self._transport = transport
        self._cache = cache
        self._headers = {"Authorization": f"Bearer {token}"}
        self.interval = interval
        self.position: int | None = None
        self._stop = threading.Event()
        self._poll_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name="keyledger-change-feed", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._transport.timeout + self.interval + 1)

    def poll(self) -> bool:
        """Reads the feed up to its end now; True when that succeeded."""
        with self._poll_lock:
            try:
                self._read_to_end()
            except KeyledgerError as error:
                logger.warning("keyledger change feed unreadable: %s", error)
                self._cache.feed_failed()
                return False
            self._cache.feed_read()
            return True

    def _read_to_end(self) -> None:
        if self.position is None:
            # Nothing is cached yet, so only where the feed stands matters.
            self.position = self._page("/v1/changes")[1]
        while True:
            items, position = self._page(f"/v1/changes?after={self.position}")
            if items:
                self._cache.invalidate({str(item.get("dev_key")) for item in items})
            self.position = max(self.position, position)
            if len(items) < PAGE_LIMIT:
                return

    def _page(self, path: str) -> tuple[list[dict[str, Any]], int]:
        reply = self._transport.request("GET", path, headers=self._headers)
        body = reply.body
        if (
            reply.status != 200
            or not isinstance(body, dict)
            or not isinstance(body.get("items"), list)
            or not isinstance(body.get("position"), int)
        ):
            raise KeyledgerError(f"GET /v1/changes answered {reply.status}")
        return body["items"], body["position"]

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)
