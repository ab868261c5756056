"""Timeouts, retries with backoff (connection errors and 5xx only),
keep-alive connection reuse and thread safety."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from conftest import Keyledger, free_port

from keyledger_client import Client, Unavailable, UnexpectedResponse

CLIENT_IP = "203.0.113.7"
ALLOWED = {
    "allowed": True,
    "key_id": "k",
    "dev_key": "d",
    "permissions": ["send"],
    "expires_at": None,
}


class Scripted(http.server.BaseHTTPRequestHandler):
    """Answers POST /v1/auth from a script of (status, body) pairs, for what
    a healthy keyledger never does on request (5xx, a wrong URL)."""

    protocol_version = "HTTP/1.1"
    script: ClassVar[list[tuple[int, object]]] = []
    seen: ClassVar[list[float]] = []
    close_after: bool = False

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen.append(time.monotonic())
        status, body = self.script[min(len(self.seen), len(self.script)) - 1]
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        if self.close_after:
            # Drop the connection without saying so, like a server's idle reaper.
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[Scripted]]]:
    handler = type("Handler", (Scripted,), {"script": [], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_a_closed_port_raises_unavailable_within_the_budget() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", timeout=5.0, retries=3)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="connection refused"):
        client.authorize("K" * 24, "S" * 43, api="send", client_ip=CLIENT_IP)
    assert time.monotonic() - started <= client._transport.timeout  # the budget
    client.close()


def test_a_server_that_never_answers_raises_unavailable_at_the_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # connections complete in the kernel; nobody reads
        port = listener.getsockname()[1]
        client = Client(f"http://127.0.0.1:{port}", timeout=1.0, retries=5)
        started = time.monotonic()
        with pytest.raises(Unavailable, match="timed out"):
            client.authorize("K" * 24, "S" * 43, api="send", client_ip=CLIENT_IP)
        elapsed = time.monotonic() - started
        client.close()
    # The budget covers every attempt; a scheduling hiccup is not a failure.
    assert elapsed < 1.0 + 2.0


def test_5xx_is_retried_then_unavailable(scripted: tuple[str, type[Scripted]]) -> None:
    url, handler = scripted
    handler.script = [(503, {"message": "busy"})]
    with (
        Client(url, timeout=10.0, retries=3) as client,
        pytest.raises(Unavailable, match="HTTP 503"),
    ):
        client.authorize("K" * 24, "S" * 43, api="send", client_ip=CLIENT_IP)
    assert len(handler.seen) == 4


def test_a_5xx_then_an_answer_is_the_answer(
    scripted: tuple[str, type[Scripted]],
) -> None:
    url, handler = scripted
    handler.script = [(500, {}), (502, {}), (200, ALLOWED)]
    with Client(url, timeout=10.0, retries=2) as client:
        decision = client.authorize("K" * 24, "S" * 43, api="send", client_ip=CLIENT_IP)
    assert decision.allowed
    assert decision.permissions == ("send",)
    assert len(handler.seen) == 3


@pytest.mark.parametrize("status", [404, 405, 400])
def test_other_answers_are_not_retried(
    scripted: tuple[str, type[Scripted]], status: int
) -> None:
    url, handler = scripted
    handler.script = [(status, {"message": "no"})]
    with (
        Client(url, timeout=10.0, retries=3) as client,
        pytest.raises(UnexpectedResponse),
    ):
        client.authorize("K" * 24, "S" * 43, api="send", client_ip=CLIENT_IP)
    assert len(handler.seen) == 1


def test_a_connection_dropped_while_idle_is_replaced_without_a_retry(
    scripted: tuple[str, type[Scripted]],
) -> None:
    url, handler = scripted
    handler.script = [(200, ALLOWED)]
    handler.close_after = True
    with Client(url, timeout=10.0, retries=0) as client:
        for _ in range(3):
            assert client.authorize(
                "K" * 24, "S" * 43, api="send", client_ip=CLIENT_IP
            ).allowed
        assert client.connections_opened == 3
    assert len(handler.seen) == 3


def test_connections_are_kept_alive_and_reused(keyledger: Keyledger) -> None:
    key = keyledger.create_key()
    with Client(keyledger.url) as client:
        for _ in range(20):
            decision = client.authorize(
                key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
            )
            assert decision.allowed
        assert client.connections_opened == 1


def test_one_client_serves_many_threads(keyledger: Keyledger) -> None:
    keys = [keyledger.create_key() for _ in range(4)]
    client = Client(keyledger.url, timeout=10.0)
    wrong: list[object] = []

    def work(n: int) -> None:
        key = keys[n % len(keys)]
        for _ in range(25):
            decision = client.authorize(
                key["dev_key"], key["dev_secret"], api="send", client_ip=CLIENT_IP
            )
            if decision.key_id != key["id"]:
                wrong.append(decision)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert wrong == []
    assert client.connections_opened <= 8
