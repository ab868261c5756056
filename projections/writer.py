"""Applies ApiKey events to the read model through a database cursor.

The caller owns the transaction: the live path calls ``apply_all`` inside the
transaction that inserts the events, so the view can never disagree with the
log; the rebuild plans batches (``plan_batch``) and writes them
(``write_batch``) into fresh tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from domain import ApiKey
from projections.audit_marks import AuditMarks
from projections.audit_trail import AuditEntry, audit_entry
from projections.key_search import KeySearchWriter
from projections.key_state import (
    InsertKey,
    KeyStateChange,
    RemoveKey,
    key_state_change,
)
from projections.secret_index import SecretIndexWriter
from projections.sql import (
    AUDIT_TABLE,
    KEYS_TABLE,
    POSITION_NAME,
    POSITION_TABLE,
    SECRET_INDEX_TABLE,
    Cursor,
    Dialect,
    StatementRuns,
    to_micros,
    write_runs,
)
from projections.tables import (
    AUDIT_COLUMNS,
    KEY_COLUMNS,
    column_list,
    encode_audit_entry,
    encode_key_row,
)

# Stored form of each key field an update may change.
_ENCODERS = {column.name: column.encode for column in KEY_COLUMNS}
_KEY_INDEX = {column.name: n for n, column in enumerate(KEY_COLUMNS)}


@dataclass(frozen=True)
class BatchPlan:
    """What a batch of events writes into fresh tables nobody else writes.

    The row of a key created within the batch is folded in memory and
    inserted once (``key_rows``), all audit entries go in one
    ``executemany`` (``audit_rows``), and everything else (the secret
    index, changes to keys stored by an earlier batch) in ``runs``, in
    order. Plain values only: a second process can work it out."""

    runs: list[tuple[str, list[Any]]]
    key_rows: list[list[Any]]
    audit_rows: list[tuple[Any, ...]]


class ReadModelWriter:
    """Writes key-state rows and audit entries for a stream of events."""

    # PostgreSQL: a rebuild's batches load key and audit rows with COPY.
    copy_into_fresh_tables = True

    def __init__(
        self,
        dialect: Dialect,
        keys_table: str = KEYS_TABLE,
        audit_table: str = AUDIT_TABLE,
        secret_index_table: str = SECRET_INDEX_TABLE,
        *,
        with_search: bool = True,
    ) -> None:
        self.dialect = dialect
        self.secret_index = SecretIndexWriter(dialect, secret_index_table)
        # Its table is named after keys_table: a rebuild's writer fills its
        # own. A rebuild's batches leave it alone: it is filled once from the
        # finished keys (``key_search.fill_search_table``).
        self.search = KeySearchWriter(dialect, keys_table, enabled=with_search)
        self.marks = AuditMarks(dialect, audit_table)
        keys = dialect.table(keys_table)
        audit = dialect.table(audit_table)
        positions = dialect.table(POSITION_TABLE)
        q = dialect.sql
        self._insert_key = q(
            f"INSERT INTO {keys} ({column_list(KEY_COLUMNS)}) "
            f"VALUES ({','.join('?' * len(KEY_COLUMNS))})"
        )
        self._remove_key = q(f"DELETE FROM {keys} WHERE key_id = ?")
        self._update_key = {
            column: q(
                f"UPDATE {keys} SET {column} = ?, version = ?, updated_at = ? "
                "WHERE key_id = ?"
            )
            for column in _ENCODERS
            if column not in ("key_id", "version", "updated_at")
        }
        self._touch_key = q(
            f"UPDATE {keys} SET version = ?, updated_at = ? WHERE key_id = ?"
        )
        self._insert_audit = q(
            f"INSERT INTO {audit} ({column_list(AUDIT_COLUMNS)}) "
            f"VALUES ({','.join('?' * len(AUDIT_COLUMNS))})"
        )
        self._copy_keys = f"COPY {keys} ({column_list(KEY_COLUMNS)}) FROM STDIN"
        self._copy_audit = f"COPY {audit} ({column_list(AUDIT_COLUMNS)}) FROM STDIN"
        self._select_position = q(f"SELECT position FROM {positions} WHERE name = ?")
        self._upsert_position = q(
            f"INSERT INTO {positions} (name, position) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
        )

    def position(self, cursor: Cursor) -> int:
        cursor.execute(self._select_position, (POSITION_NAME,))
        row = cursor.fetchone()
        return 0 if row is None else int(row["position"])

    def set_position(self, cursor: Cursor, position: int) -> None:
        """Records that the view holds the events up to ``position`` (and
        marks the audit entries written since the last call)."""
        before = self.position(cursor)
        cursor.execute(self._upsert_position, (POSITION_NAME, position))
        self.marks.recorded(cursor, before, position)

    def apply(
        self, cursor: Cursor, notification_id: int, event: ApiKey.Event
    ) -> AuditEntry:
        """Writes the event's rows; returns its audit entry (the audit chain
        links the very entry that was written)."""
        self._apply_key_state(cursor, key_state_change(event))
        self.secret_index.apply(cursor, event)
        entry = audit_entry(notification_id, event)
        cursor.execute(self._insert_audit, encode_audit_entry(entry))
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

    def plan_batch(self, events: Sequence[tuple[int, ApiKey.Event]]) -> BatchPlan:
        """The statements for a batch of events, worked out without the
        database. Each event passes through ``key_state_change``,
        ``SecretIndexWriter.apply`` and ``audit_entry``, as in ``apply``.

        For a replay into tables nobody else writes (see ``BatchPlan``) by a
        writer made ``with_search=False``: it plans no search rows."""
        if self.search.enabled:
            msg = "plan batches with a writer made with_search=False"
            raise ValueError(msg)
        created: dict[UUID, list[Any]] = {}
        runs = StatementRuns()
        for _, event in events:
            self.secret_index.apply(runs, event)
            change = key_state_change(event)
            if isinstance(change, InsertKey):
                created[change.row.key_id] = encode_key_row(change.row)
                continue
            row = created.get(change.key_id)
            if row is None:  # created in an earlier batch: its row is stored
                self._apply_key_state(runs, change)
            elif isinstance(change, RemoveKey):
                del created[change.key_id]
            else:
                for column, value in change.fields.items():
                    row[_KEY_INDEX[column]] = _ENCODERS[column](value)
                row[_KEY_INDEX["version"]] = change.version
                row[_KEY_INDEX["updated_at"]] = to_micros(change.updated_at)
        return BatchPlan(
            runs.runs,
            list(created.values()),
            [encode_audit_entry(audit_entry(n, e)) for n, e in events],
        )

    def write_batch(self, cursor: Cursor, plan: BatchPlan) -> None:
        # A key deleted (its stored row) and restored (in ``key_rows``)
        # within the batch: the DELETE, in the runs, goes first.
        write_runs(cursor, plan.runs)
        if plan.key_rows:
            self._insert_many(cursor, self._insert_key, self._copy_keys, plan.key_rows)
        if plan.audit_rows:
            self._insert_many(
                cursor, self._insert_audit, self._copy_audit, plan.audit_rows
            )

    def _insert_many(
        self, cursor: Cursor, insert: str, copy: str, rows: Sequence[Sequence[Any]]
    ) -> None:
        if self.dialect.name == "postgres" and self.copy_into_fresh_tables:
            # COPY streams the rows: no statement to parse and bind per row.
            with cast(Any, cursor).copy(copy) as stream:
                for row in rows:
                    stream.write_row(row)
        else:
            cursor.executemany(insert, rows)

    def _apply_key_state(self, cursor: Cursor, change: KeyStateChange) -> None:
        self.search.apply(cursor, change)
        if isinstance(change, InsertKey):
            cursor.execute(self._insert_key, encode_key_row(change.row))
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
                        _ENCODERS[column](value),
                        change.version,
                        updated_at,
                        key_id,
                    ),
                )
