"""What a store does for the statements a query really runs.

``Recording`` wraps a store's real transactions and keeps every statement
executed with its parameters; ``plan`` then asks the same store how it
answers one: SQLite's ``EXPLAIN QUERY PLAN`` lines, or PostgreSQL's
``EXPLAIN`` with sequential scans priced out (``enable_seqscan = off``), so
a test table of a few rows gets the plan a big one would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from projections.sql import Cursor, Dialect, TransactionFactory


class _RecordingCursor:
    def __init__(self, cursor: Cursor, log: list[tuple[str, Any]]) -> None:
        self._cursor = cursor
        self._log = log

    def execute(self, statement: Any, params: Any = (), /) -> Any:
        self._log.append((statement, params))
        return self._cursor.execute(statement, params)

    def executemany(self, statement: Any, params: Any, /) -> Any:
        return self._cursor.executemany(statement, params)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> Any:
        return self._cursor.fetchall()


class Recording:
    def __init__(self, transaction: TransactionFactory) -> None:
        self._transaction = transaction
        self.statements: list[tuple[str, Any]] = []

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Cursor]:
        with self._transaction() as cursor:
            yield _RecordingCursor(cursor, self.statements)


def plans(
    dialect: Dialect,
    transaction: TransactionFactory,
    statements: list[tuple[str, Any]],
) -> list[tuple[str, str]]:
    """Each recorded statement with the store's plan for it, one line per
    step; settings the query made (``SET LOCAL``) apply to those after."""
    planned: list[tuple[str, str]] = []
    with transaction() as cursor:
        if dialect.name == "postgres":
            cursor.execute("SET LOCAL enable_seqscan = off")
        for statement, params in statements:
            if statement.startswith("SET "):
                cursor.execute(statement, params)
                continue
            if dialect.name == "sqlite":
                cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
                lines = [row["detail"] for row in cursor.fetchall()]
            else:
                cursor.execute(f"EXPLAIN {statement}", params)
                lines = [next(iter(row.values())) for row in cursor.fetchall()]
            planned.append((statement, "\n".join(lines)))
    return planned
