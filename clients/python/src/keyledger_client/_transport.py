"""HTTP to keyledger over kept-alive connections, with retries.

A small pool of ``http.client`` connections: each request borrows one, and
gives it back when the server kept it open, so successive calls skip the TCP
handshake. Connection errors and 5xx answers are retried with exponential
backoff and jitter, all inside one time budget; nothing else is retried.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from keyledger_client._decision import Unavailable

# Failures of a connection the server may have closed while it sat idle in
# the pool; one fresh attempt follows at once, outside the retry count.
_STALE = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 1.0


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class Transport:
    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        retries: int,
        user_agent: str,
        max_idle: int = 16,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http(s)://host[:port], not {url!r}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must not be negative")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._user_agent = user_agent
        self._idle: list[http.client.HTTPConnection] = []
        self._max_idle = max_idle
        self._lock = threading.Lock()
        self._closed = False
        self.connections_opened = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
    ) -> Reply:
        """One answer below 500, or :class:`Unavailable` once the retries or
        the time budget (``timeout`` seconds in all) are spent."""
        deadline = time.monotonic() + self.timeout
        problem = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                pause = min(_MAX_BACKOFF, _FIRST_BACKOFF * 2 ** (attempt - 1))
                pause *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not secrecy
                if time.monotonic() + pause >= deadline:
                    break
                time.sleep(pause)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                status, answer = self._once(method, path, headers, body, remaining)
            except (OSError, http.client.HTTPException) as error:
                problem = _describe(error)
                continue
            if status < 500:
                return Reply(status, answer)
            problem = f"HTTP {status}"
        raise Unavailable(
            f"keyledger at {self._host}:{self._port} did not answer "
            f"({problem}; {self.retries} retries, {self.timeout:g}s budget)"
        )

    def _once(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, Any]:
        connection, reused = self._borrow(timeout)
        try:
            try:
                return self._exchange(connection, method, path, headers, body)
            except _STALE:
                if not reused:
                    raise
                connection.close()
                connection, reused = self._fresh(timeout), False
                return self._exchange(connection, method, path, headers, body)
        except BaseException:
            connection.close()
            raise

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> tuple[int, Any]:
        sent = {"User-Agent": self._user_agent, "Accept": "application/json"}
        sent.update(headers)
        connection.request(method, self._prefix + path, body=body, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        return response.status, answer

    def _borrow(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._closed:
                raise Unavailable("the client is closed")
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            return self._fresh(timeout), False
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection, True

    def _fresh(self, timeout: float) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = cls(self._host, self._port, timeout=timeout)
        connection.connect()
        # Small request, small answer: send at once rather than wait for an ACK.
        if connection.sock is not None:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.connections_opened += 1
        return connection

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return type(error).__name__
