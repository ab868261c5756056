"""The usage table: auth decisions per key, hour and outcome, summed over
every worker and instance; and each key's last allowed call.

Flushes add to the stored counts with an upsert, so any number of writers
can flush at once on SQLite and PostgreSQL alike. Rows are written in one
order (sorted) so that two PostgreSQL writers never wait on each other in a
cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.sql import Cursor, Dialect, TransactionFactory, to_seconds
from service.usage import UsageBatch

USAGE_TABLE = "keyledger_usage"
LAST_USE_TABLE = "keyledger_last_use"


def usage_ddl(dialect: Dialect) -> list[str]:
    usage, last_use = dialect.table(USAGE_TABLE), dialect.table(LAST_USE_TABLE)
    return [
        f"CREATE TABLE IF NOT EXISTS {usage} ("
        "key_id TEXT NOT NULL, "
        "bucket_start BIGINT NOT NULL, "
        "outcome TEXT NOT NULL, "
        "calls BIGINT NOT NULL, "
        "PRIMARY KEY (key_id, bucket_start, outcome))",
        f"CREATE TABLE IF NOT EXISTS {last_use} ("
        "key_id TEXT PRIMARY KEY, "
        "last_used_at BIGINT NOT NULL)",
    ]


@dataclass(frozen=True)
class UsageRow:
    bucket_start: datetime
    outcome: str
    calls: int


class UsageStore:
    def __init__(
        self, dialect: Dialect, read: TransactionFactory, write: TransactionFactory
    ) -> None:
        self._read = read
        self._write = write
        q = dialect.sql
        usage, last_use = dialect.table(USAGE_TABLE), dialect.table(LAST_USE_TABLE)
        # Many rows per statement: a flush is then a few statements, not one
        # per row. Each statement lets the request thread take the GIL back,
        # so fewer statements also keep the flush from slowing requests down.
        self._add_calls = _Upsert(
            q,
            f"INSERT INTO {usage} AS u (key_id, bucket_start, outcome, calls) VALUES ",
            "(?, ?, ?, ?)",
            " ON CONFLICT (key_id, bucket_start, outcome) "
            "DO UPDATE SET calls = u.calls + excluded.calls",
        )
        self._note_last_use = _Upsert(
            q,
            f"INSERT INTO {last_use} AS l (key_id, last_used_at) VALUES ",
            "(?, ?)",
            " ON CONFLICT (key_id) DO UPDATE SET last_used_at = excluded.last_used_at "
            "WHERE excluded.last_used_at > l.last_used_at",
        )
        self._select_calls = q(
            f"SELECT bucket_start, outcome, calls FROM {usage} "
            "WHERE key_id = ? AND bucket_start >= ? AND bucket_start < ? "
            "ORDER BY bucket_start, outcome"
        )
        self._dialect = dialect
        self._last_use = last_use

    def add(self, batch: UsageBatch) -> None:
        """Adds a flush to the stored counts, in one transaction."""
        calls = sorted(
            (key_id, start, outcome, n)
            for (key_id, start, outcome), n in batch.counts.items()
        )
        last_use = sorted(
            (key_id, int(moment)) for key_id, moment in batch.last_used.items()
        )
        with self._write() as cursor:
            self._add_calls.run(cursor, calls)
            self._note_last_use.run(cursor, last_use)

    def calls(self, key_id: str, since: datetime, until: datetime) -> list[UsageRow]:
        """Stored counts of hours starting in [since, until)."""
        with self._read() as cursor:
            cursor.execute(
                self._select_calls, (key_id, to_seconds(since), to_seconds(until))
            )
            rows: Sequence[Any] = cursor.fetchall()
        return [
            UsageRow(
                bucket_start=_at(row["bucket_start"]),
                outcome=row["outcome"],
                calls=int(row["calls"]),
            )
            for row in rows
        ]

    def last_used(self, key_ids: Iterable[str]) -> dict[str, datetime]:
        """Each key's last allowed call, for the keys that had one."""
        wanted = list(dict.fromkeys(key_ids))
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        with self._read() as cursor:
            cursor.execute(
                self._dialect.sql(
                    f"SELECT key_id, last_used_at FROM {self._last_use} "
                    f"WHERE key_id IN ({marks})"
                ),
                wanted,
            )
            rows: Sequence[Any] = cursor.fetchall()
        return {row["key_id"]: _at(row["last_used_at"]) for row in rows}


class _Upsert:
    """One INSERT ... ON CONFLICT with up to ROWS_PER_STATEMENT value rows."""

    ROWS_PER_STATEMENT = 500  # well under SQLite's 32,766 parameters

    def __init__(self, q: Callable[[str], str], head: str, row: str, tail: str) -> None:
        self._q = q
        self._head, self._row, self._tail = head, row, tail
        self._full = q(head + ", ".join([row] * self.ROWS_PER_STATEMENT) + tail)

    def run(self, cursor: Cursor, rows: Sequence[tuple[Any, ...]]) -> None:
        size = self.ROWS_PER_STATEMENT
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            statement = (
                self._full
                if len(chunk) == size
                else self._q(
                    self._head + ", ".join([self._row] * len(chunk)) + self._tail
                )
            )
            cursor.execute(statement, [value for row in chunk for value in row])


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)
