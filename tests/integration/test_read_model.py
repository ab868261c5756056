"""The current-state and audit read model on a real store (SQLite file and
PostgreSQL): what the live projection writes equals a replay of the log, a
read model left behind is caught up, and its lag is reported."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from flask import Flask

from domain import AuditContext, recording_as
from projections import projecting_recorder
from projections.key_search import search_table
from projections.projecting_recorder import ProjectingRecorder
from projections.sql import (
    AUDIT_TABLE,
    KEYS_TABLE,
    POSITION_TABLE,
    SECRET_INDEX_TABLE,
)
from service.ledger import KeyChanges, KeyLedger
from service.usage import ALLOWED, HOUR, UsageCounter, UsageFlusher
from service.usage_store import LAST_USE_TABLE, USAGE_TABLE
from service.wiring import Services
from tests.support.credentials import ADMIN_TOKEN
from tests.support.http import bearer

KEY_COUNT = 30
# Every table the live writer writes and a rebuild replaces.
READ_MODEL_TABLES = (KEYS_TABLE, AUDIT_TABLE, SECRET_INDEX_TABLE)
Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(autouse=True)
def as_operator() -> Iterator[None]:
    with recording_as(AuditContext("alice", "192.0.2.10", "req-read-model")):
        yield


def recorder_of(services: Services) -> ProjectingRecorder:
    return services.ledger.ledger_recorder


def snapshot(recorder: ProjectingRecorder) -> Snapshot:
    """Every read-model table's full contents, as sorted lists of rows."""
    tables: Snapshot = {}
    d = recorder.dialect
    read = {table: "*" for table in READ_MODEL_TABLES}
    if d.name == "sqlite":  # the description search, with the row id it keys
        read[search_table(KEYS_TABLE)] = "rowid AS search_rowid, *"
    with recorder.read_transaction() as cursor:
        for table, columns in read.items():
            cursor.execute(f"SELECT {columns} FROM {d.table(table)}")
            rows = cursor.fetchall()  # type: ignore[attr-defined]
            tables[table] = sorted(tuple(sorted(dict(row).items())) for row in rows)
    return tables


def event_count(recorder: ProjectingRecorder) -> int:
    with recorder.read_transaction() as cursor:
        return recorder._max_id(cursor)


def fall_behind(recorder: ProjectingRecorder) -> None:
    """A store whose read model lost everything: empty tables, position 0."""
    d = recorder.dialect
    with recorder.write_transaction() as cursor:
        cursor.execute(f"DELETE FROM {d.table(KEYS_TABLE)}")
        cursor.execute(f"DELETE FROM {d.table(AUDIT_TABLE)}")
        cursor.execute(f"DELETE FROM {d.table(SECRET_INDEX_TABLE)}")
        if d.name == "sqlite":  # the description search, beside the keys
            cursor.execute(f"DELETE FROM {d.table(search_table(KEYS_TABLE))}")
        cursor.execute(f"UPDATE {d.table(POSITION_TABLE)} SET position = 0")


def varied_lifecycle(ledger: KeyLedger, count: int = KEY_COUNT) -> list[UUID]:
    """Every kind of event, over ``count`` keys, deterministically mixed."""
    chooser = random.Random(3)
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=90)
    key_ids: list[UUID] = []
    for n in range(count):
        issued = ledger.create_key(
            description=f"key {n}",
            expires_at=None if n % 3 else later.isoformat(),
            ip_whitelist=["203.0.113.0/24", "2001:db8::7"] if n % 2 else [],
            permissions=["send", "verify"] if n % 4 else ["verify"],
        )
        key_ids.append(issued.key.id)
    for n, key_id in enumerate(key_ids):
        steps = [
            lambda k: ledger.update_key(k, KeyChanges({"description": "renamed"})),
            lambda k: ledger.update_key(
                k, KeyChanges({"expires_at": (later + timedelta(days=1)).isoformat()})
            ),
            lambda k: ledger.update_key(
                k, KeyChanges({"ip_whitelist": ["198.51.100.0/24"]})
            ),
            lambda k: ledger.update_key(k, KeyChanges({"permissions": ["send"]})),
            lambda k: ledger.update_key(
                k, KeyChanges({"description": "both", "permissions": ["verify"]})
            ),
            ledger.reset_secret,
            lambda k: ledger.roll_secret(k, 3600),
            lambda k: ledger.roll_secret(k, 60),
            ledger.reveal_secret,
            ledger.disable_key,
            ledger.enable_key,
        ]
        for step in chooser.sample(steps, k=chooser.randint(1, len(steps))):
            step(key_id)
        if n % 7 == 0:
            ledger.delete_key(key_id)
        if n % 14 == 0:  # back, disabled, with a new secret rolled in
            ledger.restore_key(key_id)
            ledger.roll_secret(key_id, 600)
    return key_ids


def deleted_for_good(count: int = KEY_COUNT) -> int:
    return sum(1 for n in range(count) if n % 7 == 0 and n % 14 != 0)


# The default batch folds the whole lifecycle at once; small ones also send
# updates and deletions of keys created in an earlier batch to stored rows.
@pytest.mark.parametrize("batch", [projecting_recorder.REBUILD_BATCH, 7, 3, 1])
def test_rebuild_equals_the_live_projection(
    services: Services, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(projecting_recorder, "REBUILD_BATCH", batch)
    varied_lifecycle(services.ledger)
    recorder = recorder_of(services)
    live = snapshot(recorder)
    assert recorder.rebuild() == event_count(recorder)
    assert snapshot(recorder) == live
    # Deleted keys lose their row but keep their audit trail.
    assert len(live[KEYS_TABLE]) == KEY_COUNT - deleted_for_good()
    # Every secret ever issued, rolled and reset ones too.
    assert len(live[SECRET_INDEX_TABLE]) > KEY_COUNT
    assert len(live[AUDIT_TABLE]) == event_count(recorder)


def test_catch_up_restores_a_read_model_that_fell_behind(services: Services) -> None:
    varied_lifecycle(services.ledger)
    recorder = recorder_of(services)
    live = snapshot(recorder)
    fall_behind(recorder)
    assert recorder.catch_up() == event_count(recorder)
    assert snapshot(recorder) == live
    assert recorder.view_lag() == 0


def test_a_write_on_a_read_model_behind_catches_it_up_first(
    services: Services,
) -> None:
    key_ids = varied_lifecycle(services.ledger, count=10)
    recorder = recorder_of(services)
    fall_behind(recorder)
    services.ledger.update_key(key_ids[1], KeyChanges({"description": "after"}))
    assert recorder.view_lag() == 0
    caught_up = snapshot(recorder)
    recorder.rebuild()
    assert snapshot(recorder) == caught_up
    assert services.ledger.read_model.key(key_ids[1]).description == "after"  # type: ignore[union-attr]


def test_view_lag_is_zero_after_writes(services: Services) -> None:
    varied_lifecycle(services.ledger, count=5)
    assert recorder_of(services).view_lag() == 0


def test_view_lag_counts_the_events_a_read_model_has_not_applied(
    services: Services,
) -> None:
    varied_lifecycle(services.ledger, count=5)
    recorder = recorder_of(services)
    fall_behind(recorder)
    assert recorder.view_lag() == event_count(recorder) > 0


def test_healthz_reports_the_read_model_lag(app: Flask) -> None:
    client = app.test_client()
    services: Services = app.extensions["keyledger"]
    for _ in range(3):
        created = client.post(
            "/v1/keys", json={"permissions": ["send"]}, headers=bearer(ADMIN_TOKEN)
        )
        assert created.status_code == 201
    in_step = client.get("/healthz")
    fall_behind(recorder_of(services))
    behind = client.get("/healthz")
    assert (in_step.status_code, in_step.json["read_model_lag"]) == (200, 0)
    assert (behind.status_code, behind.json["read_model_lag"]) == (200, 3)


def test_a_rebuild_leaves_usage_counts_alone(services: Services) -> None:
    """Usage is counted from auth calls, not from events: no replay could
    bring it back, so a rebuild never touches its tables."""
    key_ids = varied_lifecycle(services.ledger, count=5)
    counter = UsageCounter()
    hour = 1_900_000_000 - 1_900_000_000 % HOUR
    for n, key_id in enumerate(key_ids):
        counter.count(str(key_id), ALLOWED, hour + n)
    assert UsageFlusher(counter, services.usage.add, interval=10).flush()
    recorder = recorder_of(services)

    def usage_rows() -> Snapshot:
        tables: Snapshot = {}
        with recorder.read_transaction() as cursor:
            for table in (USAGE_TABLE, LAST_USE_TABLE):
                cursor.execute(f"SELECT * FROM {recorder.dialect.table(table)}")
                rows = cursor.fetchall()  # type: ignore[attr-defined]
                tables[table] = sorted(tuple(sorted(dict(r).items())) for r in rows)
        return tables

    before = usage_rows()
    recorder.rebuild()
    assert usage_rows() == before
    assert len(before[USAGE_TABLE]) == len(key_ids)
