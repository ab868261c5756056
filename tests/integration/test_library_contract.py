"""What keyledger relies on in eventsourcing and psycopg_pool, pinned.

Every private name in ``projections/library_internals.py`` and every
extension point the recorders and the ledger use has a test here. When
upgrading either library, run this module first: a failure names the
behaviour that moved.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg_pool import ConnectionPool

from domain import ApiKey, AuditContext, recording_as
from projections import library_internals
from projections.library_internals import (
    LibraryContractBroken,
    check_library_contract,
    event_decoder,
    insert_stored_events,
    lock_events_table,
    prepare_pool,
)
from projections.postgres_recorder import PostgresLedgerRecorder
from projections.queries import AuditFilter
from projections.sqlite_recorder import SQLiteLedgerRecorder
from service.ledger import KeyChanges
from service.wiring import Services
from tests.conftest import open_services
from tests.fixtures.golden_events import all_golden
from tests.support.concurrency import run_together
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.sql import POSTGRES_URL, peek

OPERATOR = AuditContext("contract", "192.0.2.1", "req-contract")


def _config(url: str) -> dict[str, Any]:
    return {
        "database_url": url,
        "secret_key": SECRET_KEY,
        "bootstrap_token": ADMIN_TOKEN,
        "log_level": "WARNING",
    }


@pytest.fixture
def pg_services(postgres_url: str) -> Iterator[Services]:
    built = open_services(_config(postgres_url))
    yield built
    built.close()


def _pg_recorder(services: Services) -> PostgresLedgerRecorder:
    recorder = services.ledger.ledger_recorder
    assert isinstance(recorder, PostgresLedgerRecorder)
    return recorder


def _locks_held(cursor: Any, table: str) -> set[str]:
    cursor.execute(
        "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() "
        "AND relation = to_regclass(%s)",
        (table,),
    )
    return {row["mode"] for row in cursor.fetchall()}


# The module that holds the internals.


def test_the_installed_libraries_offer_every_internal_relied_on() -> None:
    check_library_contract()


def test_private_names_appear_only_in_the_internals_module() -> None:
    import projections
    import service

    private = (
        "_insert_stored_events",
        "_lock_table",
        "._check",
        "._record(",
        "select_max_notification_id_statement",
        "sql_create_statements",
        "_create_connection",
        "_sqlite_conn",
    )
    offenders = []
    scanned = []
    for package in (projections, service):
        for path in Path(package.__path__[0]).rglob("*.py"):
            if path.name == "library_internals.py":
                fenced = path.read_text()
                continue
            scanned.append(path.name)
            text = path.read_text()
            offenders += [f"{path.name}: {name}" for name in private if name in text]
    # The search is real: it read the packages, and the names it looks for
    # are the ones the fenced module does use.
    assert {"ledger.py", "writer.py", "main.py"} <= set(scanned)
    assert [name for name in private[:3] if name not in fenced] == []
    assert offenders == []


# eventsourcing: the documented extension points.


def test_save_hands_the_domain_events_to_the_recorder(services: Services) -> None:
    """Application.save passes its keyword arguments to insert_events, and
    the aggregate's pending_events are what it records: the recorder then
    projects without decoding (a decoder that fails proves it)."""
    recorder = services.ledger.ledger_recorder

    def refuse(*stored: object) -> ApiKey.Event:
        raise AssertionError("decoded an event the ledger handed over")

    recorder.decode = refuse
    with recording_as(OPERATOR):
        key = services.ledger.create_key(permissions=["send"]).key
        services.ledger.update_key(key.id, KeyChanges({"description": "moved"}))
    row = services.ledger.read_model.key(key.id)
    assert row is not None
    assert (row.description, row.version) == ("moved", 2)


def test_pending_events_is_public_and_holds_what_save_will_record() -> None:
    assert isinstance(inspect.getattr_static(Aggregate, "pending_events"), property)


def test_sqlite_recorder_extends_the_insert_events_hook() -> None:
    assert "_insert_events" in SQLiteLedgerRecorder.__dict__
    hook = inspect.signature(SQLiteApplicationRecorder._insert_events)
    assert list(hook.parameters)[:3] == ["self", "c", "stored_events"]
    assert any(p.kind is p.VAR_KEYWORD for p in hook.parameters.values())


def test_postgres_recorder_replaces_the_retrying_insert() -> None:
    """The library's insert_events retries; ours must be the one called."""
    assert "insert_events" in PostgresLedgerRecorder.__dict__
    assert hasattr(PostgresApplicationRecorder.insert_events, "__wrapped__")


# eventsourcing: how stored events become domain events.


def _same_event(left: Any, right: Any) -> bool:
    return type(left) is type(right) and vars(left) == vars(right)


def test_event_decoder_decodes_every_golden_event_as_the_mapper_does(
    services: Services,
) -> None:
    mapper = services.ledger.mapper
    decode = event_decoder(mapper)
    for golden in all_golden():
        stored = StoredEvent(
            golden.originator_id, golden.originator_version, golden.topic, golden.state
        )
        decoded = decode(*vars(stored).values())
        assert _same_event(decoded, mapper.to_domain_event(stored)), golden.type
        assert type(decoded.originator_id) is UUID


def test_event_decoder_revives_custom_types_at_any_depth(services: Services) -> None:
    mapper = services.ledger.mapper
    moment = {"_type_": "datetime_iso", "_data_": "2026-01-02T03:04:05+00:00"}
    state = json.dumps(
        {"timestamp": moment, "nested": [[moment], {"at": moment, "n": 1}]}
    ).encode()
    stored = StoredEvent(uuid4(), 3, "domain.api_key:ApiKey.Disabled", state)
    decoded = event_decoder(mapper)(*vars(stored).values())
    assert _same_event(decoded, mapper.to_domain_event(stored))
    assert isinstance(decoded.nested[1]["at"], datetime)


def test_event_decoder_leaves_what_orjson_refuses_to_the_mapper(
    services: Services,
) -> None:
    """The json module reads NaN; orjson does not: the mapper decodes it."""
    mapper = services.ledger.mapper
    stored = StoredEvent(
        uuid4(), 1, "domain.api_key:ApiKey.Disabled", b'{"actor":"x","odd":NaN}'
    )
    decoded = event_decoder(mapper)(*vars(stored).values())
    assert math.isnan(decoded.odd)
    unknown = StoredEvent(
        uuid4(), 1, "domain.api_key:ApiKey.Disabled", b'{"a":{"_type_":"?","_data_":1}}'
    )
    with pytest.raises(MapperDeserialisationError) as raised:
        event_decoder(mapper)(*vars(unknown).values())
    with pytest.raises(MapperDeserialisationError) as expected:
        mapper.to_domain_event(unknown)
    assert str(raised.value) == str(expected.value)


# eventsourcing: the private internals, on a real server.


@pytest.mark.postgres
def test_insert_stored_events_locks_the_table_and_returns_ids(
    pg_services: Services,
) -> None:
    recorder = _pg_recorder(pg_services)
    table = recorder.dialect.table(recorder.events_table_name)
    events = [
        StoredEvent(UUID(int=n + 1), 1, "contract.Topic", b"{}") for n in range(3)
    ]
    with recorder.datastore.transaction(commit=False) as cursor:
        ids = insert_stored_events(recorder, cursor, events)
        locks = _locks_held(cursor, table)
    # commit=False: the transaction is rolled back, nothing stays recorded.
    assert len(ids) == 3
    assert ids == sorted(ids)
    assert "ExclusiveLock" in locks


@pytest.mark.postgres
def test_lock_events_table_takes_the_lock_inserting_writers_take(
    pg_services: Services,
) -> None:
    recorder = _pg_recorder(pg_services)
    table = recorder.dialect.table(recorder.events_table_name)
    with recorder.datastore.transaction(commit=False) as cursor:
        lock_events_table(recorder, cursor)
        locks = _locks_held(cursor, table)
    assert "ExclusiveLock" in locks


@pytest.mark.postgres
def test_concurrent_writers_never_leave_ids_behind_the_audit_cursor(
    pg_services: Services, postgres_url: str
) -> None:
    """A reader tailing the audit feed by notification id sees every event:
    no writer commits an id lower than one a reader has already passed."""
    writers = [open_services(_config(postgres_url)) for _ in range(3)]
    done = threading.Event()
    seen: list[int] = []

    def write(services: Services) -> None:
        with recording_as(OPERATOR):
            for _ in range(15):
                key = services.ledger.create_key(permissions=["send"]).key
                services.ledger.disable_key(key.id)

    def tail() -> None:
        queries = pg_services.ledger.read_model
        after = 0
        while True:
            finished = done.is_set()
            page = queries.audit_page(AuditFilter(), after=after, limit=50)
            seen.extend(entry.notification_id for entry in page)
            if page:
                after = page[-1].notification_id
            elif finished:
                return

    reader = threading.Thread(target=tail)
    reader.start()
    try:
        run_together([functools.partial(write, services) for services in writers])
    finally:
        done.set()
        reader.join()
        for services in writers:
            services.close()

    recorded = [
        row[0]
        for row in peek(
            postgres_url,
            "SELECT notification_id FROM stored_events ORDER BY notification_id",
        )
    ]
    assert len(recorded) == 3 * 15 * 2
    assert seen == recorded


# psycopg_pool.


@pytest.mark.postgres
def test_the_pool_keeps_its_check_and_connect_kwargs_where_we_change_them() -> None:
    def check(conn: Any) -> None:
        ConnectionPool.check_connection(conn)

    pool: ConnectionPool[Any] = ConnectionPool(
        POSTGRES_URL, kwargs={}, check=check, min_size=1, max_size=1, open=False
    )
    try:
        assert pool._check is check
        assert isinstance(pool.kwargs, dict)
        pool.kwargs["application_name"] = "keyledger-contract"
        pool.open(wait=True, timeout=10)
        with pool.connection() as conn:
            name = conn.execute("SHOW application_name").fetchone()
        assert name == ("keyledger-contract",)
    finally:
        pool.close()


@pytest.mark.postgres
def test_prepare_pool_refuses_to_start_without_the_pre_ping_hook(
    postgres_url: str,
) -> None:
    datastore = PostgresDatastore(
        dbname="test",
        host="127.0.0.1",
        port="5432",
        user="postgres",
        password="",
        pre_ping=True,
    )
    try:
        del datastore.pool._check
        with pytest.raises(LibraryContractBroken, match="_check"):
            prepare_pool(datastore, "keyledger")
    finally:
        datastore.close()


@pytest.mark.postgres
def test_prepare_pool_installs_the_purging_check(pg_services: Services) -> None:
    datastore = _pg_recorder(pg_services).datastore
    check = datastore.pool._check
    assert check is not None
    assert check.__qualname__.startswith(library_internals._purging_check.__name__)
