"""Listing keys newest first, filtered, at a cost that does not grow with the
number of keys.

Two ways to answer a page, chosen per call:

- **walk**: down an index in (created_at, key_id) order, from the cursor,
  keeping the keys that pass the filter, until the page is full. Cheap when
  matches are common: a page of 50 reads about 50 / (share of matches)
  entries. With a status the index starts with ``enabled`` and carries
  ``expires_at``, so the status is decided in the index.
- **rare side first**: when a filter has an index of its own (a description
  search, expired keys, ``expires_before``), up to ``RARE_CAP`` + 1
  matching key ids are taken from it; if there are no more than
  ``RARE_CAP``, just those keys are read, filtered and sorted.

A filter that is rare by its own index is answered from it; one that is
common is answered by the walk, which then finds its matches quickly. Only a
filter matching a small share of a huge store yet more than ``RARE_CAP``
keys costs more (at most RARE_CAP / share entries per page); see
docs/listing-at-scale.md.

A search of one or two characters (SQLite) first walks the next
``PROBE_KEYS`` keys for its page: a common pattern ends there. Only a rare
one goes on to its trigrams (projections/key_search.py), whose lookup costs
what the keys holding them number.

Every way applies the exact same SQL filter, so they only differ in cost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import KeyStatus
from projections.key_search import (
    TRIGRAM,
    fts_phrase,
    search_table,
    short_pattern_match,
    vocabulary_table,
)
from projections.key_state import KeyRow
from projections.sql import (
    KEYS_TABLE,
    Cursor,
    Dialect,
    TransactionFactory,
    to_micros,
    to_seconds,
)
from projections.tables import KEY_COLUMNS, column_list, decode_key_row

RARE_CAP = 2000
# A one- or two-character search first walks this many keys (newest first,
# by the other filters) for its page.
PROBE_KEYS = 2000

_KEY_COLUMNS = column_list(KEY_COLUMNS)
# domain.values.key_status in SQL (expires_at is whole seconds, valid
# through that second); tests/integration/test_key_status_filter.py runs
# both over the same keys. The "+" keeps the walk on its index: the store
# must not trade it for a range on expires_at and a sort.
_STATUS_FILTER = {
    KeyStatus.DISABLED: ("enabled = 0", False),
    KeyStatus.ENABLED: (
        "enabled = 1 AND (+expires_at IS NULL OR +expires_at >= ?)",
        True,
    ),
    KeyStatus.EXPIRED: ("enabled = 1 AND +expires_at < ?", True),
}


def like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class KeyFilter:
    status: str | None = None
    text: str | None = None
    expires_before: datetime | None = None


@dataclass
class _Where:
    conditions: list[str]
    params: list[Any]

    def clause(self) -> str:
        return " AND ".join(self.conditions) if self.conditions else "1 = 1"


class KeyListing:
    def __init__(
        self,
        dialect: Dialect,
        transaction: TransactionFactory,
        rare_cap: int = RARE_CAP,
        probe_keys: int = PROBE_KEYS,
    ) -> None:
        self.dialect = dialect
        self.rare_cap = rare_cap
        self.probe_keys = probe_keys
        self._transaction = transaction
        self._keys = dialect.table(KEYS_TABLE)
        self._search = dialect.table(search_table(KEYS_TABLE))
        self._vocabulary = dialect.table(vocabulary_table(KEYS_TABLE))

    def list_keys(
        self,
        selection: KeyFilter,
        *,
        now: datetime,
        limit: int,
        after: tuple[datetime, UUID] | None = None,
    ) -> list[KeyRow]:
        """Newest first, keyset-paged on (created_at, key_id)."""
        where = self._where(selection, now, after)
        order = "ORDER BY created_at DESC, key_id DESC LIMIT ?"
        with self._transaction() as cursor:
            if self._short_pattern(selection):
                page = self._probe(cursor, selection, where, now, limit, after)
                if page is not None:
                    return page
            ids = self._rare_side(cursor, selection, now)
            if ids is None:
                if self.dialect.name == "postgres":
                    # The walk is chosen for a filter known to match often;
                    # the planner cannot know that and may prefer to fetch
                    # every row the index condition admits, then sort.
                    cursor.execute("SET LOCAL enable_sort = off")
                statement = (
                    f"SELECT {_KEY_COLUMNS} FROM {self._keys} "
                    f"WHERE {where.clause()} {order}"
                )
                params = [*where.params, limit]
            elif self.dialect.name == "sqlite":
                # CROSS JOIN: SQLite keeps the listed ids as the outer loop.
                statement = (
                    f"SELECT {_KEY_COLUMNS} FROM json_each(?) AS listed "
                    f"CROSS JOIN {self._keys} ON key_id = listed.value "
                    f"WHERE {where.clause()} {order}"
                )
                params = [json.dumps(ids), *where.params, limit]
            else:
                # OFFSET 0: PostgreSQL reads the listed keys by primary key
                # first, and filters and sorts them after.
                statement = (
                    f"SELECT {_KEY_COLUMNS} FROM (SELECT {_KEY_COLUMNS} "
                    f"FROM {self._keys} WHERE key_id = ANY(?) OFFSET 0) AS listed "
                    f"WHERE {where.clause()} {order}"
                )
                params = [ids, *where.params, limit]
            cursor.execute(self.dialect.sql(statement), params)
            return [decode_key_row(row) for row in cursor.fetchall()]

    def _short_pattern(self, selection: KeyFilter) -> bool:
        """One or two characters, looked up in SQLite's search vocabulary."""
        text = selection.text or ""
        return 0 < len(text) < TRIGRAM and self.dialect.name == "sqlite"

    def _probe(
        self,
        cursor: Cursor,
        selection: KeyFilter,
        where: _Where,
        now: datetime,
        limit: int,
        after: tuple[datetime, UUID] | None,
    ) -> list[KeyRow] | None:
        """The page, when the next ``probe_keys`` keys (by the other
        filters) hold it; else None. A common short pattern is answered here
        at the cost of a short walk, before its trigrams' vocabulary (which
        counts every key holding them) is read."""
        others = self._where(replace(selection, text=None), now, after)
        cursor.execute(
            f"SELECT created_at, key_id FROM {self._keys} "
            f"WHERE {others.clause()} "
            "ORDER BY created_at DESC, key_id DESC LIMIT 1 OFFSET ?",
            [*others.params, self.probe_keys - 1],
        )
        edge = cursor.fetchone()
        bounded = _Where([*where.conditions], [*where.params])
        if edge is not None:
            # Only the keys up to the edge, which the walk reads in order.
            bounded.conditions.append("(created_at, key_id) >= (?, ?)")
            bounded.params += [edge["created_at"], edge["key_id"]]
        cursor.execute(
            f"SELECT {_KEY_COLUMNS} FROM {self._keys} WHERE {bounded.clause()} "
            "ORDER BY created_at DESC, key_id DESC LIMIT ?",
            [*bounded.params, limit],
        )
        rows = [decode_key_row(row) for row in cursor.fetchall()]
        # A full page, or every key there is (no edge): the answer.
        return rows if len(rows) == limit or edge is None else None

    def _where(
        self,
        selection: KeyFilter,
        now: datetime,
        after: tuple[datetime, UUID] | None,
    ) -> _Where:
        where = _Where([], [])
        if selection.status is not None:
            condition, takes_now = _STATUS_FILTER[KeyStatus(selection.status)]
            where.conditions.append(condition)
            if takes_now:
                where.params.append(to_seconds(now))
        if selection.expires_before is not None:
            where.conditions.append("+expires_at <= ?")
            where.params.append(to_seconds(selection.expires_before))
        if selection.text:
            # "|| ''": the walk must not trade its order for a trigram index.
            where.conditions.append("(lower(description) || '') LIKE ? ESCAPE '\\'")
            where.params.append(like_pattern(selection.text))
        if after is not None:
            where.conditions.append("(created_at, key_id) < (?, ?)")
            where.params += [to_micros(after[0]), str(after[1])]
        return where

    def _rare_side(
        self, cursor: Cursor, selection: KeyFilter, now: datetime
    ) -> list[str] | None:
        """The ids of every key a filter with its own index admits, when they
        are at most ``rare_cap`` (the page is among them); else None.

        Counted first, up to one past the cap, from the index alone: when
        they are many, no row was read for nothing."""
        for source, params in self._rare_sources(cursor, selection, now):
            cursor.execute(
                self.dialect.sql(
                    "SELECT COUNT(*) AS n FROM "
                    f"(SELECT 1 AS one {source} LIMIT ?) AS candidates"
                ),
                [*params, self.rare_cap + 1],
            )
            if cursor.fetchone()["n"] <= self.rare_cap:
                cursor.execute(self.dialect.sql(f"SELECT key_id {source}"), params)
                return [str(row["key_id"]) for row in cursor.fetchall()]
        return None

    def _rare_sources(
        self, cursor: Cursor, selection: KeyFilter, now: datetime
    ) -> list[tuple[str, list[Any]]]:
        """Each filter with an index of its own, as ``FROM … WHERE …``."""
        sources: list[tuple[str, list[Any]]] = []
        text = (selection.text or "").lower()
        if text and len(text) < TRIGRAM and self.dialect.name == "sqlite":
            match = short_pattern_match(cursor, self._vocabulary, text)
            if match is not None:
                sources.append(
                    (f"FROM {self._search} WHERE {self._search} MATCH ?", [match])
                )
        elif len(text) >= TRIGRAM:
            if self.dialect.name == "sqlite":
                sources.append(
                    (
                        f"FROM {self._search} WHERE {self._search} MATCH ?",
                        [fts_phrase(text)],
                    )
                )
            else:
                sources.append(
                    (
                        f"FROM {self._keys} "
                        "WHERE lower(description) LIKE ? ESCAPE '\\'",
                        [like_pattern(text)],
                    )
                )
        expiry: list[str] = []
        params: list[Any] = []
        if selection.status in (KeyStatus.EXPIRED, KeyStatus.DISABLED):
            expiry.append(f"enabled = {int(selection.status == KeyStatus.EXPIRED)}")
        elif selection.status == KeyStatus.ENABLED:
            expiry.append("enabled = 1 AND expires_at >= ?")
            params.append(to_seconds(now))
        if selection.status == KeyStatus.EXPIRED:
            expiry.append("expires_at < ?")
            params.append(to_seconds(now))
        if selection.expires_before is not None:
            expiry.append("expires_at <= ?")
            params.append(to_seconds(selection.expires_before))
        if selection.status == KeyStatus.EXPIRED or selection.expires_before:
            sources.append(
                (
                    f"FROM {self._keys} WHERE {' AND '.join(expiry)}",
                    params,
                )
            )
        return sources
