"""SQL of the read model, for SQLite and PostgreSQL alike.

The statements are written once with ``?`` placeholders; the PostgreSQL
dialect rewrites them to ``%s``. Times are stored as integers (microseconds
since the epoch; ``expires_at`` in seconds) so both stores compare them the
same way and indexes stay small.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

KEYS_TABLE = "keyledger_keys"
AUDIT_TABLE = "keyledger_audit"
POSITION_TABLE = "keyledger_projection"
# The read model's row in POSITION_TABLE (a stored value: never rename it).
POSITION_NAME = "read_model"


class Cursor(Protocol):
    """What keyledger uses of a DB-API cursor (sqlite3 and psycopg alike)."""

    def execute(self, statement: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, statement: Any, params: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


# A read or write transaction on the store, yielding a cursor.
TransactionFactory = Callable[[], contextlib.AbstractContextManager[Cursor]]


def to_micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).replace(
        microsecond=micros % 1_000_000
    )


def to_seconds(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment) // 1_000_000


def from_seconds(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True)
class Dialect:
    """How one store spells the read model's SQL."""

    name: Literal["sqlite", "postgres"]
    schema: str = ""

    def table(self, name: str) -> str:
        return f'"{self.schema}"."{name}"' if self.schema else name

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.name == "postgres" else statement


def keys_table_ddl(dialect: Dialect, name: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {dialect.table(name)} ("
        "key_id TEXT PRIMARY KEY, "
        "dev_key TEXT NOT NULL, "
        "secret_hash TEXT NOT NULL, "
        "description TEXT NOT NULL, "
        "expires_at BIGINT, "
        "ip_whitelist TEXT NOT NULL, "
        "permissions TEXT NOT NULL, "
        "enabled SMALLINT NOT NULL, "
        "created_at BIGINT NOT NULL, "
        "updated_at BIGINT NOT NULL, "
        "version BIGINT NOT NULL)"
    )


def keys_index_ddl(dialect: Dialect, table: str) -> list[str]:
    t = dialect.table(table)
    return [
        f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_dev_key ON {t} (dev_key)",
        f"CREATE INDEX IF NOT EXISTS {table}_newest ON {t} (created_at, key_id)",
    ]


def audit_table_ddl(dialect: Dialect, name: str) -> str:
    # In SQLite only "INTEGER PRIMARY KEY" makes the column the table's own
    # row id; any other spelling keeps a second index beside the table.
    id_type = "INTEGER" if dialect.name == "sqlite" else "BIGINT"
    return (
        f"CREATE TABLE IF NOT EXISTS {dialect.table(name)} ("
        f"notification_id {id_type} PRIMARY KEY, "
        "key_id TEXT NOT NULL, "
        "version BIGINT NOT NULL, "
        "type TEXT NOT NULL, "
        "occurred_at BIGINT NOT NULL, "
        "actor TEXT NOT NULL, "
        "source_ip TEXT, "
        "request_id TEXT, "
        "changes TEXT NOT NULL)"
    )


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


def read_model_ddl(dialect: Dialect) -> list[str]:
    return [
        keys_table_ddl(dialect, KEYS_TABLE),
        *keys_index_ddl(dialect, KEYS_TABLE),
        audit_table_ddl(dialect, AUDIT_TABLE),
        *audit_index_ddl(dialect, AUDIT_TABLE),
        position_table_ddl(dialect),
    ]
