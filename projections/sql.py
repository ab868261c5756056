"""Talking SQL to either store: table names, the dialect, cursors and
transactions, and how times are stored.

Statements are written once with ``?`` placeholders; the PostgreSQL dialect
rewrites them to ``%s``. The read model's columns: ``projections.tables``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

KEYS_TABLE = "keyledger_keys"
AUDIT_TABLE = "keyledger_audit"
POSITION_TABLE = "keyledger_projection"
SECRET_INDEX_TABLE = "keyledger_secret_index"  # noqa: S105 - a table name
AUDIT_MARKS_TABLE = "keyledger_audit_marks"
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


class _IdTexts(dict[UUID, str]):
    """Key ids and their text, for as many as a rebuild's batch holds:
    ``str(UUID)`` runs Python code, and a batch spells each id several times
    (audit rows, key row, secret index)."""

    limit = 20_000

    def __missing__(self, key_id: UUID) -> str:
        if len(self) >= self.limit:
            self.clear()
        text = self[key_id] = str(key_id)
        return text


# ``str(key_id)``, remembered.
id_text: Callable[[UUID], str] = _IdTexts().__getitem__


def to_micros(moment: datetime) -> int:
    return (moment - EPOCH) // _MICROSECOND  # exact: integer arithmetic in C


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


class StatementRuns:
    """Records a stream of writes whose results nobody reads, as runs of one
    statement repeated: ``write`` sends each run as one ``executemany``, in
    the order the statements were given.

    ``executemany`` runs its rows one after another, so a statement that
    reads what an earlier one wrote (the secret index's next rotation)
    still sees it. Recorded runs hold only statements and plain values: they
    can be worked out in another process."""

    def __init__(self) -> None:
        self.runs: list[tuple[Any, list[Any]]] = []

    def execute(self, statement: Any, params: Any = (), /) -> None:
        if self.runs and self.runs[-1][0] == statement:
            self.runs[-1][1].append(params)
        else:
            self.runs.append((statement, [params]))

    def executemany(self, statement: Any, params: Any, /) -> None:
        for one in params:
            self.execute(statement, one)

    def fetchone(self) -> Any:
        raise TypeError("statement runs answer no reads")

    def fetchall(self) -> Any:
        raise TypeError("statement runs answer no reads")


def write_runs(cursor: Cursor, runs: list[tuple[Any, list[Any]]]) -> None:
    for statement, params in runs:
        cursor.executemany(statement, params)
