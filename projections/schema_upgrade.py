"""Bringing a read model made by an earlier release up to this one, in
place: what ``ProjectingRecorder.upgrade`` does inside its transaction.

Every step is idempotent (each checks what is there first), so it runs on
every start; a store made by this release finds nothing to do.
"""

from __future__ import annotations

from projections.key_search import prepare_search
from projections.sql import KEYS_TABLE, SECRET_INDEX_TABLE, Cursor, Dialect
from projections.tables import KEY_COLUMN, KEYS_ADDED_COLUMNS
from projections.writer import ReadModelWriter


def _columns(cursor: Cursor, dialect: Dialect, table: str) -> set[str]:
    if dialect.name == "sqlite":
        cursor.execute("SELECT name FROM pragma_table_info(?)", (table,))
    else:
        cursor.execute(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (dialect.schema or "public", table),
        )
    return {row["name"] for row in cursor.fetchall()}


def upgrade_in_place(cursor: Cursor, dialect: Dialect, writer: ReadModelWriter) -> bool:
    """Adds the key columns the keys table lacks, then fills from the rows
    already there the description search (``projections.key_search``) and
    the audit marks (``projections.audit_marks``). True when the secret
    index is empty beside existing keys: only a replay of the log fills it.

    The new indexes of existing tables need nothing here: the schema's
    ``CREATE INDEX IF NOT EXISTS`` statements, run on every start, build
    them from the rows.
    """
    keys = dialect.table(KEYS_TABLE)
    present = _columns(cursor, dialect, KEYS_TABLE)
    for column in KEYS_ADDED_COLUMNS:
        if column not in present:
            kind = KEY_COLUMN[column].sql_type
            cursor.execute(f"ALTER TABLE {keys} ADD COLUMN {column} {kind}")
    prepare_search(cursor, dialect, KEYS_TABLE)
    position = writer.position(cursor)
    writer.marks.fill(cursor, position)
    index = dialect.table(SECRET_INDEX_TABLE)
    cursor.execute(f"SELECT 1 AS found FROM {index} LIMIT 1")
    return cursor.fetchone() is None and position > 0
