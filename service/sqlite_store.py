"""The SQLite database file is its owner's alone.

It holds sealed DevSecrets and keyed hashes, so it is readable by its owner
only, like the key file beside it. (Durability pragmas are set on every
pooled connection: projections/library_internals.prepare_sqlite_pool.)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

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
