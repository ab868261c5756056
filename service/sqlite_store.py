"""SQLite store settings eventsourcing leaves to the build's defaults.

The database file holds sealed DevSecrets and keyed hashes, so it is
readable by its owner only, like the key file beside it. Durability is set
on every connection that may write rather than trusted to the build:
``journal_mode=WAL`` with ``synchronous=FULL`` makes each acknowledged
commit reach the disk before the call answers, also across a power cut.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

FILE_MODE = 0o600
# SQLite creates these beside the database with the database file's mode.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


def secure_database_file(path: Path) -> None:
    """Creates the database file 0600 before SQLite would create it 0644
    (less the umask), and takes group and other access from an existing one
    and its companions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for candidate in (path, *(Path(f"{path}{s}") for s in COMPANION_SUFFIXES)):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(FILE_MODE)


def enforce_durability(datastore: SQLiteDatastore) -> None:
    """Every connection the pool opens gets WAL and synchronous=FULL."""
    pool: Any = datastore.pool
    create = pool._create_connection  # the pool offers no per-connection hook

    def create_durable() -> Any:
        connection = create()
        connection._sqlite_conn.execute("PRAGMA journal_mode=WAL")
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return connection

    pool._create_connection = create_durable
