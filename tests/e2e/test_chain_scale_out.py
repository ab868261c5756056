"""Two PostgreSQL instances (real gunicorns, two workers each) writing at
once build one audit chain: no fork, no event without its link, and each
checkpoint threshold signed exactly once, whichever process crossed it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.conftest import ADMIN_TOKEN, POSTGRES_URL, SECRET_KEY
from tests.support.gunicorn import GunicornServer, bearer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ADMIN = bearer(ADMIN_TOKEN)
EVERY = 20
WRITERS = 8
KEYS_PER_WRITER = 12  # each created, then renamed: two events


@pytest.fixture
def instances(postgres_url: str, tmp_path: Path) -> Iterator[list[GunicornServer]]:
    env = {
        "KEYLEDGER_DATABASE_URL": postgres_url,
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        "KEYLEDGER_AUDIT_CHECKPOINT_EVERY": str(EVERY),
        "KEYLEDGER_POSTGRES_POOL_SIZE": "2",
        "KEYLEDGER_POSTGRES_MAX_OVERFLOW": "3",
    }
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

    schema = parse_qs(urlsplit(postgres_url).query)["schema"][0]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        events = [
            p
            for (p,) in conn.execute(
                "SELECT notification_id FROM stored_events ORDER BY notification_id"
            )
        ]
        links = conn.execute(
            "SELECT position, seq, hash FROM keyledger_chain ORDER BY position"
        ).fetchall()
        checkpoints = conn.execute(
            "SELECT position, seq, hash FROM keyledger_checkpoints ORDER BY position"
        ).fetchall()

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
