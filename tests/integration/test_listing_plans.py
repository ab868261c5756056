"""How each store answers listing, search and the audit feed: every
statement these queries run is an index seek or an ordered index walk,
never a scan of the keys or the audit log (docs/listing-at-scale.md).

The statements are the ones the real queries execute, recorded as they run,
through both ways of answering a listing (rare side first, and the walk:
``rare_cap=0`` forces it). On PostgreSQL the keys table first gets 20,000
more rows and fresh statistics, so the planner prices plans as it would on
a real store; sequential scans are priced out besides.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import AuditContext, recording_as
from projections.key_listing import KeyFilter, KeyListing
from projections.queries import AuditFilter, ReadModelQueries
from projections.sql import AUDIT_TABLE, KEYS_TABLE
from service.wiring import Services
from tests.support.plans import Recording, plans

FILLER_ROWS = 20_000
LATER = datetime(2100, 1, 1, tzinfo=UTC)


def _fill(services: Services) -> datetime:
    """A dozen keys of every status, some described with "zebra"; returns
    the moment the listings are asked at (some keys have expired by then)."""
    ledger = services.ledger
    start = ledger.clock().replace(microsecond=0)
    with recording_as(AuditContext("alice")):
        for n in range(12):
            key = ledger.create_key(
                permissions=["send"],
                description=f"key {n} {'zebra' if n % 4 == 0 else 'plain'}",
                expires_at=(start + timedelta(hours=1)).isoformat()
                if n % 3 == 0
                else None,
            ).key
            if n % 5 == 0:
                ledger.disable_key(key.id)
    recorder = services.ledger.ledger_recorder
    if recorder.dialect.name == "postgres":
        keys = recorder.dialect.table(KEYS_TABLE)
        with recorder.write_transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {keys} (key_id, dev_key, secret_hash, description, "
                "expires_at, ip_whitelist, permissions, enabled, created_at, "
                "updated_at, version) SELECT md5(n::text)::uuid::text, "
                "'filler' || n, 'x', 'filler ' || n || ' plain', "
                "CASE WHEN n %% 2 = 0 THEN 4102444800 END, '[]', '[]', "
                "CASE WHEN n %% 10 = 0 THEN 0 ELSE 1 END, n, n, 1 "
                "FROM generate_series(1, %s) AS n",
                (FILLER_ROWS,),
            )
            cursor.execute(f"ANALYZE {keys}")
            # An audit log grown since its statistics were taken (none here):
            # the feed must keep to its ordered walks all the same.
            audit = recorder.dialect.table(AUDIT_TABLE)
            cursor.execute(
                f"INSERT INTO {audit} (notification_id, key_id, version, type, "
                "occurred_at, actor, changes) SELECT 1000000 + n, "
                "md5(n::text)::uuid::text, 1, 'created', n, 'operator-' || n %% 5, "
                "'{}' FROM generate_series(1, %s) AS n",
                (FILLER_ROWS,),
            )
    return start + timedelta(days=1)


FILTERS = [
    KeyFilter(),
    KeyFilter(status="enabled"),
    KeyFilter(status="disabled"),
    KeyFilter(status="expired"),
    KeyFilter(text="zebra"),
    KeyFilter(text="ze"),
    KeyFilter(text="plain"),
    KeyFilter(status="disabled", text="zebra"),
    KeyFilter(expires_before=LATER),
    KeyFilter(status="enabled", text="zeb", expires_before=LATER),
]


def _assert_no_scan(dialect: str, statement: str, steps: str) -> None:
    """No full scan; a walk in (created_at, key_id) order never sorts."""
    walk = "ORDER BY created_at DESC" in statement and "listed" not in statement
    if dialect == "sqlite":
        assert not re.search(r"^SCAN keyledger_(keys|audit)\b(?! USING)", steps, re.M)
        if walk or "keyledger_audit " in statement:
            assert "TEMP B-TREE" not in steps
    else:
        assert "Seq Scan" not in steps
        if walk or 'keyledger_audit" ' in statement:
            assert "Sort" not in steps
            assert "Bitmap" not in steps


@pytest.mark.parametrize("rare_cap", [1000, 0])
def test_listing_seeks_or_walks_an_index(services: Services, rare_cap: int) -> None:
    now = _fill(services)
    recorder = services.ledger.ledger_recorder
    recording = Recording(recorder.read_transaction)
    listing = KeyListing(recorder.dialect, recording, rare_cap=rare_cap)
    first = listing.list_keys(KeyFilter(), now=now, limit=3)
    cursors: list[Any] = [None, (first[-1].created_at, first[-1].key_id)]
    seen = 0
    for selection in FILTERS:
        for after in cursors:
            recording.statements.clear()
            listing.list_keys(selection, now=now, limit=3, after=after)
            for statement, steps in plans(
                recorder.dialect, recorder.read_transaction, recording.statements
            ):
                _assert_no_scan(recorder.dialect.name, statement, steps)
                seen += 1
    assert seen >= 2 * len(FILTERS)


def test_rare_side_statements_use_their_own_indexes(services: Services) -> None:
    now = _fill(services)
    recorder = services.ledger.ledger_recorder
    recording = Recording(recorder.read_transaction)
    listing = KeyListing(recorder.dialect, recording)
    expected = {
        KeyFilter(text="zebra"): "keyledger_keys_search"
        if recorder.dialect.name == "sqlite"
        else "keyledger_keys_description_trgm",
        # Either expiry index is a seek on the expired range.
        KeyFilter(status="expired"): "keyledger_keys_(status_)?expiry",
        KeyFilter(status="disabled"): "keyledger_keys_status_newest",
        # Most keys are enabled: either newest-first walk finds them at once.
        KeyFilter(status="enabled"): "keyledger_keys_(status_)?newest",
        KeyFilter(): "keyledger_keys_newest",
    }
    for selection, index in expected.items():
        recording.statements.clear()
        listing.list_keys(selection, now=now, limit=3)
        planned = plans(
            recorder.dialect, recorder.read_transaction, recording.statements
        )
        assert re.search(index, planned[0][1]), (selection, planned)


@pytest.mark.parametrize("text", ["ze", "z", "qq"])
def test_short_patterns_are_looked_up_in_the_search_vocabulary(
    services: Services, text: str
) -> None:
    """SQLite: one or two characters read a range of the index's terms, then
    the keys holding them; never the newest-first walk over every key."""
    now = _fill(services)
    recorder = services.ledger.ledger_recorder
    if recorder.dialect.name != "sqlite":
        pytest.skip("PostgreSQL walks for patterns shorter than a trigram")
    recording = Recording(recorder.read_transaction)
    # A probe of one key: the page is not there, so the vocabulary is read.
    listing = KeyListing(recorder.dialect, recording, probe_keys=1)
    found = listing.list_keys(KeyFilter(text=text), now=now, limit=3)
    planned = plans(recorder.dialect, recorder.read_transaction, recording.statements)
    vocabulary = [steps for statement, steps in planned if "_vocab" in statement]
    assert len(vocabulary) == 1
    # A range of terms (constraints passed to fts5vocab), not all of them.
    assert re.search(r"VIRTUAL TABLE INDEX [1-9]", vocabulary[0]), vocabulary
    # Only the probe's walk, bounded by its edge; never the open walk.
    walks = [
        statement
        for statement, _ in planned
        if "ORDER BY created_at DESC" in statement
        and "listed" not in statement
        and "OFFSET" not in statement
    ]
    assert len(walks) == 1
    assert "(created_at, key_id) >= (?, ?)" in walks[0]
    for statement, steps in planned:
        _assert_no_scan(recorder.dialect.name, statement, steps)
    assert all(text in row.description.lower() for row in found)
    assert bool(found) == (text != "qq")


def test_audit_feed_filters_seek(services: Services) -> None:
    now = _fill(services)
    recorder = services.ledger.ledger_recorder
    some_key = services.ledger.read_model.list_keys(KeyFilter(), now=now, limit=1)[0]
    recording = Recording(recorder.read_transaction)
    queries = ReadModelQueries(recorder.dialect, recording)
    start = now - timedelta(days=1)
    selections = [
        AuditFilter(),
        AuditFilter(key_id=some_key.key_id),
        AuditFilter(actor="alice"),
        AuditFilter(actor="operator-1"),
        AuditFilter(type="created"),
        AuditFilter(actor="nobody"),
        AuditFilter(type="Disabled"),
        AuditFilter(since=start),
        AuditFilter(since=now),
        AuditFilter(until=start),
        AuditFilter(until=now),
        AuditFilter(actor="alice", since=start, until=now),
    ]
    for selection in selections:
        for after in (0, 5):
            recording.statements.clear()
            queries.audit_page(selection, after=after, limit=5)
            for statement, steps in plans(
                recorder.dialect, recorder.read_transaction, recording.statements
            ):
                _assert_no_scan(recorder.dialect.name, statement, steps)
                if "keyledger_audit_marks" in statement:
                    assert "keyledger_audit_marks_" in steps, steps
