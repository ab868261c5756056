"""A gunicorn killed with SIGKILL in the middle of writes comes back on the
same SQLite file with a read model equal to a replay of the log: the events
and their view rows commit together or not at all."""

from __future__ import annotations

import http.client
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import open_services
from tests.integration.test_read_model import snapshot
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer
from tests.support.http import bearer

KEYS = 8
WRITES_BEFORE_KILL = 40


def _write_until_killed(
    server: GunicornServer,
    key_ids: list[str],
    acknowledged: dict[str, int],
    enough: threading.Event,
) -> None:
    """Changes keys one after another; records each acknowledged version."""
    n = 0
    while True:
        key_id = key_ids[n % len(key_ids)]
        try:
            response = server.request(
                "PATCH",
                f"/v1/keys/{key_id}",
                {"description": f"write {n}"},
                bearer(ADMIN_TOKEN),
                timeout=5,
            )
        except (OSError, http.client.HTTPException):
            return  # the server is gone: what it acknowledged is all we know
        if response.status == 200:
            acknowledged[key_id] = response.json()["version"]
        n += 1
        if n >= WRITES_BEFORE_KILL:
            enough.set()


@pytest.mark.slow
def test_a_killed_server_restarts_with_the_read_model_of_a_full_replay(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'keyledger.db'}"
    env = {
        "KEYLEDGER_DATABASE_URL": database_url,
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }
    admin = bearer(ADMIN_TOKEN)
    acknowledged: dict[str, int] = {}
    first = GunicornServer(env, workers=2, log_path=tmp_path / "first.log").start()
    try:
        key_ids: list[str] = []
        for n in range(KEYS):
            created = first.request(
                "POST", "/v1/keys", {"permissions": ["send"]}, admin
            ).json()
            key_ids.append(created["id"])
            first.request("POST", f"/v1/keys/{created['id']}/disable", None, admin)
            if n % 2:
                first.request(
                    "POST", f"/v1/keys/{created['id']}/reset-secret", None, admin
                )
        first.request("DELETE", f"/v1/keys/{key_ids.pop()}", None, admin)
        enough = threading.Event()
        writer = threading.Thread(
            target=_write_until_killed, args=(first, key_ids, acknowledged, enough)
        )
        writer.start()
        assert enough.wait(timeout=30), "the writer did not get going"
        first.kill()
        writer.join(timeout=15)
        assert not writer.is_alive()
    finally:
        first.stop()

    with GunicornServer(env, workers=2, log_path=tmp_path / "second.log") as second:
        health = second.request("GET", "/healthz")
        keys_after = {
            key_id: second.request("GET", f"/v1/keys/{key_id}", None, admin).json()
            for key_id in key_ids
        }
    assert (health.status, health.json()["read_model_lag"]) == (200, 0)
    # Every live key took writes before the kill, so the check below has
    # something to check.
    assert set(acknowledged) == set(key_ids)
    # Nothing acknowledged was lost (one more write may have committed unanswered).
    lost = {
        key_id: (version, keys_after[key_id]["version"])
        for key_id, version in acknowledged.items()
        if keys_after[key_id]["version"] < version
    }
    assert lost == {}

    services = open_services(_config(database_url))
    try:
        recorder = services.ledger.ledger_recorder
        live = snapshot(recorder)
        recorder.rebuild()
        replayed = snapshot(recorder)
    finally:
        services.close()
    assert replayed == live
    assert len(live["keyledger_keys"]) == KEYS - 1


def _config(database_url: str) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "bootstrap_token": ADMIN_TOKEN,
        "log_level": "WARNING",
    }
