"""One truth however keyledger is served: a change acknowledged by the
management API is obeyed by the very next auth call on any worker or
instance; If-Match lets exactly one of several racing writers win; writers
without If-Match lose no update. Each scenario runs once per deployment
(tests/support/deployments.py): four SQLite workers, two PostgreSQL
instances."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_postgres_schema
from tests.support.concurrency import run_together
from tests.support.deployments import DEPLOYMENTS, GTHREAD, Deployment, serve
from tests.support.http import ServedApi, verdict
from tests.support.sql import peek, stored_id

pytestmark = pytest.mark.slow

KEPT_NET, REMOVED_NET = "203.0.113.0/24", "198.51.100.0/24"
KEPT_IP, REMOVED_IP = "203.0.113.9", "198.51.100.7"
REVOCATION_ROUNDS = 150
WRITERS = 8
IF_MATCH_ROUNDS = 10
CHANGES_PER_WRITER = 10
PERMISSION_SETS = (["send"], ["send", "verify"])


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    yield from _served(str(request.param), tmp_path)


@pytest.fixture(params=[*DEPLOYMENTS, GTHREAD])
def revocation_deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Deployment]:
    """Also threads sharing a worker: each thread of the auth path keeps its
    own connection and what it remembers (projections/credentials.py)."""
    yield from _served(str(request.param), tmp_path)


def _served(kind: str, tmp_path: Path) -> Iterator[Deployment]:
    if kind.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path / 'keyledger.db'}"
        with serve(kind, database_url, tmp_path) as served:
            yield served
    else:
        for database_url in fresh_postgres_schema():
            with serve(kind, database_url, tmp_path) as served:
                yield served


def test_every_auth_after_a_change_obeys_it_on_any_worker(
    revocation_deployment: Deployment,
) -> None:
    deployment = revocation_deployment
    manager, checker = deployment.manager, deployment.checker
    key = manager.create_key(permissions=["send"], ip_whitelist=[KEPT_NET, REMOVED_NET])
    key_id, dev_key, secret = key["id"], key["dev_key"], key["dev_secret"]
    stale: list[tuple[int, str, Any, Any]] = []
    checked = 0

    def manage(step: str, response: Any) -> Any:
        assert response.status == 200, (step, response.status, response.body)
        return response.json()

    def expect(round_: int, step: str, want: tuple[int, str | None], got: Any) -> None:
        nonlocal checked
        checked += 1
        if verdict(got) != want:
            stale.append((round_, step, want, verdict(got)))

    for n in range(REVOCATION_ROUNDS):
        manage("disable", manager.action(key_id, "disable"))
        expect(n, "after disable", (403, "key_disabled"), checker.auth(dev_key, secret))
        manage("enable", manager.action(key_id, "enable"))
        # Also proves the previous round's widened whitelist was obeyed.
        expect(
            n, "after enable", (200, None), checker.auth(dev_key, secret, REMOVED_IP)
        )
        old, secret = (
            secret,
            manage("reset", manager.action(key_id, "reset-secret"))["dev_secret"],
        )
        expect(
            n, "old secret", (401, "invalid_credentials"), checker.auth(dev_key, old)
        )
        expect(n, "new secret", (200, None), checker.auth(dev_key, secret))
        manage("narrow", manager.patch(key_id, {"ip_whitelist": [KEPT_NET]}))
        expect(
            n,
            "removed ip after narrowing",
            (403, "ip_not_allowed"),
            checker.auth(dev_key, secret, REMOVED_IP),
        )
        manage(
            "widen", manager.patch(key_id, {"ip_whitelist": [KEPT_NET, REMOVED_NET]})
        )

    answered = deployment.answers_by_worker()
    assert checked == REVOCATION_ROUNDS * 5
    # Every worker of every instance answered some of the traffic, so the
    # changes were obeyed by workers other than the one that made them.
    assert len(answered) == deployment.workers(), answered
    assert stale == [], (
        f"{len(stale)} of {checked} auth answers were stale: {stale[:5]}"
    )


def test_if_match_races_let_exactly_one_writer_win_each_round(
    deployment: Deployment,
) -> None:
    key_id = deployment.manager.create_key()["id"]
    outcomes: list[list[int]] = []
    for round_ in range(IF_MATCH_ROUNDS):
        seen = deployment.checker.get(f"/v1/keys/{key_id}").json()["version"]
        writes = [
            functools.partial(
                deployment.api(writer).patch,
                key_id,
                {"description": f"round {round_} writer {writer}"},
                seen,
            )
            for writer in range(WRITERS)
        ]
        outcomes.append(sorted(r.status for r in run_together(writes)))

    final = deployment.manager.get(f"/v1/keys/{key_id}").json()
    assert outcomes == [[200] + [412] * (WRITERS - 1)] * IF_MATCH_ROUNDS
    assert final["version"] == 1 + IF_MATCH_ROUNDS
    assert final["description"].startswith(f"round {IF_MATCH_ROUNDS - 1} writer ")


def test_writers_without_if_match_lose_no_update(deployment: Deployment) -> None:
    key_id = deployment.manager.create_key(permissions=PERMISSION_SETS[1])["id"]
    acknowledged: list[tuple[str, Any, int]] = []  # (field, value, version)
    lock = threading.Lock()

    def write(api: ServedApi, field: str, value: Any) -> None:
        response = api.patch(key_id, {field: value})
        assert response.status == 200, response.body
        with lock:
            acknowledged.append((field, value, response.json()["version"]))

    def describer(writer: int) -> Callable[[], None]:
        def run() -> None:
            for n in range(CHANGES_PER_WRITER):
                write(deployment.api(writer), "description", f"w{writer} change {n}")

        return run

    def toggler() -> None:
        # Alone on this field, so every toggle differs from the value before.
        for n in range(CHANGES_PER_WRITER):
            write(deployment.api(n), "permissions", PERMISSION_SETS[n % 2])

    run_together([describer(w) for w in range(WRITERS - 1)] + [toggler])

    total = 1 + WRITERS * CHANGES_PER_WRITER
    final = deployment.checker.get(f"/v1/keys/{key_id}").json()
    history = deployment.checker.get(f"/v1/keys/{key_id}/history").json()["items"]
    recorded = {
        item["changes"]["description"]["to"]: item["version"]
        for item in history
        if item["type"] == "description_changed"
    }
    stored = peek(
        deployment.database_url,
        "SELECT originator_version FROM stored_events WHERE originator_id = %s "
        "ORDER BY originator_version",
        (stored_id(deployment.database_url, key_id),),
    )
    assert len(acknowledged) == WRITERS * CHANGES_PER_WRITER
    # Every acknowledged change recorded one event: versions 2..N+1, once each.
    assert sorted(v for _, _, v in acknowledged) == list(range(2, total + 1))
    assert recorded == {v: n for f, v, n in acknowledged if f == "description"}
    assert [row[0] for row in stored] == list(range(1, total + 1))
    assert final["version"] == total
    for field in ("description", "permissions"):
        last = max((a for a in acknowledged if a[0] == field), key=lambda a: a[2])
        assert final[field] == last[1], field
