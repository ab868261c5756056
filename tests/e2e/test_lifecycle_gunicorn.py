"""Roll, reset during grace, restore and lookup through a real gunicorn with
four workers, on both stores: every worker obeys each acknowledged change on
the very next call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.support.concurrency import run_together
from tests.support.gunicorn import GunicornServer, service_env
from tests.support.http import basic, bearer

WORKERS = 4


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


CALLS = 24  # per check: enough fresh connections to reach every worker
ADMIN = bearer(ADMIN_TOKEN)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[GunicornServer]:
    env = service_env(database_url)
    with GunicornServer(
        env, workers=WORKERS, log_path=tmp_path / "g.log", access_log=True
    ) as running:
        yield running


def statuses(http_: FreshConnections, key: dict[str, Any], secret: str) -> set[int]:
    """The answers to CALLS auth calls sent together, so every worker takes
    some of them."""

    def call() -> int:
        status, _ = http_.call(
            "POST",
            "/v1/auth",
            basic(key["dev_key"], secret),
            {"api": "send", "client_ip": "203.0.113.9"},
        )
        return status

    return set(run_together([call] * CALLS))


def manage(http_: FreshConnections, path: str, body: Any = None) -> Any:
    status, answer = http_.call("POST", path, ADMIN, body)
    assert status == 200, (path, status, answer)
    return answer


@pytest.mark.slow
def test_lifecycle_is_obeyed_by_every_worker(server: GunicornServer) -> None:
    http_ = FreshConnections(server)
    status, key = http_.call("POST", "/v1/keys", ADMIN, {"permissions": ["send"]})
    assert status == 201
    path = f"/v1/keys/{key['id']}"
    first = key["dev_secret"]

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
    # Several workers answered (the kernel decides how many): the changes
    # were obeyed by workers other than the one that made them.
    assert len(server.answers_by_worker()) >= 2
