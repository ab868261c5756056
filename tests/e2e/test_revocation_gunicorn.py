"""Instant revocation across real gunicorn workers: every auth call sent right
after a management call answered must already obey it, whichever of the four
workers takes it (api.md, "Authorizing a request")."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer, basic, bearer

ROUNDS = 300
WORKERS = 4
KEPT_NETWORK = "203.0.113.0/24"
REMOVED_HOST = "198.51.100.7"


class FreshConnections:
    """One new TCP connection per request, so the kernel hands successive
    requests to whichever worker accepts first."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = 0

    def call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            sent_headers = {**headers, "Connection": "close"}
            if data is not None:
                sent_headers["Content-Type"] = "application/json"
            connection.request(method, path, body=data, headers=sent_headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        self.sent += 1
        return response.status, json.loads(raw) if raw else None


def bytes_read_by(pids: list[int]) -> dict[int, int]:
    """Bytes each worker has read (sockets and the SQLite file), from /proc."""
    read: dict[int, int] = {}
    for pid in pids:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                read[pid] = int(line.split()[1])
    return read


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GunicornServer]:
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }
    with GunicornServer(
        env, workers=WORKERS, log_path=tmp_path / "gunicorn.log"
    ) as running:
        yield running


@pytest.mark.slow
def test_every_auth_after_a_change_obeys_it_on_any_worker(
    server: GunicornServer,
) -> None:
    http_ = FreshConnections(server.port)
    admin = bearer(ADMIN_TOKEN)
    status, key = http_.call(
        "POST",
        "/v1/keys",
        admin,
        {"permissions": ["send"], "ip_whitelist": [KEPT_NETWORK, REMOVED_HOST]},
    )
    assert status == 201, key
    key_path = f"/v1/keys/{key['id']}"
    secret = key["dev_secret"]
    stale: list[str] = []
    checked = 0

    def manage(method: str, path: str, body: Any = None) -> Any:
        status, answer = http_.call(method, path, admin, body)
        assert status == 200, (method, path, status, answer)
        return answer

    def expect(round_: int, step: str, dev_secret: str, ip: str, want: int) -> None:
        nonlocal checked
        status, answer = http_.call(
            "POST",
            "/v1/auth",
            basic(key["dev_key"], dev_secret),
            {"api": "send", "client_ip": ip},
        )
        checked += 1
        if status != want:
            stale.append(f"round {round_} {step}: {status} {answer}, wanted {want}")

    read_before = bytes_read_by(server.worker_pids())
    started = time.monotonic()
    for n in range(ROUNDS):
        manage("POST", f"{key_path}/disable")
        expect(n, "after disable", secret, REMOVED_HOST, 403)
        manage("POST", f"{key_path}/enable")
        # Also proves the previous round's whitelist restore was obeyed.
        expect(n, "after enable", secret, REMOVED_HOST, 200)
        old_secret, secret = (
            secret,
            manage("POST", f"{key_path}/reset-secret")["dev_secret"],
        )
        expect(n, "old secret after reset", old_secret, "203.0.113.9", 401)
        expect(n, "new secret after reset", secret, "203.0.113.9", 200)
        manage("PATCH", key_path, {"ip_whitelist": [KEPT_NETWORK]})
        expect(n, "removed ip after narrowing", secret, REMOVED_HOST, 403)
        manage("PATCH", key_path, {"ip_whitelist": [KEPT_NETWORK, REMOVED_HOST]})
    elapsed = time.monotonic() - started
    served = {
        pid: read - read_before.get(pid, 0)
        for pid, read in bytes_read_by(server.worker_pids()).items()
    }

    print(
        f"\n{ROUNDS} rounds, {http_.sent} requests ({checked} auth checks) on "
        f"{WORKERS} workers in {elapsed:.1f}s ({http_.sent / elapsed:.0f} req/s); "
        f"stale answers: {len(stale)}; bytes read per worker: {served}"
    )
    assert checked == ROUNDS * 5
    # An idle sync worker reads nothing, so this shows every worker answered.
    assert len(served) == WORKERS
    assert min(served.values()) > 0, served
    assert stale == [], f"{len(stale)} of {checked} auth answers were stale"
