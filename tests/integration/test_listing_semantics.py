"""Listing, search and the audit feed answer exactly what a brute-force
filter over the same keys and events answers, whichever way they are
found (rare side first or the walk), page by page, on both stores; a store
made before the search index and audit marks is upgraded in place, and a
rebuild gives the same answers."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain import AuditContext, recording_as
from domain.values import key_status
from projections.audit_marks import AuditMarks
from projections.key_listing import PROBE_KEYS, KeyFilter, KeyListing
from projections.key_search import PAD, search_table, vocabulary_table
from projections.key_state import KeyRow
from projections.queries import AuditFilter
from projections.sql import AUDIT_MARKS_TABLE, AUDIT_TABLE, KEYS_TABLE
from service.ledger import KeyChanges
from service.wiring import Services, prepare_store

DESCRIPTIONS = [
    "Zebra crossing",
    "zebra",
    "ZEBRA-x",
    "50% off",
    "a%b",
    "a_b",
    "axb",
    "under_score",
    "back\\slash",
    'say "hi" now',
    "plain",
    "pla",
    "ab",
    "",
    "q",
    "Qu",
    "café crème",
]
TEXTS = [None, "zebra", "ZEB", "%", "_", "\\", "a_b", "a%b", "ab", "pla", "x", "none"]
TEXTS += ['"hi"', 'y "h']
# One and two characters: at the start, the end, inside, the whole
# description, upper case, not ASCII, absent, common.
TEXTS += ["q", "Q", "qu", "ow", "b", "é", "è ", "a", "zz", '"', " "]


def _fill(services: Services) -> datetime:
    """Keys of every description, status and expiry, some renamed, one
    deleted, one deleted and restored; returns when they were made."""
    ledger = services.ledger
    start = ledger.clock().replace(microsecond=0)
    expiries = [None, start + timedelta(seconds=10), start + timedelta(hours=1)]
    with recording_as(AuditContext("alice")):
        ids = []
        for n, (text, expires_at) in enumerate(
            itertools.product(DESCRIPTIONS, expiries)
        ):
            key = ledger.create_key(
                permissions=["send"],
                description=text,
                expires_at=None if expires_at is None else expires_at.isoformat(),
            ).key
            ids.append(key.id)
            if n % 4 == 1:
                ledger.disable_key(key.id)
            if n % 7 == 3:
                ledger.update_key(key.id, KeyChanges({"description": f"{text} zebra"}))
        ledger.delete_key(ids[5])
        ledger.delete_key(ids[6])
        ledger.restore_key(ids[6])
    return start


def _expected(rows: list[KeyRow], selection: KeyFilter, now: datetime) -> list[KeyRow]:
    def admitted(row: KeyRow) -> bool:
        status = key_status(row.enabled, row.expires_at, now).value
        if selection.status is not None and status != selection.status:
            return False
        if selection.text and selection.text.lower() not in row.description.lower():
            return False
        if selection.expires_before is not None:
            return (
                row.expires_at is not None
                and row.expires_at <= selection.expires_before
            )
        return True

    return [row for row in rows if admitted(row)]


def _all_pages(listing: KeyListing, selection: KeyFilter, now: datetime) -> list[Any]:
    found: list[KeyRow] = []
    after = None
    while True:
        page = listing.list_keys(selection, now=now, limit=7, after=after)
        found += page
        if len(page) < 7:
            return found
        after = (page[-1].created_at, page[-1].key_id)


def _check_listings(services: Services, start: datetime, caps: list[int]) -> int:
    recorder = services.ledger.ledger_recorder
    everything = services.ledger.read_model.list_keys(
        KeyFilter(), now=start, limit=1000
    )
    assert everything == sorted(
        everything, key=lambda row: (row.created_at, str(row.key_id)), reverse=True
    )
    checked = 0
    # Short searches probe first on SQLite only (PostgreSQL walks them).
    probes = [1, 5, PROBE_KEYS] if recorder.dialect.name == "sqlite" else [PROBE_KEYS]
    for cap, probe in itertools.product(caps, probes):
        listing = KeyListing(
            recorder.dialect, recorder.read_transaction, rare_cap=cap, probe_keys=probe
        )
        for now in (start, start + timedelta(seconds=30)):
            for status, text, before in itertools.product(
                [None, "enabled", "disabled", "expired"],
                TEXTS,
                [None, start + timedelta(seconds=20)],
            ):
                selection = KeyFilter(status, text, before)
                found = _all_pages(listing, selection, now)
                expected = _expected(everything, selection, now)
                assert found == expected, (cap, probe, selection)
                checked += 1
    return checked


def test_listing_agrees_with_a_brute_force_filter(services: Services) -> None:
    start = _fill(services)
    assert _check_listings(services, start, caps=[0, 4, 1000]) > 0


def test_a_store_made_before_the_indexes_is_upgraded_in_place(
    services: Services,
) -> None:
    start = _fill(services)
    recorder = services.ledger.ledger_recorder
    d = recorder.dialect
    # Back to the schema of the release before: no search index, no marks,
    # no status indexes.
    with recorder.write_transaction() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {d.table(search_table(KEYS_TABLE))}")
        cursor.execute(f"DROP TABLE {d.table(AUDIT_MARKS_TABLE)}")
        for index in ("status_newest", "status_expiry", "description_trgm"):
            cursor.execute(f"DROP INDEX IF EXISTS {d.table(f'{KEYS_TABLE}_{index}')}")
    prepare_store(services)
    prepare_store(services)  # idempotent
    with recorder.read_transaction() as cursor:
        cursor.execute(f"SELECT COUNT(*) AS n FROM {d.table(KEYS_TABLE)}")
        keys = cursor.fetchone()["n"]
        if d.name == "sqlite":
            cursor.execute(
                f"SELECT COUNT(*) AS n FROM {d.table(search_table(KEYS_TABLE))}"
            )
            assert cursor.fetchone()["n"] == keys
        cursor.execute(f"SELECT COUNT(*) AS n FROM {d.table(AUDIT_MARKS_TABLE)}")
        assert cursor.fetchone()["n"] >= 1
    _check_listings(services, start, caps=[1000])
    _check_audit_ranges(services)


def test_a_search_index_filled_before_padding_is_refilled(
    services: Services,
) -> None:
    start = _fill(services)
    recorder = services.ledger.ledger_recorder
    d = recorder.dialect
    if d.name != "sqlite":
        pytest.skip("the padded search index is SQLite's")
    search = d.table(search_table(KEYS_TABLE))
    # The release before: descriptions indexed as they are, no vocabulary.
    with recorder.write_transaction() as cursor:
        cursor.execute(
            f"UPDATE {search} SET description = rtrim(description, ?)", (PAD,)
        )
        cursor.execute(f"DROP TABLE {d.table(vocabulary_table(KEYS_TABLE))}")
    prepare_store(services)
    with recorder.read_transaction() as cursor:
        cursor.execute(f"SELECT description FROM {search}")
        stored = [row["description"] for row in cursor.fetchall()]
    assert stored
    assert all(text.endswith(PAD) for text in stored)
    _check_listings(services, start, caps=[1000])


def test_a_rebuild_gives_the_same_search_results(services: Services) -> None:
    start = _fill(services)
    recorder = services.ledger.ledger_recorder
    listing = KeyListing(recorder.dialect, recorder.read_transaction)
    before = {t: _all_pages(listing, KeyFilter(text=t), start) for t in TEXTS}
    recorder.rebuild()
    assert {t: _all_pages(listing, KeyFilter(text=t), start) for t in TEXTS} == before
    _check_listings(services, start, caps=[1000])


def _check_audit_ranges(services: Services) -> None:
    read_model = services.ledger.read_model
    history = list(read_model.audit_stream(AuditFilter()))
    times = sorted({entry.occurred_at for entry in history})
    probes = [times[0] - timedelta(seconds=1), *times[:: max(1, len(times) // 9)]]
    probes.append(times[-1] + timedelta(seconds=1))
    for since, until in itertools.product([None, *probes], [None, *probes]):
        for after in (0, len(history) // 2):
            selection = AuditFilter(since=since, until=until)
            page = read_model.audit_page(selection, after=after, limit=1000)
            expected = [
                e
                for e in history
                if e.notification_id > after
                and (since is None or e.occurred_at >= since)
                and (until is None or e.occurred_at <= until)
            ]
            assert page == expected, (since, until, after)


def test_audit_time_ranges_agree_with_a_brute_force_filter(services: Services) -> None:
    _fill(services)
    _check_audit_ranges(services)


@pytest.mark.parametrize("every", [1, 3, 10])
def test_audit_marks_bound_out_of_order_times(services: Services, every: int) -> None:
    """Times that go back and forth (writers' clocks disagree): the marks'
    bounds still hold every event of the range, and stay close to it."""
    recorder = services.ledger.ledger_recorder
    d = recorder.dialect
    marks = AuditMarks(d, every=every)
    # Times rise with the number, each off by up to 7 steps either way.
    times = [10 * n + (n * 7919) % 15 * 10 - 70 for n in range(1, 201)]
    batches = [3, 1, 5, 2, 8, 1, 1, 4]
    insert = d.sql(
        f"INSERT INTO {d.table(AUDIT_TABLE)} (notification_id, key_id, version, "
        "type, occurred_at, actor, changes) VALUES (?, ?, 1, 'Created', ?, 'a', '{}')"
    )
    position = 0
    for size in itertools.cycle(batches):
        if position >= len(times):
            break
        upto = min(len(times), position + size)
        with recorder.write_transaction() as cursor:
            for n in range(position + 1, upto + 1):
                cursor.execute(insert, (n, f"k{n}", times[n - 1]))
            marks.recorded(cursor, position, upto)
        position = upto
    slack = 2 * every + max(batches)
    with recorder.read_transaction() as cursor:
        for moment in range(min(times) - 20, max(times) + 20, 5):
            at_or_after = [n for n, t in enumerate(times, 1) if t >= moment]
            at_or_before = [n for n, t in enumerate(times, 1) if t <= moment]
            start = marks.start(cursor, moment)
            if at_or_after:
                assert start < min(at_or_after)
                assert start >= min(at_or_after) - slack
            end = marks.end(cursor, moment)
            if end is not None:
                assert not at_or_before or end >= max(at_or_before)
                assert all(t > moment for t in times[end:])
            if at_or_before and max(at_or_before) < len(times) - slack:
                assert end is not None
                assert end <= max(at_or_before) + slack
