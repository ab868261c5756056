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
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteDatastore
from eventsourcing.utils import resolve_topic
from psycopg_pool import ConnectionPool

# A stored event's parts, as its row holds them: originator id (a UUID or
# its text), originator version, topic, state.
EventDecoder = Callable[[UUID | str, int, str, bytes], Any]
# Originator ids a decoder keeps parsed (a key's events tend to come close
# together in the log); it forgets them all when it holds this many.
KNOWN_IDS = 20_000


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
    if not isinstance(getattr(JSONTranscoder(), "names", None), dict):
        missing.append("eventsourcing.persistence.JSONTranscoder.names")
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


def prepare_sqlite_pool(
    datastore: SQLiteDatastore, functions: Mapping[str, Callable[[str], Any]]
) -> None:
    """Every connection the SQLite pool opens gets ``journal_mode=WAL`` and
    ``synchronous=FULL``, set rather than left to the SQLite build's default
    (each acknowledged commit is on disk before the call answers, also across
    a power cut), and the read model's SQL ``functions`` (deterministic, one
    argument each).

    Relies on ``SQLiteConnectionPool._create_connection()`` (the pool's one
    place that opens connections; it offers no per-connection hook) and on
    ``SQLiteConnection._sqlite_conn`` (the sqlite3 connection it wraps)."""
    pool: Any = datastore.pool
    create = pool._create_connection

    def create_prepared() -> Any:
        connection = create()
        sqlite_conn = connection._sqlite_conn
        sqlite_conn.execute("PRAGMA journal_mode=WAL")
        sqlite_conn.execute("PRAGMA synchronous=FULL")
        for name, function in functions.items():
            sqlite_conn.create_function(name, 1, function, deterministic=True)
        return connection

    pool._create_connection = create_prepared


def event_decoder(mapper: Mapper[UUID]) -> EventDecoder:
    """Decodes stored events to the domain events ``mapper.to_domain_event``
    makes, at about half its cost: orjson parses the state (the library's
    transcoder runs the standard json module with a Python hook for every
    object), and each topic's class is looked up once.

    Relies on how eventsourcing 9.5 stores and rebuilds events: the JSON
    transcoder writes a custom type as an object of exactly ``_type_`` and
    ``_data_`` and keeps its transcodings by name in ``JSONTranscoder.names``;
    ``to_domain_event`` decrypts, then decompresses, then decodes the state,
    adds ``originator_id`` and ``originator_version``, upcasts from the
    stored ``class_version`` and sets the result as the new object's
    ``__dict__`` without calling ``__init__``. Anything else (another
    transcoder, a state orjson refuses, an unknown transcoding) goes to
    ``to_domain_event`` itself, so failures read as the library's.
    """
    transcoder = mapper.transcoder
    if not isinstance(transcoder, JSONTranscoder):
        return _library_decoder(mapper)
    names = transcoder.names
    cipher, compressor = mapper.cipher, mapper.compressor
    classes: dict[str, type] = {}
    # The same UUID for a key's events: parsing one costs more than
    # decoding an event's state.
    ids: dict[str, UUID] = {}

    # Bottom-up, as the json module's object_hook is applied; lists change
    # in place.
    def revive(value: dict[str, Any]) -> Any:
        for name, item in value.items():
            if type(item) is dict:
                value[name] = revive(item)
            elif type(item) is list:
                revive_all(item)
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return names[value["_type_"]].decode(value["_data_"])
        return value

    def revive_all(items: list[Any]) -> None:
        for n, item in enumerate(items):
            if type(item) is dict:
                items[n] = revive(item)
            elif type(item) is list:
                revive_all(item)

    def revived(state: bytes) -> dict[str, Any]:
        event_state = orjson.loads(state)
        if type(event_state) is not dict:
            raise TypeError("the state is not a mapping")
        # Most events hold typed values (times) only at the top: revive those
        # directly, and walk the whole state only when the text names more.
        typed = state.count(b'"_type_"')
        if typed:
            for name, item in event_state.items():
                if (
                    type(item) is dict
                    and len(item) == 2
                    and "_type_" in item
                    and "_data_" in item
                    and type(item["_data_"]) is str
                ):
                    event_state[name] = names[item["_type_"]].decode(item["_data_"])
                    typed -= 1
                    if not typed:  # the rest holds none (the time comes first)
                        break
            if typed:
                event_state = revive(event_state)
                if type(event_state) is not dict:
                    raise TypeError("the state is not a mapping")
        return event_state

    def decode(
        originator_id: UUID | str, version: int, topic: str, stored: bytes
    ) -> Any:
        if type(originator_id) is str:  # as the mapper's id convertor does
            text = originator_id
            known = ids.get(text)
            if known is None:
                if len(ids) >= KNOWN_IDS:
                    ids.clear()
                known = ids[text] = UUID(text)
            originator_id = known
        try:
            cls = classes[topic]
        except KeyError:
            cls = classes[topic] = resolve_topic(topic)
        try:
            state = stored
            if cipher:
                state = cipher.decrypt(state)
            if compressor:
                state = compressor.decompress(state)
            event_state = revived(state)
        except Exception:  # the library's own decoder says why
            return mapper.to_domain_event(
                StoredEvent(originator_id, version, topic, stored)
            )
        event_state["originator_id"] = originator_id
        event_state["originator_version"] = version
        class_version = getattr(cls, "class_version", 1)
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event

    return decode


def _library_decoder(mapper: Mapper[UUID]) -> EventDecoder:
    def decode(
        originator_id: UUID | str, version: int, topic: str, state: bytes
    ) -> Any:
        return mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))

    return decode
