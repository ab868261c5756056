"""Usage counting through a real gunicorn with four workers, on both stores:
counts from every worker add up after a flush, and stopping the server with
SIGTERM writes what was still pending."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.wiring import Services
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, open_services
from tests.support.gunicorn import GunicornServer, service_env
from tests.support.http import basic, bearer

WORKERS = 4
SCALE = 5  # the known sequence, repeated: 175 auth calls


def concurrently(calls: list[Callable[[], int]]) -> list[int]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda call: call(), calls))


class FreshConnections:
    """One new connection per request (the harness's urllib client), so the
    kernel hands successive requests to whichever worker accepts first."""

    def __init__(self, server: GunicornServer) -> None:
        self.server = server

    def call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, Any]:
        response = self.server.request(method, path, body, headers=headers)
        return response.status, response.json()


ADMIN = bearer(ADMIN_TOKEN)


def server_env(database_url: str, flush_seconds: int) -> dict[str, str]:
    return service_env(database_url, usage_flush_seconds=str(flush_seconds))


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
    # Each phase's calls go out 16 at a time, so several workers take some.
    statuses = Counter(
        concurrently(
            [lambda: auth(http_, first)] * 12 * SCALE
            + [lambda: auth(http_, first, ip="198.51.100.1")] * 5 * SCALE
            + [lambda: auth(http_, first, api="verify")] * 3 * SCALE
            # A wrong secret is not counted against the key.
            + [lambda: auth(http_, first, secret="kls_wrong")] * 4 * SCALE
        )
    )
    status, _ = http_.call("POST", f"/v1/keys/{first['id']}/disable", ADMIN)
    assert status == 200
    statuses.update(
        concurrently(
            [lambda: auth(http_, first)] * 2 * SCALE
            + [lambda: auth(http_, second)] * 9 * SCALE
        )
    )
    assert statuses == {200: 21 * SCALE, 403: 10 * SCALE, 401: 4 * SCALE}
    return {
        first["id"]: Counter(
            allowed=12 * SCALE,
            ip_not_allowed=5 * SCALE,
            permission_denied=3 * SCALE,
            key_disabled=2 * SCALE,
        ),
        second["id"]: Counter(allowed=9 * SCALE),
    }


@pytest.mark.slow
def test_counts_from_four_workers_add_up_after_a_flush(
    database_url: str, peek: Services, tmp_path: Path
) -> None:
    env = server_env(database_url, flush_seconds=1)
    with GunicornServer(
        env, workers=WORKERS, log_path=tmp_path / "g.log", access_log=True
    ) as server:
        http_ = FreshConnections(server)
        expected = known_sequence(http_)
        assert wait_for_counts(peek, expected) == expected
        last_used = peek.usage.last_used(expected)
        for key_id, counts in expected.items():
            assert served_counts(server, key_id) == counts
            shown = server.request("GET", f"/v1/keys/{key_id}", headers=ADMIN).json()
            assert shown["last_used_at"] is not None
    # Read once the workers have exited: each flushes its access lines then.
    answered = server.answers_by_worker()
    # Several workers answered (the kernel decides how many), so the stored
    # counts are sums over processes.
    assert len(answered) >= 2, answered
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
        expected = known_sequence(FreshConnections(server))
    finally:
        server.stop()  # SIGTERM to master and workers, then wait for exit
    assert {key_id: stored_counts(peek, key_id) for key_id in expected} == expected
