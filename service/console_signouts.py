"""Console sessions ended by signing out, kept until they would have ended
anyway.

A console session lives in a signed cookie, so clearing it in the browser
that signs out does not stop a copy of it (kept by a proxy's log, another
tab's saved state, someone who took it) from working until its absolute
lifetime ends. Signing out therefore records the session's random id here,
with the moment its lifetime ends; every console request refuses a session
whose id is recorded. Rows past that moment can no longer matter and are
removed by the next sign-out. The table is shared by every worker and
instance of the store, so a sign-out holds everywhere at once.
"""

from __future__ import annotations

from projections.sql import Dialect, TransactionFactory

SIGNOUTS_TABLE = "keyledger_console_signouts"


def signouts_ddl(dialect: Dialect) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {dialect.table(SIGNOUTS_TABLE)} ("
        "session_id TEXT PRIMARY KEY, "
        "ends_at BIGINT NOT NULL)"
    )


class ConsoleSignOuts:
    def __init__(
        self, dialect: Dialect, read: TransactionFactory, write: TransactionFactory
    ) -> None:
        q, table = dialect.sql, dialect.table(SIGNOUTS_TABLE)
        self._read, self._write = read, write
        self._insert = q(
            f"INSERT INTO {table} (session_id, ends_at) VALUES (?, ?) "
            "ON CONFLICT (session_id) DO NOTHING"
        )
        self._purge = q(f"DELETE FROM {table} WHERE ends_at < ?")
        self._find = q(f"SELECT 1 AS ended FROM {table} WHERE session_id = ?")

    def record(self, session_id: str, ends_at: float, now: float) -> None:
        """The session is over; ``ends_at``: when its lifetime would end."""
        with self._write() as cursor:
            cursor.execute(self._purge, (int(now),))
            cursor.execute(self._insert, (session_id, int(ends_at) + 1))

    def ended(self, session_id: str) -> bool:
        with self._read() as cursor:
            cursor.execute(self._find, (session_id,))
            return cursor.fetchone() is not None
