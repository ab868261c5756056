"""The audit chain against someone with write access to the database.

Each test records a small history through the real ledger on a real store,
then edits the database directly, as an attacker with database credentials
but without the checkpoint signing key would, and expects verification to
name the first bad position. Checkpoints are made every 10 events here
(KEYLEDGER_AUDIT_CHECKPOINT_EVERY), so 30 events carry three of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain import AuditContext, recording_as
from projections.chain_store import AuditChain
from projections.chain_verify import Verdict
from projections.checkpoints import CheckpointSigner
from projections.projecting_recorder import ProjectingRecorder
from service.wiring import Services
from tests.conftest import open_services
from tests.support.sql import POSTGRES_URL

KEYS = 15  # each created, then disabled: 30 events, key n at 2n-1 and 2n
EVERY = 10


class RawStore:
    """Direct access to the database, bypassing keyledger entirely."""

    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        if database_url.startswith("sqlite:///"):
            self.kind, self.path = "sqlite", database_url[len("sqlite:///") :]
            self.pos = "rowid"
        else:
            self.kind, self.path = "postgres", ""
            self.schema = parse_qs(parts.query)["schema"][0]
            self.pos = "notification_id"

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as conn:
                return conn.execute(statement, params).fetchall()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            cursor = conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def event(self, position: int) -> tuple[Any, ...]:
        return self.sql(
            f"SELECT originator_id, originator_version, topic, state "
            f"FROM stored_events WHERE {self.pos} = ?",
            position,
        )[0]

    def renumber(self, table: str, column: str, old: int, new: int) -> None:
        self.sql(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", new, old)

    def move_all(self, old: int, new: int) -> None:
        """Moves an event with its audit entry and link to another position."""
        self.renumber("stored_events", self.pos, old, new)
        self.renumber("keyledger_audit", "notification_id", old, new)
        self.renumber("keyledger_chain", "position", old, new)

    def delete_all(self, position: int) -> None:
        self.sql(f"DELETE FROM stored_events WHERE {self.pos} = ?", position)
        self.sql("DELETE FROM keyledger_audit WHERE notification_id = ?", position)
        self.sql("DELETE FROM keyledger_chain WHERE position = ?", position)


@pytest.fixture
def services(config: dict[str, Any]) -> Iterator[Services]:
    built = open_services({**config, "audit_checkpoint_every": EVERY})
    with recording_as(AuditContext("alice", "192.0.2.10", "req-1")):
        for n in range(KEYS):
            issued = built.ledger.create_key(permissions=["send"], description=f"k{n}")
            built.ledger.disable_key(issued.key.id)
    yield built
    built.close()


@pytest.fixture
def raw(database_url: str) -> RawStore:
    return RawStore(database_url)


def recorder(services: Services) -> ProjectingRecorder:
    return services.ledger.ledger_recorder


def verify(services: Services) -> Verdict:
    keys = services.ledger.signing_keys
    assert keys is not None
    return recorder(services).verify_chain(keys.verification)


def bad_position(services: Services) -> int:
    verdict = verify(services)
    assert not verdict.verified
    assert verdict.problem is not None
    return verdict.problem.position


def test_an_untouched_store_verifies_with_every_checkpoint(services: Services) -> None:
    verdict = verify(services)

    assert verdict.as_body()["problem"] is None
    assert (verdict.events, verdict.head_position) == (2 * KEYS, 2 * KEYS)
    assert verdict.signed_through == 2 * KEYS
    with recorder(services).read_transaction() as cursor:
        checkpoints = recorder(services).chain.checkpoints(cursor)
    assert [c.position for c in checkpoints] == [10, 20, 30]


def test_a_flipped_byte_in_one_stored_event(services: Services, raw: RawStore) -> None:
    state = bytearray(raw.event(14)[3])
    state[len(state) // 2] ^= 0x01
    raw.sql(f"UPDATE stored_events SET state = ? WHERE {raw.pos} = 14", bytes(state))

    assert bad_position(services) == 14


def test_an_edited_audit_entry(services: Services, raw: RawStore) -> None:
    raw.sql("UPDATE keyledger_audit SET actor = 'mallory' WHERE notification_id = 7")

    assert bad_position(services) == 7


def test_a_deleted_event_breaks_the_link_after_it(
    services: Services, raw: RawStore
) -> None:
    raw.delete_all(14)

    assert bad_position(services) == 15


def test_a_deleted_checkpointed_event_is_named_by_its_checkpoint(
    services: Services, raw: RawStore
) -> None:
    raw.delete_all(20)

    assert bad_position(services) == 20


def test_an_inserted_event(services: Services, raw: RawStore) -> None:
    for position in range(2 * KEYS, 14, -1):  # make room at 15
        raw.move_all(position, position + 1)
    _, _, topic, state = raw.event(1)
    forged = uuid4()
    key = forged.hex if raw.kind == "sqlite" else forged
    raw.sql(
        f"INSERT INTO stored_events ({raw.pos}, originator_id, originator_version, "
        "topic, state) VALUES (15, ?, 1, ?, ?)",
        key,
        topic,
        state,
    )
    raw.sql(
        "INSERT INTO keyledger_audit SELECT 15, ?, version, type, occurred_at, "
        "actor, source_ip, request_id, changes FROM keyledger_audit "
        "WHERE notification_id = 1",
        str(forged),
    )

    assert bad_position(services) == 15


def test_an_event_appended_behind_the_chain_s_back(
    services: Services, raw: RawStore
) -> None:
    _, _, topic, state = raw.event(1)
    forged = uuid4()
    raw.sql(
        f"INSERT INTO stored_events ({raw.pos}, originator_id, originator_version, "
        "topic, state) VALUES (31, ?, 1, ?, ?)",
        forged.hex if raw.kind == "sqlite" else forged,
        topic,
        state,
    )
    raw.sql(
        "INSERT INTO keyledger_audit SELECT 31, ?, version, type, occurred_at, "
        "actor, source_ip, request_id, changes FROM keyledger_audit "
        "WHERE notification_id = 1",
        str(forged),
    )

    assert bad_position(services) == 31


def test_two_events_swapped(services: Services, raw: RawStore) -> None:
    raw.move_all(12, 1000)
    raw.move_all(13, 12)
    raw.move_all(1000, 13)

    assert bad_position(services) == 12


def _rewrite_chain_from(services: Services, raw: RawStore, position: int) -> None:
    """What an attacker without the signing key can do: recompute every
    link after an edit with the published algorithm."""
    raw.sql("DELETE FROM keyledger_chain WHERE position >= ?", position)
    rec = recorder(services)
    chain = rec.chain
    forger = AuditChain(
        rec.dialect, chain.events_table, chain.events_position, None, chain.clock
    )
    with rec.write_transaction() as cursor:
        forger.link_stored(cursor, limit=1000)


def test_an_edit_with_the_chain_recomputed_fails_the_next_checkpoint(
    services: Services, raw: RawStore
) -> None:
    raw.sql("UPDATE keyledger_audit SET actor = 'mallory' WHERE notification_id = 14")
    _rewrite_chain_from(services, raw, 14)

    assert bad_position(services) == 20


def test_checkpoints_re_signed_without_the_signing_key(
    services: Services, raw: RawStore
) -> None:
    raw.sql("UPDATE keyledger_audit SET actor = 'mallory' WHERE notification_id = 14")
    _rewrite_chain_from(services, raw, 14)
    forger = CheckpointSigner(Ed25519PrivateKey.generate())
    now = recorder(services).chain.clock()
    signed = raw.sql("SELECT position FROM keyledger_checkpoints WHERE position >= 14")
    for (position,) in signed:
        [(link,)] = raw.sql(
            "SELECT hash FROM keyledger_chain WHERE position = ?", position
        )
        forged = forger.sign(position, link, now)
        raw.sql(
            "UPDATE keyledger_checkpoints SET hash = ?, signing_key_id = ?, "
            "signature = ? WHERE position = ?",
            forged.hash,
            forged.signing_key_id,
            forged.signature,
            position,
        )

    verdict = verify(services)
    assert verdict.problem is not None
    assert verdict.problem.position == 20
    assert "unknown key" in verdict.problem.what


def test_a_checkpoint_hash_edited_under_the_real_key_id(
    services: Services, raw: RawStore
) -> None:
    raw.sql("UPDATE keyledger_audit SET actor = 'mallory' WHERE notification_id = 14")
    _rewrite_chain_from(services, raw, 14)
    raw.sql(
        "UPDATE keyledger_checkpoints SET hash = (SELECT hash FROM keyledger_chain "
        "WHERE position = 20) WHERE position = 20"
    )

    verdict = verify(services)
    assert verdict.problem is not None
    assert verdict.problem.position == 20
    assert "signature" in verdict.problem.what


def test_events_removed_from_the_end_are_named_by_a_later_checkpoint(
    services: Services, raw: RawStore
) -> None:
    for position in range(21, 2 * KEYS + 1):
        raw.delete_all(position)

    assert bad_position(services) == 30


# Upgrades and maintenance.


def test_a_store_without_a_chain_gains_one_when_prepared(
    services: Services, config: dict[str, Any], raw: RawStore
) -> None:
    services.close()
    raw.sql("DROP TABLE keyledger_chain")
    raw.sql("DROP TABLE keyledger_checkpoints")

    upgraded = open_services({**config, "audit_checkpoint_every": EVERY})
    try:
        verdict = verify(upgraded)
        assert verdict.verified
        assert (verdict.events, verdict.signed_through) == (2 * KEYS, 2 * KEYS)
    finally:
        upgraded.close()


def test_events_recorded_by_an_older_version_are_linked_by_the_next_write(
    services: Services, raw: RawStore
) -> None:
    raw.sql("DELETE FROM keyledger_chain WHERE position > 27")
    raw.sql("DELETE FROM keyledger_checkpoints WHERE position > 27")
    with recording_as(AuditContext("bob")):
        services.ledger.create_key(permissions=["verify"])

    verdict = verify(services)
    assert verdict.verified
    assert verdict.head_position == 2 * KEYS + 1


def test_a_read_model_rebuild_keeps_the_chain(services: Services) -> None:
    recorder(services).rebuild()

    assert verify(services).verified


def test_a_quiet_store_is_signed_once_ten_minutes_have_passed(
    services: Services,
) -> None:
    rec = recorder(services)
    with recording_as(AuditContext("bob")):
        services.ledger.create_key(permissions=["verify"])
    assert not rec.checkpoint_if_due()
    now = rec.chain.clock
    rec.chain.clock = lambda: now() + timedelta(minutes=10, seconds=1)

    assert rec.checkpoint_if_due()
    assert not rec.checkpoint_if_due()  # signed once
    assert verify(services).signed_through == 2 * KEYS + 1
