"""The change feed: which DevKeys had events recorded after a position.

The position is the audit entry's notification id, the number that orders
the log itself: ids are handed out in commit order (SQLite has one writer,
PostgreSQL inserts under a table lock), so a reader that asks "after n"
never misses an event committed later with a smaller number. A poll that
finds nothing costs one range probe on the audit table's primary key.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

from projections.sql import (
    AUDIT_TABLE,
    KEYS_TABLE,
    Cursor,
    Dialect,
    TransactionFactory,
)

PAGE_LIMIT = 500


@dataclass(frozen=True)
class Change:
    position: int
    key_id: str
    dev_key: str
    type: str


class ChangeFeed:
    def __init__(self, dialect: Dialect, transaction: TransactionFactory) -> None:
        audit = dialect.table(AUDIT_TABLE)
        keys = dialect.table(KEYS_TABLE)
        self._transaction = transaction
        # A deleted key has no row any more: its DevKey comes from its first
        # audit entry (``created`` records it), found through the key index.
        self._page = dialect.sql(
            "SELECT a.notification_id, a.key_id, a.type, k.dev_key "
            f"FROM {audit} a LEFT JOIN {keys} k ON k.key_id = a.key_id "
            "WHERE a.notification_id > ? ORDER BY a.notification_id LIMIT ?"
        )
        self._created = dialect.sql(
            f"SELECT changes FROM {audit} WHERE key_id = ? "
            "ORDER BY notification_id LIMIT 1"
        )
        self._head = f"SELECT MAX(notification_id) AS n FROM {audit}"

    def read(self) -> contextlib.AbstractContextManager[Cursor]:
        """A read transaction; a poll's other reads may share it."""
        return self._transaction()

    def head(self, cursor: Cursor) -> int:
        """The position of the last recorded event (0 for an empty log)."""
        cursor.execute(self._head)
        row = cursor.fetchone()
        return 0 if row is None or row["n"] is None else int(row["n"])

    def after(
        self, cursor: Cursor, position: int, limit: int = PAGE_LIMIT
    ) -> list[Change]:
        """At most ``limit`` changes recorded after ``position``, oldest first."""
        cursor.execute(self._page, (position, limit))
        rows = list(cursor.fetchall())
        dev_keys: dict[str, str] = {}
        for row in rows:
            if row["dev_key"] is None and row["key_id"] not in dev_keys:
                dev_keys[row["key_id"]] = self._first_dev_key(cursor, row["key_id"])
        return [
            Change(
                position=int(row["notification_id"]),
                key_id=row["key_id"],
                dev_key=row["dev_key"] or dev_keys[row["key_id"]],
                type=row["type"],
            )
            for row in rows
        ]

    def _first_dev_key(self, cursor: Cursor, key_id: str) -> str:
        cursor.execute(self._created, (key_id,))
        row = cursor.fetchone()
        changes = json.loads(row["changes"]) if row is not None else {}
        return str(changes.get("dev_key", {}).get("to") or "")
