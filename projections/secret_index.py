"""Every secret a key ever had, by its keyed hash: the leaked-secret lookup.

One row per DevSecret: the HMAC the events already carry (keyed with a key
derived from the master key for this purpose alone, never the secret), the
key it belongs to, which rotation it was (0 = issued at creation) and when
it stopped working. Rows are never deleted, so secrets of deleted keys and
secrets reset or rolled away stay findable; a lookup is one primary-key
read, never a scan. Written in the transaction that records the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import ApiKey
from projections.sql import (
    SECRET_INDEX_TABLE,
    Cursor,
    Dialect,
    from_micros,
    id_text,
    to_micros,
)


@dataclass(frozen=True)
class IndexedSecret:
    key_id: UUID
    dev_key: str
    rotation: int
    issued_at: datetime
    retired_at: datetime | None  # None: the current secret

    def kind(self, now: datetime) -> str:
        """``current``, ``previous`` (rolled away, still in its grace) or
        ``retired``."""
        if self.retired_at is None:
            return "current"
        return "previous" if now < self.retired_at else "retired"


class SecretIndexWriter:
    def __init__(self, dialect: Dialect, name: str = SECRET_INDEX_TABLE) -> None:
        q = dialect.sql
        table = dialect.table(name)
        columns = "(secret_hash, key_id, dev_key, rotation, issued_at, retired_at)"
        # A secret drawn twice (never, with 256 bits) keeps its first row
        # rather than failing the write that records the event.
        self._insert_first = q(
            f"INSERT INTO {table} {columns} VALUES (?, ?, ?, 0, ?, NULL) "
            "ON CONFLICT (secret_hash) DO NOTHING"
        )
        # The DevKey never changes: later rows copy it from the key's others.
        self._insert_next = q(
            f"INSERT INTO {table} {columns} "
            "SELECT ?, key_id, dev_key, MAX(rotation) + 1, ?, NULL "
            f"FROM {table} WHERE key_id = ? GROUP BY key_id, dev_key "
            "ON CONFLICT (secret_hash) DO NOTHING"
        )
        # Ends every other secret of the key that still works at ``at``.
        self._retire_others = q(
            f"UPDATE {table} SET retired_at = ? WHERE key_id = ? "
            "AND secret_hash <> ? AND (retired_at IS NULL OR retired_at > ?)"
        )
        self._retire_at = q(f"UPDATE {table} SET retired_at = ? WHERE secret_hash = ?")

    def apply(self, cursor: Cursor, event: ApiKey.Event) -> None:
        if isinstance(event, ApiKey.Created):
            cursor.execute(
                self._insert_first,
                (
                    event.secret_hash,
                    id_text(event.originator_id),
                    event.dev_key,
                    to_micros(event.timestamp),
                ),
            )
        elif isinstance(event, ApiKey.SecretReset):
            key_id, at = id_text(event.originator_id), to_micros(event.timestamp)
            cursor.execute(self._retire_others, (at, key_id, event.secret_hash, at))
            self._issue_next(cursor, event.secret_hash, key_id, at)
        elif isinstance(event, ApiKey.SecretRolled):
            # The earlier previous secret stops now; the one rolled away now
            # stops at the end of its grace.
            key_id, at = id_text(event.originator_id), to_micros(event.timestamp)
            cursor.execute(
                self._retire_others, (at, key_id, event.previous_secret_hash, at)
            )
            cursor.execute(
                self._retire_at,
                (
                    to_micros(event.previous_secret_expires_at),
                    event.previous_secret_hash,
                ),
            )
            self._issue_next(cursor, event.secret_hash, key_id, at)
        elif isinstance(event, ApiKey.Restored):
            # A grace running at deletion ends with the restore.
            key_id, at = id_text(event.originator_id), to_micros(event.timestamp)
            cursor.execute(self._retire_others, (at, key_id, event.secret_hash, at))

    def _issue_next(
        self, cursor: Cursor, secret_hash: str, key_id: str, at: int
    ) -> None:
        cursor.execute(self._insert_next, (secret_hash, at, key_id))


def indexed_secret(row: Any) -> IndexedSecret:
    retired = row["retired_at"]
    return IndexedSecret(
        key_id=UUID(row["key_id"]),
        dev_key=row["dev_key"],
        rotation=int(row["rotation"]),
        issued_at=from_micros(int(row["issued_at"])),
        retired_at=None if retired is None else from_micros(int(retired)),
    )


class SecretIndexQueries:
    def __init__(self, dialect: Dialect, name: str = SECRET_INDEX_TABLE) -> None:
        self._select = dialect.sql(
            "SELECT key_id, dev_key, rotation, issued_at, retired_at "
            f"FROM {dialect.table(name)} WHERE secret_hash = ?"
        )

    def find(self, cursor: Cursor, secret_hash: str) -> IndexedSecret | None:
        """The secret with this keyed hash: one primary-key read."""
        cursor.execute(self._select, (secret_hash,))
        row = cursor.fetchone()
        return None if row is None else indexed_secret(row)
