"""Finding keys by a piece of their description without reading every key.

SQLite: an FTS5 table with the trigram tokenizer beside the keys table
(``<keys table>_search``), one row per key, written by the read-model writer
in the transaction that writes the key row (created, restored, description
changed, deleted). Its row id is derived from the key id
(``search_rowid``), so it survives VACUUM and rebuilds, and each row carries
its key id so a search yields key ids directly.

PostgreSQL: a GIN index with ``pg_trgm``'s operator class on
``lower(description)``, kept by the server itself. Where the extension cannot
be created the index is left out (logged once) and a search scans.

Either index only narrows the candidates: the query keeps the exact
predicate (case-insensitive substring, LIKE's special characters literal),
so the results are the same with or without it.

Patterns of one or two characters have no trigram of their own. In SQLite
each description is indexed with two padding characters after it
(``search_text``), so every character of a description starts a trigram:
a key contains the pattern exactly when one of its trigrams starts with it.
The trigrams of the whole store that start with the pattern are read from
the index's vocabulary (``<search table>_vocab``, a range of its sorted
terms), and the keys holding any of them are the candidates. PostgreSQL's
``pg_trgm`` has no such lookup: there a short pattern is answered by a walk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from projections.key_state import InsertKey, KeyStateChange, RemoveKey
from projections.sql import Cursor, Dialect

logger = logging.getLogger("keyledger.search")

TRIGRAM = 3  # the shortest pattern a trigram index can look up
# ``search_rowid`` in SQL, on every SQLite connection of the store
# (``projections.library_internals.prepare_sqlite_pool``).
ROWID_FUNCTION = "keyledger_search_rowid"
# After every description in the SQLite index: U+0001 is a control
# character, which no description may hold (domain.values).
PAD = "\x01\x01"
# A short pattern starting more distinct trigrams than this is common: the
# walk finds its matches sooner than a lookup of them all.
SHORT_PATTERN_TERMS = 64


def search_text(description: str) -> str:
    """What the SQLite index holds for a description (see PAD)."""
    return description + PAD


def search_table(keys_table: str) -> str:
    """The search table kept beside a keys table (also its ``_next`` twin
    during a rebuild, so a rebuild's writer fills its own)."""
    return f"{keys_table}_search"


def search_rowid(key_id: UUID) -> int:
    """The key's row id in the search table: 63 bits folded from its id.

    Key ids are name-based UUIDs (a hash of the DevKey): the two halves'
    XOR spreads the fixed version and variant bits over hashed ones, so ids
    are distinct but for a chance of about n^2 / 2^64 (5e-8 at a million
    keys). A collision fails the write that creates the second key; it
    never mixes two keys up."""
    return _fold(key_id.int)


def _fold(number: int) -> int:
    return (number ^ (number >> 64)) & (2**63 - 1)


def _search_rowid_of_text(key_id: str) -> int:
    """``search_rowid`` of a key id as the keys table stores it (its text)."""
    return _fold(int(key_id.replace("-", ""), 16))


def sqlite_functions() -> dict[str, Callable[[str], int]]:
    """The SQL functions the search table's statements call on SQLite."""
    return {ROWID_FUNCTION: _search_rowid_of_text}


def vocabulary_table(keys_table: str) -> str:
    """The search table's terms (fts5vocab: stores nothing of its own)."""
    return f"{search_table(keys_table)}_vocab"


def search_table_ddl(dialect: Dialect, keys_table: str) -> list[str]:
    if dialect.name != "sqlite":
        return []
    table = search_table(keys_table)
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {dialect.table(table)} USING fts5("
        "description, key_id UNINDEXED, tokenize='trigram', columnsize=0)"
    ]


def vocabulary_ddl(dialect: Dialect, keys_table: str) -> list[str]:
    """The vocabulary of the live search table (a rebuild's ``_next`` table
    needs none: it takes the live one's name, which the vocabulary names)."""
    if dialect.name != "sqlite":
        return []
    return [
        # fts5vocab names its table in the same schema, unqualified.
        f"CREATE VIRTUAL TABLE IF NOT EXISTS "
        f"{dialect.table(vocabulary_table(keys_table))} "
        f"USING fts5vocab({search_table(keys_table)}, 'row')"
    ]


def short_pattern_match(cursor: Cursor, vocabulary: str, text: str) -> str | None:
    """An FTS5 query for the keys whose description contains ``text`` (one
    or two characters, lower case): any of the store's trigrams starting
    with it. None when they are more than SHORT_PATTERN_TERMS (common)."""
    cursor.execute(
        f"SELECT term FROM {vocabulary} WHERE term >= ? AND term < ? LIMIT ?",
        (text, text + "\U0010ffff", SHORT_PATTERN_TERMS + 1),
    )
    terms = [row["term"] for row in cursor.fetchall()]
    if len(terms) > SHORT_PATTERN_TERMS:
        return None
    # No trigram: no key holds it. A phrase this short matches no row.
    return " OR ".join(fts_phrase(term) for term in terms) or fts_phrase(text)


def fts_phrase(text: str) -> str:
    """An FTS5 query matching ``text`` as one phrase (a substring, for the
    trigram tokenizer), every character literal."""
    return '"' + text.replace('"', '""') + '"'


class KeySearchWriter:
    """Keeps the SQLite search table in step with the keys table; nothing
    to do on PostgreSQL, whose index follows the table."""

    def __init__(
        self, dialect: Dialect, keys_table: str, *, enabled: bool = True
    ) -> None:
        self.enabled = enabled and dialect.name == "sqlite"
        table = dialect.table(search_table(keys_table))
        self._insert = (
            f"INSERT INTO {table} (rowid, description, key_id) VALUES (?, ?, ?)"
        )
        self._delete = f"DELETE FROM {table} WHERE rowid = ?"
        self._update = f"UPDATE {table} SET description = ? WHERE rowid = ?"

    def apply(self, cursor: Cursor, change: KeyStateChange) -> None:
        if not self.enabled:
            return
        if isinstance(change, InsertKey):
            key_id = change.row.key_id
            cursor.execute(
                self._insert,
                (
                    search_rowid(key_id),
                    search_text(change.row.description),
                    str(key_id),
                ),
            )
        elif isinstance(change, RemoveKey):
            cursor.execute(self._delete, (search_rowid(change.key_id),))
        elif "description" in change.fields:
            cursor.execute(
                self._update,
                (
                    search_text(change.fields["description"]),
                    search_rowid(change.key_id),
                ),
            )


def prepare_search(cursor: Cursor, dialect: Dialect, keys_table: str) -> None:
    """Creates the search index of a store made before it, filled from the
    keys it holds; does nothing when it is there. Idempotent."""
    if dialect.name == "sqlite":
        _fill_search_table(cursor, dialect, keys_table)
    else:
        create_trigram_index(cursor, dialect, keys_table)


def _fill_search_table(cursor: Cursor, dialect: Dialect, keys_table: str) -> None:
    for statement in search_table_ddl(dialect, keys_table) + vocabulary_ddl(
        dialect, keys_table
    ):
        cursor.execute(statement)
    table = dialect.table(search_table(keys_table))
    cursor.execute(f"SELECT description FROM {table} LIMIT 1")
    found = cursor.fetchone()
    if found is not None:
        if found["description"].endswith(PAD):
            return
        # Filled before descriptions were padded: every row is refilled.
        logger.info("refilling the description search index (padded rows)")
        cursor.execute(f"DELETE FROM {table}")
    fill_search_table(cursor, dialect, keys_table)


def fill_search_table(cursor: Cursor, dialect: Dialect, keys_table: str) -> None:
    """SQLite: one search row for every key of ``keys_table``, into its
    empty search table, in one statement.

    The rows go in ascending row id order. FTS5 keeps each term's rows in
    row id order and writes out what it holds in memory whenever a row id
    is lower than the one before: fed in the keys' order (row ids are hashes,
    so at random) it writes a tiny segment per row or two and spends its time
    merging them, several times as long."""
    if dialect.name != "sqlite":
        return
    # The padding as a parameter: search_text's, spelled once.
    cursor.execute(
        f"INSERT INTO {dialect.table(search_table(keys_table))} "
        "(rowid, description, key_id) "
        f"SELECT {ROWID_FUNCTION}(key_id) AS search_rowid, description || ?, "
        f"key_id FROM {dialect.table(keys_table)} ORDER BY search_rowid",
        (PAD,),
    )


def create_trigram_index(cursor: Cursor, dialect: Dialect, keys_table: str) -> bool:
    """PostgreSQL: the trigram index on ``lower(description)``, creating
    ``pg_trgm`` (in schema public) if it is missing. False, with a warning
    logged, when the extension cannot be had: searches then scan."""
    cursor.execute("SAVEPOINT keyledger_trigram")
    try:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        cursor.execute(
            "SELECT extnamespace::regnamespace::text AS schema "
            "FROM pg_extension WHERE extname = 'pg_trgm'"
        )
        schema = cursor.fetchone()["schema"]
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {keys_table}_description_trgm "
            f"ON {dialect.table(keys_table)} "
            f"USING gin (lower(description) {schema}.gin_trgm_ops)"
        )
    except Exception as error:  # any refusal: run without it
        cursor.execute("ROLLBACK TO SAVEPOINT keyledger_trigram")
        logger.warning(
            "description search index (pg_trgm) not created (%s: %s); "
            "GET /v1/keys?q= will scan the keys table. A database owner can "
            "run CREATE EXTENSION pg_trgm; the next start creates the index.",
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
        )
        return False
    cursor.execute("RELEASE SAVEPOINT keyledger_trigram")
    return True
