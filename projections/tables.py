"""The read model's tables: each column once, with its SQL type and how its
value is stored and read back.

The writer, the queries and the DDL all come from these column lists, and
each list matches its row type field for field (``KeyRow``, ``AuditEntry``;
checked on import). Times are stored as integers (microseconds since the
epoch; ``expires_at`` in whole seconds) so both stores compare them the same
way and indexes stay small.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

import orjson

from projections.audit_marks import audit_marks_ddl
from projections.audit_trail import AuditEntry
from projections.key_search import search_table_ddl, vocabulary_ddl
from projections.key_state import KeyRow
from projections.sql import (
    AUDIT_TABLE,
    KEYS_TABLE,
    POSITION_TABLE,
    SECRET_INDEX_TABLE,
    Dialect,
    from_micros,
    from_seconds,
    id_text,
    to_micros,
    to_seconds,
)


def _same(value: Any) -> Any:
    return value


def _json_list(value: Sequence[str]) -> str:
    """``json.dumps(list(value))``, as stored rows have always been spelled;
    for strings (the whitelist and permissions hold nothing else) without
    the module's set-up per call, a third of the time."""
    try:
        return "[" + ", ".join(map(_json_string, value)) + "]"
    except TypeError:  # not all strings
        return json.dumps(list(value))


def _flag(value: bool) -> int:
    return 1 if value else 0


def _tuple_of_json(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


_stdlib_compact_json = json.JSONEncoder(separators=(",", ":")).encode
# How the json module spells a string with its default ensure_ascii (in C).
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _compact_json(value: Any) -> str:
    """The json module's compact spelling, which stored audit rows have
    always had (non-ASCII and DEL escaped as ``\\uXXXX``).

    orjson writes it several times faster and spells ASCII text without DEL
    the same way (an audit entry's changes hold only strings, lists of
    strings and nulls: no floats, whose spelling differs); anything else
    goes to the json module."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _stdlib_compact_json(value)
    if text.isascii() and b"\x7f" not in text:
        return text.decode()
    return _stdlib_compact_json(value)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    encode: Callable[[Any], Any] = _same
    decode: Callable[[Any], Any] = _same
    # In SQLite only "INTEGER PRIMARY KEY" makes the column the table's own
    # row id; any other spelling keeps a second index beside the table.
    sqlite_type: str | None = None


KEY_COLUMNS: tuple[Column, ...] = (
    Column("key_id", "TEXT PRIMARY KEY", str, UUID),
    Column("dev_key", "TEXT NOT NULL"),
    Column("secret_hash", "TEXT NOT NULL"),
    Column("previous_secret_hash", "TEXT"),
    Column("previous_secret_expires_at", "BIGINT", to_seconds, from_seconds),
    Column("description", "TEXT NOT NULL"),
    Column("expires_at", "BIGINT", to_seconds, from_seconds),
    Column("ip_whitelist", "TEXT NOT NULL", _json_list, _tuple_of_json),
    Column("permissions", "TEXT NOT NULL", _json_list, _tuple_of_json),
    Column("enabled", "SMALLINT NOT NULL", _flag, bool),
    Column("created_at", "BIGINT NOT NULL", to_micros, from_micros),
    Column("updated_at", "BIGINT NOT NULL", to_micros, from_micros),
    Column("version", "BIGINT NOT NULL", _same, int),
)

AUDIT_COLUMNS: tuple[Column, ...] = (
    Column("notification_id", "BIGINT PRIMARY KEY", _same, int, "INTEGER PRIMARY KEY"),
    Column("key_id", "TEXT NOT NULL", str, UUID),
    Column("version", "BIGINT NOT NULL", _same, int),
    Column("type", "TEXT NOT NULL"),
    Column("occurred_at", "BIGINT NOT NULL", to_micros, from_micros),
    Column("actor", "TEXT NOT NULL"),
    Column("source_ip", "TEXT"),
    Column("request_id", "TEXT"),
    Column("changes", "TEXT NOT NULL", _compact_json, json.loads),
)

KEY_COLUMN = {column.name: column for column in KEY_COLUMNS}
# Columns added after the first release: stores made before them get them
# added when the store is prepared.
KEYS_ADDED_COLUMNS = ("previous_secret_hash", "previous_secret_expires_at")


def _check_matches(row_type: type, columns: Sequence[Column]) -> None:
    names = [field.name for field in fields(row_type)]
    if names != [column.name for column in columns]:
        msg = f"{row_type.__name__} fields and their columns differ: {names}"
        raise TypeError(msg)


_check_matches(KeyRow, KEY_COLUMNS)
_check_matches(AuditEntry, AUDIT_COLUMNS)


def column_list(columns: Sequence[Column]) -> str:
    return ", ".join(column.name for column in columns)


def encode_key_row(row: KeyRow) -> list[Any]:
    """A key row's stored values, in ``KEY_COLUMNS`` order.

    Spelled out because a rebuild calls it once per key;
    tests/unit/test_tables.py checks it against the column list.
    """
    return [
        id_text(row.key_id),
        row.dev_key,
        row.secret_hash,
        row.previous_secret_hash,
        to_seconds(row.previous_secret_expires_at),
        row.description,
        to_seconds(row.expires_at),
        _json_list(row.ip_whitelist),
        _json_list(row.permissions),
        1 if row.enabled else 0,
        to_micros(row.created_at),
        to_micros(row.updated_at),
        row.version,
    ]


def decode_key_row(stored: Any) -> KeyRow:
    """A stored row (mapping by column name) as a ``KeyRow``."""
    return KeyRow(*(column.decode(stored[column.name]) for column in KEY_COLUMNS))


def encode_audit_entry(entry: AuditEntry) -> tuple[Any, ...]:
    """An audit entry's stored values, in ``AUDIT_COLUMNS`` order.

    Spelled out because a rebuild calls it once per event;
    tests/unit/test_tables.py checks it against the column list.
    """
    return (
        entry.notification_id,
        id_text(entry.key_id),
        entry.version,
        entry.type,
        to_micros(entry.occurred_at),
        entry.actor,
        entry.source_ip,
        entry.request_id,
        _compact_json(entry.changes),
    )


def decode_audit_entry(stored: Any) -> AuditEntry:
    return AuditEntry(*(column.decode(stored[column.name]) for column in AUDIT_COLUMNS))


# DDL.


def _table_ddl(dialect: Dialect, name: str, columns: Sequence[Column]) -> str:
    specs = ", ".join(
        f"{column.name} "
        + (
            column.sqlite_type
            if dialect.name == "sqlite" and column.sqlite_type
            else column.sql_type
        )
        for column in columns
    )
    return f"CREATE TABLE IF NOT EXISTS {dialect.table(name)} ({specs})"


def keys_table_ddl(dialect: Dialect, name: str) -> str:
    return _table_ddl(dialect, name, KEY_COLUMNS)


def keys_index_ddl(dialect: Dialect, table: str) -> list[str]:
    t = dialect.table(table)
    return [
        f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_dev_key ON {t} (dev_key)",
        f"CREATE INDEX IF NOT EXISTS {table}_newest ON {t} (created_at, key_id)",
        f"CREATE INDEX IF NOT EXISTS {table}_expiry ON {t} (expires_at)",
        # Listing by status, newest first, deciding expiry from the index.
        f"CREATE INDEX IF NOT EXISTS {table}_status_newest "
        f"ON {t} (enabled, created_at, key_id, expires_at)",
        # The expired keys (enabled, expires_at past), found without a walk.
        f"CREATE INDEX IF NOT EXISTS {table}_status_expiry "
        f"ON {t} (enabled, expires_at)",
    ]


def audit_table_ddl(dialect: Dialect, name: str) -> str:
    return _table_ddl(dialect, name, AUDIT_COLUMNS)


def audit_index_ddl(dialect: Dialect, table: str) -> list[str]:
    t = dialect.table(table)
    return [
        f"CREATE INDEX IF NOT EXISTS {table}_key ON {t} (key_id, notification_id)",
        f"CREATE INDEX IF NOT EXISTS {table}_actor ON {t} (actor, notification_id)",
        f"CREATE INDEX IF NOT EXISTS {table}_type ON {t} (type, notification_id)",
        f"CREATE INDEX IF NOT EXISTS {table}_time ON {t} (occurred_at)",
    ]


def position_table_ddl(dialect: Dialect) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {dialect.table(POSITION_TABLE)} ("
        "name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
    )


def secret_index_ddl(dialect: Dialect, name: str = SECRET_INDEX_TABLE) -> list[str]:
    """The leaked-secret index (``projections.secret_index``), with the index
    its writer reads each key's last rotation from."""
    table = dialect.table(name)
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "secret_hash TEXT PRIMARY KEY, "
        "key_id TEXT NOT NULL, "
        "dev_key TEXT NOT NULL, "
        "rotation BIGINT NOT NULL, "
        "issued_at BIGINT NOT NULL, "
        "retired_at BIGINT)",
        f"CREATE INDEX IF NOT EXISTS {name}_key ON {table} (key_id, rotation)",
    ]


def read_model_ddl(dialect: Dialect) -> list[str]:
    return [
        keys_table_ddl(dialect, KEYS_TABLE),
        *keys_index_ddl(dialect, KEYS_TABLE),
        *search_table_ddl(dialect, KEYS_TABLE),
        *vocabulary_ddl(dialect, KEYS_TABLE),
        audit_table_ddl(dialect, AUDIT_TABLE),
        *audit_index_ddl(dialect, AUDIT_TABLE),
        position_table_ddl(dialect),
        *secret_index_ddl(dialect),
        *audit_marks_ddl(dialect),
    ]
