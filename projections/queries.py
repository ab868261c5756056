"""Read-side queries over the read model (listing, history, audit feed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.audit_marks import AuditMarks
from projections.chain_store import CHAIN_TABLE, LinkedAuditEntry, linked_entry

# KeyFilter: imported from here by the service.
from projections.key_listing import KeyFilter as KeyFilter
from projections.key_listing import KeyListing
from projections.key_state import KeyRow
from projections.sql import (
    AUDIT_TABLE,
    KEYS_TABLE,
    Dialect,
    TransactionFactory,
    to_micros,
)
from projections.tables import (
    AUDIT_COLUMNS,
    KEY_COLUMNS,
    column_list,
    decode_key_row,
)


@dataclass(frozen=True)
class AuditFilter:
    key_id: UUID | None = None
    actor: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


_KEY_COLUMNS = column_list(KEY_COLUMNS)
# Audit entries come with their links in the audit chain, kept in its own
# table, which a rebuild of the read model never touches.
_LINKED_COLUMNS = f"{column_list(AUDIT_COLUMNS)}, hash, event_sha256"


class ReadModelQueries:
    def __init__(self, dialect: Dialect, transaction: TransactionFactory) -> None:
        self.dialect = dialect
        self._transaction = transaction
        self._keys = dialect.table(KEYS_TABLE)
        self._audit = dialect.table(AUDIT_TABLE)
        self._listing = KeyListing(dialect, transaction)
        self._marks = AuditMarks(dialect)
        self._linked_audit = (
            f"{self._audit} LEFT JOIN {dialect.table(CHAIN_TABLE)} "
            "ON position = notification_id"
        )

    def _rows(self, statement: str, params: list[Any]) -> list[Any]:
        with self._transaction() as cursor:
            cursor.execute(self.dialect.sql(statement), params)
            return list(cursor.fetchall())

    def key(self, key_id: UUID) -> KeyRow | None:
        rows = self._rows(
            f"SELECT {_KEY_COLUMNS} FROM {self._keys} WHERE key_id = ?", [str(key_id)]
        )
        return decode_key_row(rows[0]) if rows else None

    def list_keys(
        self,
        selection: KeyFilter,
        *,
        now: datetime,
        limit: int,
        after: tuple[datetime, UUID] | None = None,
    ) -> list[KeyRow]:
        """Newest first, keyset-paged on (created_at, key_id)
        (``projections.key_listing``)."""
        return self._listing.list_keys(selection, now=now, limit=limit, after=after)

    def history(self, key_id: UUID) -> list[LinkedAuditEntry]:
        rows = self._rows(
            f"SELECT {_LINKED_COLUMNS} FROM {self._linked_audit} WHERE key_id = ? "
            "ORDER BY notification_id",
            [str(key_id)],
        )
        return [linked_entry(row) for row in rows]

    def version_at(self, key_id: UUID, moment: datetime) -> int | None:
        """The key's version counting the events recorded at or before ``moment``."""
        rows = self._rows(
            f"SELECT MAX(version) AS version FROM {self._audit} "
            "WHERE key_id = ? AND occurred_at <= ?",
            [str(key_id), to_micros(moment)],
        )
        value = rows[0]["version"] if rows else None
        return None if value is None else int(value)

    def audit_page(
        self, selection: AuditFilter, *, after: int = 0, limit: int = 100
    ) -> list[LinkedAuditEntry]:
        """Events in recorded order, keyset-paged on the notification id.

        A time range first becomes a range of ids (``projections.audit_marks``)
        that holds all its events and at most a few buckets' worth of others,
        so the page is a seek and a short walk at any log size."""
        where = ["notification_id > ?"]
        params: list[Any] = []
        if selection.key_id is not None:
            where.append("key_id = ?")
            params.append(str(selection.key_id))
        if selection.actor is not None:
            where.append("actor = ?")
            params.append(selection.actor)
        if selection.type is not None:
            where.append("type = ?")
            params.append(selection.type)
        # "+": the time is checked on the rows the id range gives, never
        # looked up in the time index (a range over half the log).
        if selection.since is not None:
            where.append("+occurred_at >= ?")
            params.append(to_micros(selection.since))
        if selection.until is not None:
            where.append("+occurred_at <= ?")
            params.append(to_micros(selection.until))
        with self._transaction() as cursor:
            if self.dialect.name == "postgres":
                # The page is always a walk in id order on one index; with
                # statistics older than the log the planner may rather fetch
                # every match and sort them.
                cursor.execute("SET LOCAL enable_sort = off")
            if selection.since is not None:
                after = max(
                    after, self._marks.start(cursor, to_micros(selection.since))
                )
            if selection.until is not None:
                end = self._marks.end(cursor, to_micros(selection.until))
                if end is not None:
                    if end <= after:
                        return []
                    where.append("notification_id <= ?")
                    params.append(end)
            cursor.execute(
                self.dialect.sql(
                    f"SELECT {_LINKED_COLUMNS} FROM {self._linked_audit} "
                    f"WHERE {' AND '.join(where)} ORDER BY notification_id LIMIT ?"
                ),
                [after, *params, limit],
            )
            return [linked_entry(row) for row in cursor.fetchall()]

    def audit_stream(
        self, selection: AuditFilter, *, after: int = 0, batch: int = 1000
    ) -> Iterator[LinkedAuditEntry]:
        """The whole selection, fetched a page at a time (constant memory)."""
        while True:
            page = self.audit_page(selection, after=after, limit=batch)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].notification_id
            del page  # else two pages are alive while the next one loads
