"""Roll, reset during grace, restore and lookup through a real gunicorn with
four workers, on both stores: every worker obeys each acknowledged change on
the very next call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.e2e.test_revocation_gunicorn import FreshConnections, bytes_read_by
from tests.support.gunicorn import GunicornServer, basic, bearer

WORKERS = 4
CALLS = 24  # per check: enough fresh connections to reach every worker
ADMIN = bearer(ADMIN_TOKEN)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[GunicornServer]:
    env = {
        "KEYLEDGER_DATABASE_URL": database_url,
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }
    with GunicornServer(env, workers=WORKERS, log_path=tmp_path / "g.log") as running:
        yield running


def statuses(http_: FreshConnections, key: dict[str, Any], secret: str) -> set[int]:
    seen = set()
    for _ in range(CALLS):
        status, _ = http_.call(
            "POST",
            "/v1/auth",
            basic(key["dev_key"], secret),
            {"api": "send", "client_ip": "203.0.113.9"},
        )
        seen.add(status)
    return seen


def manage(http_: FreshConnections, path: str, body: Any = None) -> Any:
    status, answer = http_.call("POST", path, ADMIN, body)
    assert status == 200, (path, status, answer)
    return answer


@pytest.mark.slow
def test_lifecycle_is_obeyed_by_every_worker(server: GunicornServer) -> None:
    http_ = FreshConnections(server.port)
    status, key = http_.call("POST", "/v1/keys", ADMIN, {"permissions": ["send"]})
    assert status == 201
    path = f"/v1/keys/{key['id']}"
    first = key["dev_secret"]
    read_before = bytes_read_by(server.worker_pids())

    second = manage(http_, f"{path}/roll-secret", {"grace_seconds": 3600})["dev_secret"]
    assert statuses(http_, key, first) == {200}
    assert statuses(http_, key, second) == {200}

    third = manage(http_, f"{path}/reset-secret")["dev_secret"]
    assert statuses(http_, key, first) == {401}
    assert statuses(http_, key, second) == {401}
    assert statuses(http_, key, third) == {200}

    fourth = manage(http_, f"{path}/roll-secret", {"grace_seconds": 0})["dev_secret"]
    assert statuses(http_, key, third) == {401}
    assert statuses(http_, key, fourth) == {200}

    status, _ = http_.call("DELETE", path, ADMIN)
    assert status == 204
    assert statuses(http_, key, fourth) == {401}
    assert manage(http_, f"{path}/restore")["status"] == "disabled"
    assert statuses(http_, key, fourth) == {403}
    manage(http_, f"{path}/enable")
    assert statuses(http_, key, fourth) == {200}

    for secret, kind in ((first, "retired"), (third, "retired"), (fourth, "current")):
        found = manage(http_, "/v1/secrets/lookup", {"dev_secret": secret})
        assert (found["key_id"], found["secret"]) == (key["id"], kind)
    read_after = bytes_read_by(server.worker_pids())
    assert all(read_after[pid] > read_before.get(pid, 0) for pid in read_after)
