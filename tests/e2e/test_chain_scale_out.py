"""Two PostgreSQL instances (real gunicorns, two workers each) writing at
once build one audit chain: no fork, no event without its link, and each
checkpoint threshold signed exactly once, whichever process crossed it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.credentials import ADMIN_TOKEN
from tests.support.gunicorn import GunicornServer, service_env
from tests.support.http import bearer
from tests.support.sql import peek

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ADMIN = bearer(ADMIN_TOKEN)
EVERY = 20
WRITERS = 8
KEYS_PER_WRITER = 12  # each created, then renamed: two events


@pytest.fixture
def instances(postgres_url: str, tmp_path: Path) -> Iterator[list[GunicornServer]]:
    env = service_env(postgres_url, audit_checkpoint_every=str(EVERY))
    servers = [
        GunicornServer(env, workers=2, log_path=tmp_path / f"gunicorn-{n}.log")
        for n in "ab"
    ]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def write_keys(server: GunicornServer, errors: list[str]) -> None:
    for n in range(KEYS_PER_WRITER):
        created = server.request(
            "POST", "/v1/keys", {"permissions": ["send"], "description": f"{n}"}, ADMIN
        )
        if created.status != 201:
            errors.append(f"create: {created.status}")
            continue
        key_id = created.json()["id"]
        renamed = server.request(
            "PATCH", f"/v1/keys/{key_id}", {"description": f"{n}!"}, ADMIN
        )
        if renamed.status != 200:
            errors.append(f"patch: {renamed.status}")


def test_concurrent_instances_build_one_chain_signed_once_per_threshold(
    instances: list[GunicornServer], postgres_url: str
) -> None:
    errors: list[str] = []
    threads = [
        threading.Thread(target=write_keys, args=(instances[n % 2], errors))
        for n in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    events = [
        position
        for (position,) in peek(
            postgres_url,
            "SELECT notification_id FROM stored_events ORDER BY notification_id",
        )
    ]
    links = peek(
        postgres_url,
        "SELECT position, seq, hash FROM keyledger_chain ORDER BY position",
    )
    checkpoints = peek(
        postgres_url,
        "SELECT position, seq, hash FROM keyledger_checkpoints ORDER BY position",
    )
    total = 2 * WRITERS * KEYS_PER_WRITER
    assert len(events) == total
    assert [position for position, _, _ in links] == events  # every event linked
    assert [seq for _, seq, _ in links] == list(range(1, total + 1))  # no fork
    assert [seq for _, seq, _ in checkpoints] == list(range(EVERY, total + 1, EVERY))
    by_position = {position: hash for position, _, hash in links}
    assert all(by_position[position] == hash for position, _, hash in checkpoints)
    for server in instances:
        verdict = server.request("GET", "/v1/audit/verify", None, ADMIN).json()
        assert verdict["verified"], verdict
        assert verdict["events"] == total
        assert verdict["signed_through"] == checkpoints[-1][0]
