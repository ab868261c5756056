"""kill -9 during concurrent writes, on both stores: 4 gunicorn workers take
writes from several clients at once, then SIGKILL reaches the master and
every worker together (no graceful shutdown). After a restart on the same
store: every acknowledged write is there, the read model equals a full
replay of the log, and /v1/auth agrees with the management view for every
key. Events and their view rows commit together or not at all."""

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
from tests.support.http import basic, bearer

KEYS = 8
WRITERS = 4
WRITES_BEFORE_KILL = 120
ADMIN = bearer(ADMIN_TOKEN)


class Acknowledged:
    """What the server answered 2xx to, shared by the writer threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.versions: dict[str, int] = {}
        self.created: set[str] = set()
        self.writes = 0

    def saw(self, key_id: str, version: int, created: bool = False) -> None:
        with self.lock:
            self.versions[key_id] = max(version, self.versions.get(key_id, 0))
            if created:
                self.created.add(key_id)
            self.writes += 1


def _write_until_killed(
    server: GunicornServer,
    key_ids: list[str],
    writer: int,
    acknowledged: Acknowledged,
    enough: threading.Event,
) -> None:
    """Each writer changes every key in turn (so writers race on the same
    keys) and now and then creates one; records each acknowledged write."""
    n = 0
    while True:
        key_id = key_ids[(n + writer) % len(key_ids)]
        kind = n % 5
        try:
            if kind == 4 and n % 3 == 0:
                response = server.request(
                    "POST", "/v1/keys", {"permissions": ["send"]}, ADMIN, timeout=5
                )
            elif kind == 3:
                action = "disable" if n % 2 else "enable"
                response = server.request(
                    "POST", f"/v1/keys/{key_id}/{action}", None, ADMIN, timeout=5
                )
            else:
                response = server.request(
                    "PATCH",
                    f"/v1/keys/{key_id}",
                    {"description": f"writer {writer} write {n}"},
                    ADMIN,
                    timeout=5,
                )
        except (OSError, http.client.HTTPException):
            return  # the server is gone: what it acknowledged is all we know
        if response.status in (200, 201):
            body = response.json()
            acknowledged.saw(body["id"], body["version"], response.status == 201)
        n += 1
        if acknowledged.writes >= WRITES_BEFORE_KILL:
            enough.set()


def _server_env(database_url: str) -> dict[str, str]:
    return {
        "KEYLEDGER_DATABASE_URL": database_url,
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }


def _prepare_keys(server: GunicornServer) -> tuple[list[str], dict[str, Any]]:
    key_ids: list[str] = []
    deleted: dict[str, Any] = {}
    for n in range(KEYS):
        created = server.request("POST", "/v1/keys", {"permissions": ["send"]}, ADMIN)
        key = created.json()
        key_ids.append(key["id"])
        if n % 2:
            server.request("POST", f"/v1/keys/{key['id']}/reset-secret", None, ADMIN)
    gone = key_ids.pop()
    deleted[gone] = server.request("GET", f"/v1/keys/{gone}/secret", None, ADMIN).json()
    server.request("DELETE", f"/v1/keys/{gone}", None, ADMIN)
    return key_ids, deleted


def _auth_agrees_with_the_management_view(
    server: GunicornServer, key_ids: list[str], deleted: dict[str, Any]
) -> list[str]:
    """For every key, /v1/auth with its current secret answers what its
    status says; a deleted key's last secret is refused like a wrong one."""
    disagreements = []
    listed = server.request("GET", "/v1/keys?limit=500", None, ADMIN).json()["items"]
    for key in listed:
        secret = server.request("GET", f"/v1/keys/{key['id']}/secret", None, ADMIN)
        credentials = basic(key["dev_key"], secret.json()["dev_secret"])
        auth = server.request(
            "POST", "/v1/auth", {"api": "send", "client_ip": "1.2.3.4"}, credentials
        )
        expected = {"enabled": (200, None), "disabled": (403, "key_disabled")}
        got = (auth.status, auth.json().get("reason"))
        if got != expected[key["status"]]:
            disagreements.append(f"{key['id']}: {key['status']} but auth {got}")
    for key_id, secret in deleted.items():
        auth = server.request(
            "POST",
            "/v1/auth",
            {"api": "send", "client_ip": "1.2.3.4"},
            basic(secret["dev_key"], secret["dev_secret"]),
        )
        if auth.status != 401:
            disagreements.append(f"deleted {key_id}: auth {auth.status}")
    assert {k["id"] for k in listed} >= set(key_ids)
    return disagreements


@pytest.mark.slow
def test_sigkill_during_concurrent_writes_loses_nothing_acknowledged(
    database_url: str, tmp_path: Path
) -> None:
    env = _server_env(database_url)
    acknowledged = Acknowledged()
    first = GunicornServer(env, workers=4, log_path=tmp_path / "first.log").start()
    try:
        key_ids, deleted = _prepare_keys(first)
        enough = threading.Event()
        writers = [
            threading.Thread(
                target=_write_until_killed,
                args=(first, key_ids, n, acknowledged, enough),
            )
            for n in range(WRITERS)
        ]
        for thread in writers:
            thread.start()
        assert enough.wait(timeout=60), "the writers did not get going"
        first.kill()  # SIGKILL to the process group: master and all workers
        for thread in writers:
            thread.join(timeout=15)
        assert not any(thread.is_alive() for thread in writers)
    finally:
        first.stop()

    with GunicornServer(env, workers=4, log_path=tmp_path / "second.log") as second:
        health = second.request("GET", "/healthz")
        versions = {
            key_id: second.request("GET", f"/v1/keys/{key_id}", None, ADMIN).json()[
                "version"
            ]
            for key_id in acknowledged.versions
        }
        disagreements = _auth_agrees_with_the_management_view(second, key_ids, deleted)
    assert (health.status, health.json()["read_model_lag"]) == (200, 0)
    # Every live key took writes before the kill, so the check below has
    # something to check.
    assert set(key_ids) <= set(acknowledged.versions)
    # Nothing acknowledged was lost (one more write may have committed unanswered).
    lost = {
        key_id: (version, versions[key_id])
        for key_id, version in acknowledged.versions.items()
        if versions[key_id] < version
    }
    assert lost == {}
    assert disagreements == []

    services = open_services(_config(database_url))
    try:
        recorder = services.ledger.ledger_recorder
        live = snapshot(recorder)
        recorder.rebuild()
        replayed = snapshot(recorder)
    finally:
        services.close()
    assert replayed == live
    assert len(live["keyledger_keys"]) >= KEYS - 1 + len(acknowledged.created)


def _config(database_url: str) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "bootstrap_token": ADMIN_TOKEN,
        "log_level": "WARNING",
    }
