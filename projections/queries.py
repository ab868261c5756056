"""Read-side queries over the read model (listing, history, audit feed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import KeyStatus
from projections.audit_trail import AuditEntry
from projections.key_state import KeyRow
from projections.sql import (
    AUDIT_TABLE,
    KEYS_TABLE,
    Dialect,
    TransactionFactory,
    to_micros,
    to_seconds,
)
from projections.tables import (
    AUDIT_COLUMNS,
    KEY_COLUMNS,
    column_list,
    decode_audit_entry,
    decode_key_row,
)


@dataclass(frozen=True)
class AuditFilter:
    key_id: UUID | None = None
    actor: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class KeyFilter:
    status: str | None = None
    text: str | None = None


_KEY_COLUMNS = column_list(KEY_COLUMNS)
_AUDIT_COLUMNS = column_list(AUDIT_COLUMNS)
# domain.values.key_status in SQL (expires_at is whole seconds, valid
# through that second); tests/integration/test_key_status_filter.py runs
# both over the same keys.
_STATUS_FILTER = {
    KeyStatus.DISABLED: ("enabled = 0", False),
    KeyStatus.ENABLED: (
        "enabled = 1 AND (expires_at IS NULL OR expires_at >= ?)",
        True,
    ),
    KeyStatus.EXPIRED: ("enabled = 1 AND expires_at < ?", True),
}


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ReadModelQueries:
    def __init__(self, dialect: Dialect, transaction: TransactionFactory) -> None:
        self.dialect = dialect
        self._transaction = transaction
        self._keys = dialect.table(KEYS_TABLE)
        self._audit = dialect.table(AUDIT_TABLE)

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
        """Newest first, keyset-paged on (created_at, key_id)."""
        where: list[str] = []
        params: list[Any] = []
        now_s = to_seconds(now)
        if selection.status is not None:
            condition, takes_now = _STATUS_FILTER[KeyStatus(selection.status)]
            where.append(condition)
            if takes_now:
                params.append(now_s)
        if selection.text:
            where.append("lower(description) LIKE ? ESCAPE '\\'")
            params.append(_like_pattern(selection.text))
        if after is not None:
            where.append("(created_at < ? OR (created_at = ? AND key_id < ?))")
            micros = to_micros(after[0])
            params += [micros, micros, str(after[1])]
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._rows(
            f"SELECT {_KEY_COLUMNS} FROM {self._keys} {clause}"
            "ORDER BY created_at DESC, key_id DESC LIMIT ?",
            [*params, limit],
        )
        return [decode_key_row(row) for row in rows]

    def history(self, key_id: UUID) -> list[AuditEntry]:
        rows = self._rows(
            f"SELECT {_AUDIT_COLUMNS} FROM {self._audit} WHERE key_id = ? "
            "ORDER BY notification_id",
            [str(key_id)],
        )
        return [decode_audit_entry(row) for row in rows]

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
    ) -> list[AuditEntry]:
        """Events in recorded order, keyset-paged on the notification id."""
        if selection.since is not None:
            start = self._start_of_since(to_micros(selection.since), after)
            if start is None:
                return []
            after = start
        # One lower bound on the id, so the store seeks straight to it.
        where = ["notification_id > ?"]
        params: list[Any] = [after]
        if selection.key_id is not None:
            where.append("key_id = ?")
            params.append(str(selection.key_id))
        if selection.actor is not None:
            where.append("actor = ?")
            params.append(selection.actor)
        if selection.type is not None:
            where.append("type = ?")
            params.append(selection.type)
        if selection.since is not None:
            where.append("occurred_at >= ?")
            params.append(to_micros(selection.since))
        if selection.until is not None:
            where.append("occurred_at <= ?")
            params.append(to_micros(selection.until))
        rows = self._rows(
            f"SELECT {_AUDIT_COLUMNS} FROM {self._audit} "
            f"WHERE {' AND '.join(where)} ORDER BY notification_id LIMIT ?",
            [*params, limit],
        )
        return [decode_audit_entry(row) for row in rows]

    def _start_of_since(self, since: int, after: int) -> int | None:
        """Where a page of events recorded at or after ``since`` may start
        (None: there are none), so it need not scan the older log.

        Writers' clocks make times rise with the log only roughly, so the
        exact bound is the lowest id among the matching events. Collecting it
        walks the time index over all of them: done only when they are fewer
        than the events a scan from ``after`` would pass over, as for the
        usual "since yesterday" on a long log.
        """
        first = self._rows(
            f"SELECT notification_id FROM {self._audit} WHERE occurred_at >= ? "
            "ORDER BY occurred_at LIMIT 1",
            [since],
        )
        if not first:
            return None
        first_id = int(first[0]["notification_id"])  # the lowest id is at most this
        last = self._rows(f"SELECT MAX(notification_id) AS n FROM {self._audit}", [])
        if last[0]["n"] - first_id >= first_id - after:
            return after
        # "+ 0" keeps the store from answering MIN by walking the id index.
        lowest = self._rows(
            f"SELECT MIN(notification_id + 0) AS n FROM {self._audit} "
            "WHERE occurred_at >= ?",
            [since],
        )
        return max(after, int(lowest[0]["n"]) - 1)

    def audit_stream(
        self, selection: AuditFilter, *, after: int = 0, batch: int = 1000
    ) -> Iterator[AuditEntry]:
        """The whole selection, fetched a page at a time (constant memory)."""
        while True:
            page = self.audit_page(selection, after=after, limit=batch)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].notification_id
            del page  # else two pages are alive while the next one loads
