"""A SIGTERM during a long export: the client can tell the export was cut
(the chunked stream lacks its last chunk) and resumes from the last
``position`` it received, ending with every event exactly once."""

from __future__ import annotations

import http.client
import json
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from domain import AuditContext, recording_as
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, open_services
from tests.support.gunicorn import GunicornServer
from tests.support.http import bearer

# Enough bytes (about 10 MB of NDJSON) that the stalled reader's socket and
# the server's send buffer (4 MB at most here) cannot hold the whole export,
# so the worker is still writing when it is stopped.
EVENTS = 16_000
FILLER = "x" * 240


def _fill(database_url: str) -> int:
    services = open_services(
        {
            "database_url": database_url,
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "WARNING",
        }
    )
    try:
        with recording_as(AuditContext("filler")):
            issued = services.ledger.create_key(permissions=["send"])
            key = services.ledger.get_key(issued.key.id)
            for n in range(EVENTS - 1):
                key.change_description(f"{n:06d} {FILLER}")
            services.ledger.save(key)
        return int(services.ledger.recorder.max_notification_id() or 0)
    finally:
        services.close()


class SmallWindowConnection(http.client.HTTPConnection):
    """A reader with a tiny receive buffer, so an unread export backs up
    into the server instead of into this process."""

    def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(self.timeout)  # type: ignore[arg-type]
        sock.connect((self.host, self.port))
        self.sock = sock


def _positions(text: bytes) -> list[int]:
    """Positions of the complete lines of an NDJSON body."""
    complete = text[: text.rfind(b"\n") + 1]
    return [json.loads(line)["position"] for line in complete.splitlines()]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
    }


@pytest.mark.slow
def test_a_cut_export_looks_cut_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    env = _env(tmp_path)
    last = _fill(env["KEYLEDGER_DATABASE_URL"])
    server = GunicornServer(env, workers=1, args=("--graceful-timeout", "1")).start()
    try:
        connection = SmallWindowConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/v1/audit?format=jsonl", headers=bearer(ADMIN_TOKEN))
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.getheader("X-Keyledger-Export-Through") == str(last)
        received = response.read(64 * 1024)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
        with pytest.raises(http.client.IncompleteRead) as cut:
            received += response.read()
        received += cut.value.partial
        connection.close()
    finally:
        server.stop()
    first_part = _positions(received)
    assert first_part
    assert first_part[-1] < last

    resumed = _resume(env, after=first_part[-1])
    assert first_part + resumed == sorted(set(first_part + resumed))
    assert len(first_part) + len(resumed) == EVENTS
    assert resumed[-1] == last


def _resume(env: dict[str, str], after: int) -> list[int]:
    with GunicornServer(env, workers=1) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request(
                "GET",
                f"/v1/audit?format=jsonl&after={after}",
                headers=bearer(ADMIN_TOKEN),
            )
            response = connection.getresponse()
            body: Any = response.read()  # complete: raises if it were cut
        finally:
            connection.close()
    return _positions(body)
