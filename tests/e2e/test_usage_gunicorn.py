"""Usage counting through a real gunicorn with four workers, on both stores:
counts from every worker add up after a flush, and stopping the server with
SIGTERM writes what was still pending."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.wiring import Services
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, open_services
from tests.e2e.test_revocation_gunicorn import FreshConnections, bytes_read_by
from tests.support.gunicorn import GunicornServer, basic, bearer

WORKERS = 4
ADMIN = bearer(ADMIN_TOKEN)


def server_env(database_url: str, flush_seconds: int) -> dict[str, str]:
    return {
        "KEYLEDGER_DATABASE_URL": database_url,
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        "KEYLEDGER_USAGE_FLUSH_SECONDS": str(flush_seconds),
    }


@pytest.fixture
def peek(database_url: str) -> Iterator[Services]:
    """The test's own view of the store, to read the usage table."""
    # Prepared here as gunicorn's master would: the tables exist before the
    # server starts, whichever comes first.
    services = open_services(
        {
            "database_url": database_url,
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "WARNING",
        }
    )
    yield services
    services.close()


def stored_counts(services: Services, key_id: str) -> Counter[str]:
    now = datetime.now(UTC)
    rows = services.usage.calls(
        key_id, now - timedelta(hours=2), now + timedelta(hours=1)
    )
    totals: Counter[str] = Counter()
    for row in rows:
        totals[row.outcome] += row.calls
    return totals


def wait_for_counts(
    services: Services, expected: dict[str, Counter[str]], timeout: float = 60
) -> dict[str, Counter[str]]:
    """Polls the table until it holds ``expected`` (flushes are periodic)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {key_id: stored_counts(services, key_id) for key_id in expected}
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def served_counts(server: GunicornServer, key_id: str) -> Counter[str]:
    """The same totals as GET /v1/keys/{id}/usage answers them."""
    items = server.request("GET", f"/v1/keys/{key_id}/usage", headers=ADMIN).json()
    totals: Counter[str] = Counter()
    for item in items["items"]:
        totals["allowed"] += item["allowed"]
        for reason, n in item["denied"].items():
            totals[reason] += n
    return +totals  # drop the zeros


def create_key(http_: FreshConnections, **body: Any) -> dict[str, Any]:
    status, key = http_.call(
        "POST", "/v1/keys", ADMIN, {"permissions": ["send"], **body}
    )
    assert status == 201, key
    return dict(key)


def auth(
    http_: FreshConnections,
    key: dict[str, Any],
    secret: str | None = None,
    ip: str = "203.0.113.9",
    api: str = "send",
) -> int:
    status, _ = http_.call(
        "POST",
        "/v1/auth",
        basic(key["dev_key"], secret or key["dev_secret"]),
        {"api": api, "client_ip": ip},
    )
    return status


def known_sequence(http_: FreshConnections) -> dict[str, Counter[str]]:
    """Calls spread over the workers; returns what the table must then hold."""
    first = create_key(http_, ip_whitelist=["203.0.113.0/24"])
    second = create_key(http_)
    statuses = Counter()
    for _ in range(12):
        statuses[auth(http_, first)] += 1
    for _ in range(5):
        statuses[auth(http_, first, ip="198.51.100.1")] += 1
    for _ in range(3):
        statuses[auth(http_, first, api="verify")] += 1
    for _ in range(4):  # a wrong secret is not counted against the key
        statuses[auth(http_, first, secret="kls_wrong")] += 1
    status, _ = http_.call("POST", f"/v1/keys/{first['id']}/disable", ADMIN)
    assert status == 200
    for _ in range(2):
        statuses[auth(http_, first)] += 1
    for _ in range(9):
        statuses[auth(http_, second)] += 1
    assert statuses == {200: 21, 403: 10, 401: 4}
    return {
        first["id"]: Counter(
            allowed=12, ip_not_allowed=5, permission_denied=3, key_disabled=2
        ),
        second["id"]: Counter(allowed=9),
    }


@pytest.mark.slow
def test_counts_from_four_workers_add_up_after_a_flush(
    database_url: str, peek: Services, tmp_path: Path
) -> None:
    env = server_env(database_url, flush_seconds=1)
    with GunicornServer(env, workers=WORKERS, log_path=tmp_path / "g.log") as server:
        http_ = FreshConnections(server.port)
        read_before = bytes_read_by(server.worker_pids())
        expected = known_sequence(http_)
        read_after = bytes_read_by(server.worker_pids())
        assert wait_for_counts(peek, expected) == expected
        last_used = peek.usage.last_used(expected)
        for key_id, counts in expected.items():
            assert served_counts(server, key_id) == counts
            shown = server.request("GET", f"/v1/keys/{key_id}", headers=ADMIN).json()
            assert shown["last_used_at"] is not None
    # An idle sync worker reads nothing: every worker answered some calls.
    assert all(read_after[pid] > read_before.get(pid, 0) for pid in read_after)
    assert set(last_used) == set(expected)
    for moment in last_used.values():
        assert datetime.now(UTC) - moment < timedelta(minutes=5)


@pytest.mark.slow
def test_sigterm_writes_the_pending_counts(
    database_url: str, peek: Services, tmp_path: Path
) -> None:
    # The longest interval: the counts are written by the shutdown, not by a
    # periodic flush (the calls take far less than 10 s).
    env = server_env(database_url, flush_seconds=10)
    server = GunicornServer(env, workers=WORKERS, log_path=tmp_path / "g.log")
    server.start()
    try:
        expected = known_sequence(FreshConnections(server.port))
    finally:
        server.stop()  # SIGTERM to master and workers, then wait for exit
    assert {key_id: stored_counts(peek, key_id) for key_id in expected} == expected
