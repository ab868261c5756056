"""Slow and idle clients, as a slowloris attack opens them: connections that
send nothing, connections kept alive after one answer and left idle, and
connections that dribble a request's headers or body a byte at a time.

A thread dribbles one byte per connection every ``pace`` seconds until the
block ends, and stops by itself after ``limit`` seconds in any case.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

AUTH_BODY = b'{"api": "send", "client_ip": "203.0.113.7"}'


@dataclass
class SlowClients:
    port: int
    silent: list[socket.socket] = field(default_factory=list)
    idle_kept_alive: list[socket.socket] = field(default_factory=list)
    dribbling: list[socket.socket] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.silent) + len(self.idle_kept_alive) + len(self.dribbling)

    def open_silent(self, count: int) -> None:
        """Connected, and never a byte sent."""
        self.silent += [self._connect() for _ in range(count)]

    def open_idle_kept_alive(self, count: int) -> None:
        """One request answered (the connection kept alive), then nothing."""
        for _ in range(count):
            sock = self._connect()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: keyledger\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)
                assert chunk, "the server closed instead of answering"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
            self.idle_kept_alive.append(sock)

    def open_dribbling_headers(self, count: int) -> None:
        """A request line and a first header, the rest a byte at a time."""
        for _ in range(count):
            sock = self._connect()
            sock.sendall(b"POST /v1/auth HTTP/1.1\r\nHost: keyledger\r\n")
            self.dribbling.append(sock)

    def open_dribbling_bodies(self, count: int) -> None:
        """Complete headers announcing a body that comes a byte at a time."""
        head = (
            b"POST /v1/auth HTTP/1.1\r\nHost: keyledger\r\n"
            b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
        )
        for _ in range(count):
            sock = self._connect()
            sock.sendall(head)
            self.dribbling.append(sock)

    def _connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def close(self) -> None:
        for sock in self.silent + self.idle_kept_alive + self.dribbling:
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def dribbling(
    clients: SlowClients, pace: float = 0.5, limit: float = 180.0
) -> Iterator[SlowClients]:
    """Keeps ``clients.dribbling`` sending a byte each every ``pace`` s (a
    header line's worth of "X" for header dribblers: never a complete
    request) while the block runs, then closes every slow connection."""
    done = threading.Event()

    def dribble() -> None:
        waited = 0.0
        while not done.wait(pace) and waited < limit:
            waited += pace
            for sock in clients.dribbling:
                with contextlib.suppress(OSError):  # the server gave up on it
                    sock.send(b"X")

    thread = threading.Thread(target=dribble, name="slowloris", daemon=True)
    thread.start()
    try:
        yield clients
    finally:
        done.set()
        thread.join(timeout=10)
        clients.close()
