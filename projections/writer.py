"""Applies ApiKey events to the read model through a database cursor.

The caller owns the transaction: the live path calls ``apply_all`` inside the
transaction that inserts the events, so the view can never disagree with the
log; the rebuild calls ``apply_batch`` on fresh tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from uuid import UUID

from domain import ApiKey
from projections.audit_trail import AuditEntry, audit_entry
from projections.key_state import (
    InsertKey,
    KeyRow,
    KeyStateChange,
    RemoveKey,
    key_state_change,
)
from projections.sql import (
    AUDIT_TABLE,
    KEYS_TABLE,
    POSITION_TABLE,
    READ_MODEL,
    Dialect,
    to_micros,
    to_seconds,
)


class Cursor(Protocol):
    def execute(self, statement: Any, params: Any = ..., /) -> Any: ...

    def fetchone(self) -> Any: ...

    def executemany(self, statement: Any, params: Any, /) -> Any: ...


_COLUMN_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "description": lambda v: v,
    "expires_at": to_seconds,
    "ip_whitelist": lambda v: json.dumps(list(v)),
    "permissions": lambda v: json.dumps(list(v)),
    "secret_hash": lambda v: v,
    "enabled": lambda v: 1 if v else 0,
}
_KEY_COLUMNS = (
    "key_id",
    "dev_key",
    "secret_hash",
    "description",
    "expires_at",
    "ip_whitelist",
    "permissions",
    "enabled",
    "created_at",
    "updated_at",
    "version",
)
_KEY_INDEX = {column: n for n, column in enumerate(_KEY_COLUMNS)}


def key_row_values(row: KeyRow) -> list[Any]:
    """A key row's column values, in ``_KEY_COLUMNS`` order."""
    return [
        str(row.key_id),
        row.dev_key,
        row.secret_hash,
        row.description,
        to_seconds(row.expires_at),
        json.dumps(list(row.ip_whitelist)),
        json.dumps(list(row.permissions)),
        1 if row.enabled else 0,
        to_micros(row.created_at),
        to_micros(row.updated_at),
        row.version,
    ]


def audit_row_values(notification_id: int, event: ApiKey.Event) -> tuple[Any, ...]:
    return entry_row_values(notification_id, audit_entry(event))


def entry_row_values(notification_id: int, entry: AuditEntry) -> tuple[Any, ...]:
    return (
        notification_id,
        str(entry.key_id),
        entry.version,
        entry.type,
        to_micros(entry.occurred_at),
        entry.actor,
        entry.source_ip,
        entry.request_id,
        json.dumps(entry.changes, separators=(",", ":")),
    )


class ReadModelWriter:
    """Writes key-state rows and audit entries for a stream of events."""

    def __init__(
        self,
        dialect: Dialect,
        keys_table: str = KEYS_TABLE,
        audit_table: str = AUDIT_TABLE,
    ) -> None:
        self.dialect = dialect
        keys = dialect.table(keys_table)
        audit = dialect.table(audit_table)
        positions = dialect.table(POSITION_TABLE)
        q = dialect.sql
        self._insert_key = q(
            f"INSERT INTO {keys} ({', '.join(_KEY_COLUMNS)}) "
            f"VALUES ({','.join('?' * len(_KEY_COLUMNS))})"
        )
        self._remove_key = q(f"DELETE FROM {keys} WHERE key_id = ?")
        self._update_key = {
            column: q(
                f"UPDATE {keys} SET {column} = ?, version = ?, updated_at = ? "
                "WHERE key_id = ?"
            )
            for column in _COLUMN_ENCODERS
        }
        self._touch_key = q(
            f"UPDATE {keys} SET version = ?, updated_at = ? WHERE key_id = ?"
        )
        self._insert_audit = q(
            f"INSERT INTO {audit} (notification_id, key_id, version, type, "
            "occurred_at, actor, source_ip, request_id, changes) "
            "VALUES (?,?,?,?,?,?,?,?,?)"
        )
        self._select_position = q(f"SELECT position FROM {positions} WHERE name = ?")
        self._upsert_position = q(
            f"INSERT INTO {positions} (name, position) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
        )

    def position(self, cursor: Cursor) -> int:
        cursor.execute(self._select_position, (READ_MODEL,))
        row = cursor.fetchone()
        return 0 if row is None else int(row["position"])

    def set_position(self, cursor: Cursor, position: int) -> None:
        cursor.execute(self._upsert_position, (READ_MODEL, position))

    def apply(
        self, cursor: Cursor, notification_id: int, event: ApiKey.Event
    ) -> AuditEntry:
        """Writes the event's rows; returns its audit entry (the chain links
        the very entry that was written)."""
        self._apply_key_state(cursor, key_state_change(event))
        entry = audit_entry(event)
        cursor.execute(self._insert_audit, entry_row_values(notification_id, entry))
        return entry

    def apply_all(
        self,
        cursor: Cursor,
        notification_ids: Sequence[int],
        events: Sequence[ApiKey.Event],
    ) -> list[AuditEntry]:
        return [
            self.apply(cursor, notification_id, event)
            for notification_id, event in zip(notification_ids, events, strict=True)
        ]

    def apply_batch(
        self, cursor: Cursor, events: Sequence[tuple[int, ApiKey.Event]]
    ) -> None:
        """The rows ``apply`` would write for each event, in a few statements.

        For a replay into tables nobody else writes: the row of a key
        created within the batch is folded in memory and inserted once, and
        all audit entries go in one ``executemany``. Each event still passes
        through ``key_state_change`` and ``audit_entry``.
        """
        created: dict[UUID, list[Any]] = {}
        for _, event in events:
            change = key_state_change(event)
            if isinstance(change, InsertKey):
                created[change.row.key_id] = key_row_values(change.row)
                continue
            row = created.get(change.key_id)
            if row is None:  # created in an earlier batch: its row is stored
                self._apply_key_state(cursor, change)
            elif isinstance(change, RemoveKey):
                del created[change.key_id]
            else:
                for column, value in change.fields.items():
                    row[_KEY_INDEX[column]] = _COLUMN_ENCODERS[column](value)
                row[_KEY_INDEX["version"]] = change.version
                row[_KEY_INDEX["updated_at"]] = to_micros(change.updated_at)
        if created:
            cursor.executemany(self._insert_key, list(created.values()))
        if events:
            cursor.executemany(
                self._insert_audit, [audit_row_values(n, e) for n, e in events]
            )

    def _apply_key_state(self, cursor: Cursor, change: KeyStateChange) -> None:
        if isinstance(change, InsertKey):
            cursor.execute(self._insert_key, key_row_values(change.row))
        elif isinstance(change, RemoveKey):
            cursor.execute(self._remove_key, (str(change.key_id),))
        else:
            key_id = str(change.key_id)
            updated_at = to_micros(change.updated_at)
            if not change.fields:
                cursor.execute(self._touch_key, (change.version, updated_at, key_id))
            for column, value in change.fields.items():
                cursor.execute(
                    self._update_key[column],
                    (
                        _COLUMN_ENCODERS[column](value),
                        change.version,
                        updated_at,
                        key_id,
                    ),
                )
