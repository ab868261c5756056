"""Every place keyledger relies on a library's private internals.

Nothing else in keyledger names a private attribute of eventsourcing or
psycopg_pool. Each function says what it relies on; ``check_library_contract``
runs when a ledger opens its store and refuses to start when one of these is
gone, instead of silently losing the behaviour. The contract tests
(tests/integration/test_library_contract.py) pin each one; run them first
when upgrading either library.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteDatastore
from psycopg_pool import ConnectionPool


class LibraryContractBroken(RuntimeError):
    """A library no longer offers an internal keyledger relies on."""


def check_library_contract() -> None:
    """Raises when an internal named in this module is missing."""
    missing = [
        f"{owner.__module__}.{owner.__qualname__}.{name}"
        for owner, name in (
            (PostgresApplicationRecorder, "_insert_stored_events"),
            (PostgresApplicationRecorder, "_lock_table"),
        )
        if not callable(getattr(owner, name, None))
    ]
    if not callable(getattr(SQLiteConnectionPool, "_create_connection", None)):
        missing.append("eventsourcing.sqlite.SQLiteConnectionPool._create_connection")
    if "_sqlite_conn" not in inspect.getsource(SQLiteConnection.__init__):
        missing.append("eventsourcing.sqlite.SQLiteConnection._sqlite_conn")
    pool_init = inspect.signature(ConnectionPool.__init__).parameters
    if "check" not in pool_init or "kwargs" not in pool_init:
        missing.append("psycopg_pool.ConnectionPool(check=..., kwargs=...)")
    if missing:
        raise LibraryContractBroken(
            "keyledger relies on library internals that are gone: "
            + ", ".join(missing)
            + " (see projections/library_internals.py)"
        )


def insert_stored_events(
    recorder: PostgresApplicationRecorder,
    cursor: Any,
    stored_events: Sequence[StoredEvent],
) -> list[int]:
    """Inserts events in the caller's transaction; returns their
    notification ids.

    Relies on ``PostgresApplicationRecorder._insert_stored_events(curs,
    events)``: it takes the events table's EXCLUSIVE lock (so ids are issued
    in commit order and the audit cursor never skips one), sends the NOTIFY
    and runs an INSERT ... RETURNING notification_id. The public
    ``insert_events`` wraps the same call in a retry that could record a
    change twice after a lost COMMIT; keyledger calls it without the retry.
    """
    recorder._insert_stored_events(cursor, stored_events)
    return [row["notification_id"] for row in cursor.fetchall()]


def lock_events_table(recorder: PostgresApplicationRecorder, cursor: Any) -> None:
    """Takes the lock inserting writers take, so a catch-up or rebuild sees
    no insert in flight. Relies on ``PostgresApplicationRecorder._lock_table``
    (its ``lock_table_statements``: LOCK TABLE ... IN EXCLUSIVE MODE)."""
    recorder._lock_table(cursor)


def prepare_pool(datastore: PostgresDatastore, application_name: str | None) -> None:
    """Names every pooled connection and makes a dead one purge its siblings.

    PostgresDatastore passes no extra connect arguments through and fills
    psycopg_pool's ``check`` itself, but its pool opens lazily (on first use),
    so changes made here reach every connection it will make. Relies on
    ``ConnectionPool.kwargs`` (the connect arguments, read at each connect)
    and ``ConnectionPool._check`` (where the constructor keeps ``check``).
    """
    pool = datastore.pool
    if application_name:
        connect_kwargs = getattr(pool, "kwargs", None)
        if not isinstance(connect_kwargs, dict):
            msg = "psycopg_pool.ConnectionPool.kwargs is not a dict of connect args"
            raise LibraryContractBroken(msg)
        connect_kwargs["application_name"] = application_name
    if datastore.pre_ping:
        if not callable(getattr(pool, "_check", None)):
            msg = "psycopg_pool.ConnectionPool._check (the pre-ping) is gone"
            raise LibraryContractBroken(msg)
        pool._check = _purging_check(pool)


def _purging_check(pool: ConnectionPool[Any]) -> Callable[[Any], None]:
    """The pre-ping, plus: one dead connection usually means the server dropped
    them all (restart, failover, terminated backends). Testing the idle ones
    at once means the pool's immediate second try gets a fresh connection,
    instead of meeting the next dead one and backing off 1 s, 2 s, 4 s ...
    into a pool timeout (a 503 after 5 s)."""
    owner = weakref.ref(pool)  # the pool holds this check: no reference cycle

    def check(conn: Any) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            live = owner()
            if live is not None:
                live.check()
            raise

    return check


def enforce_sqlite_durability(datastore: SQLiteDatastore) -> None:
    """Every connection the SQLite pool opens gets ``journal_mode=WAL`` and
    ``synchronous=FULL``, set rather than left to the SQLite build's default:
    each acknowledged commit is on disk before the call answers, also across
    a power cut.

    Relies on ``SQLiteConnectionPool._create_connection()`` (the pool's one
    place that opens connections; it offers no per-connection hook) and on
    ``SQLiteConnection._sqlite_conn`` (the sqlite3 connection it wraps)."""
    pool: Any = datastore.pool
    create = pool._create_connection

    def create_durable() -> Any:
        connection = create()
        connection._sqlite_conn.execute("PRAGMA journal_mode=WAL")
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return connection

    pool._create_connection = create_durable
