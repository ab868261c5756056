"""The management API served by a real gunicorn with two workers, on SQLite
and PostgreSQL: the README walk-through over HTTP, If-Match races between
workers, and concurrent writers that lose no update."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer, Response, basic, bearer

pytestmark = pytest.mark.slow

ADMIN = bearer(ADMIN_TOKEN)
IF_MATCH_ROUNDS = 20
DESCRIBERS = 10
CHANGES_EACH = 10
PERMISSION_SETS = (["send"], ["send", "verify"])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[GunicornServer]:
    env = {
        "KEYLEDGER_DATABASE_URL": database_url,
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        # Other suites share the PostgreSQL server: stay small.
        "KEYLEDGER_POSTGRES_POOL_SIZE": "2",
        "KEYLEDGER_POSTGRES_MAX_OVERFLOW": "3",
    }
    with GunicornServer(env, workers=2, log_path=tmp_path / "gunicorn.log") as running:
        yield running


def admin_call(
    server: GunicornServer, method: str, path: str, body: Any = None, **headers: str
) -> Response:
    return server.request(method, path, body, headers={**ADMIN, **headers})


def create_key(server: GunicornServer, **body: Any) -> dict[str, Any]:
    body.setdefault("permissions", ["send", "verify"])
    response = admin_call(server, "POST", "/v1/keys", body)
    assert response.status == 201, response.body
    return dict(response.json())


def auth(server: GunicornServer, dev_key: str, secret: str, ip: str) -> Response:
    return server.request(
        "POST",
        "/v1/auth",
        {"api": "send", "client_ip": ip},
        headers=basic(dev_key, secret),
    )


def run_together(tasks: list[Callable[[], None]]) -> None:
    """Runs the tasks on their own threads, released at the same moment."""
    start = threading.Barrier(len(tasks))
    failures: list[BaseException] = []

    def run(task: Callable[[], None]) -> None:
        start.wait()
        try:
            task()
        except BaseException as error:  # reported by the test, not lost
            failures.append(error)

    threads = [threading.Thread(target=run, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_the_readme_walk_through_works_over_http(server: GunicornServer) -> None:
    created = create_key(
        server,
        description="payments backend, prod",
        expires_at="2099-01-31",
        ip_whitelist=["203.0.113.0/24"],
    )
    kid, dev_key, secret = created["id"], created["dev_key"], created["dev_secret"]
    assert created["expires_at"] == "2099-01-31T23:59:59Z"

    listed = admin_call(server, "GET", "/v1/keys").json()
    assert [item["id"] for item in listed["items"]] == [kid]
    details = admin_call(server, "GET", f"/v1/keys/{kid}")
    assert (details.status, details.headers["ETag"]) == (200, '"1"')
    assert "dev_secret" not in details.json()
    revealed = admin_call(server, "GET", f"/v1/keys/{kid}/secret").json()
    assert revealed == {"dev_key": dev_key, "dev_secret": secret}

    patched = admin_call(
        server,
        "PATCH",
        f"/v1/keys/{kid}",
        {"ip_whitelist": ["203.0.113.7"]},
        **{"If-Match": '"2"'},
    )
    assert (patched.status, patched.json()["ip_whitelist"]) == (200, ["203.0.113.7"])
    assert auth(server, dev_key, secret, "203.0.113.8").status == 403

    reset = admin_call(server, "POST", f"/v1/keys/{kid}/reset-secret").json()
    assert auth(server, dev_key, secret, "203.0.113.7").status == 401
    secret = reset["dev_secret"]
    assert auth(server, dev_key, secret, "203.0.113.7").status == 200

    disabled = admin_call(server, "POST", f"/v1/keys/{kid}/disable").json()
    assert disabled["status"] == "disabled"
    assert auth(server, dev_key, secret, "203.0.113.7").json() == {
        "allowed": False,
        "reason": "key_disabled",
    }
    enabled = admin_call(server, "POST", f"/v1/keys/{kid}/enable").json()
    assert (enabled["status"], enabled["version"]) == ("enabled", 6)
    allowed = auth(server, dev_key, secret, "203.0.113.7").json()
    assert (allowed["allowed"], allowed["key_id"]) == (True, kid)

    assert admin_call(server, "DELETE", f"/v1/keys/{kid}").status == 204
    assert admin_call(server, "GET", f"/v1/keys/{kid}").status == 404
    assert auth(server, dev_key, secret, "203.0.113.7").status == 401


def race_with_if_match(server: GunicornServer, key_id: str, version: int) -> list[int]:
    """Two PATCHes naming the same version, sent at the same moment."""
    statuses: list[int] = []

    def patch(writer: str) -> None:
        response = admin_call(
            server,
            "PATCH",
            f"/v1/keys/{key_id}",
            {"description": f"version {version} by {writer}"},
            **{"If-Match": f'"{version}"'},
        )
        statuses.append(response.status)

    run_together([lambda: patch("a"), lambda: patch("b")])
    return sorted(statuses)


def test_if_match_races_between_workers_let_exactly_one_win(
    server: GunicornServer,
) -> None:
    key_id = create_key(server)["id"]
    outcomes = [
        race_with_if_match(server, key_id, version)
        for version in range(1, IF_MATCH_ROUNDS + 1)
    ]
    assert outcomes == [[200, 412]] * IF_MATCH_ROUNDS
    final = admin_call(server, "GET", f"/v1/keys/{key_id}").json()
    assert final["version"] == 1 + IF_MATCH_ROUNDS


def test_concurrent_writers_without_if_match_lose_no_update(
    server: GunicornServer,
) -> None:
    key_id = create_key(server, permissions=PERMISSION_SETS[1])["id"]
    acknowledged: list[tuple[str, Any, int]] = []  # (field, value, version)
    lock = threading.Lock()

    def write(field: str, value: Any) -> None:
        response = admin_call(server, "PATCH", f"/v1/keys/{key_id}", {field: value})
        assert response.status == 200, response.body
        with lock:
            acknowledged.append((field, value, response.json()["version"]))

    def describer(writer: int) -> Callable[[], None]:
        def run() -> None:
            for n in range(CHANGES_EACH):
                write("description", f"writer {writer} change {n}")

        return run

    def toggler() -> None:
        # Alone on this field, so every toggle differs from the value before.
        for n in range(CHANGES_EACH):
            write("permissions", PERMISSION_SETS[n % 2])

    run_together([describer(w) for w in range(DESCRIBERS)] + [toggler])

    final = admin_call(server, "GET", f"/v1/keys/{key_id}").json()
    # Every acknowledged change recorded one event: versions 2..N+1, once each.
    versions = sorted(version for _, _, version in acknowledged)
    assert len(acknowledged) == (DESCRIBERS + 1) * CHANGES_EACH
    assert versions == list(range(2, len(acknowledged) + 2))
    assert final["version"] == 1 + len(acknowledged)
    for field in ("description", "permissions"):
        last = max((a for a in acknowledged if a[0] == field), key=lambda a: a[2])
        assert final[field] == last[1], field
