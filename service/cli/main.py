"""The ``keyledger`` parser, and the one place that turns failures into exit
statuses and messages (never a traceback)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from importlib import metadata

import psycopg
from eventsourcing.persistence import PersistenceError

from domain import DomainError, InvalidValue, KeyDeleted
from service.cli import audit, keys, operators, secrets, store
from service.cli.common import Refused, UsageError
from service.config import ConfigurationError
from service.ledger import KeyBusy, KeyNotFound, VersionMismatch
from service.operators import OperatorError

# One module per command group; each has register(commands).
GROUPS = (keys, operators, audit, secrets, store)
DONE, FAILED, USAGE = 0, 1, 2
EPILOG = """\
exit status: 0 done, 1 refused or failed (the reason on stderr), 2 usage error.
Settings come from the environment, as for the service: KEYLEDGER_DATABASE_URL,
KEYLEDGER_SECRET_KEY or KEYLEDGER_SECRET_KEY_FILE, ...
Changes are recorded as made by --actor, by default cli:<your login name>.
"""


def _version() -> str:
    try:
        return metadata.version("keyledger")
    except metadata.PackageNotFoundError:
        return "unknown"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="keyledger",
        description="keyledger's command line: keys, operators, audit trail, store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"keyledger {_version()}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return root


def _failure(error: BaseException) -> str:
    """The message for a failure, naming what went wrong and never quoting a
    secret (no command puts one in an exception)."""
    if isinstance(error, InvalidValue):
        return "invalid input: " + "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.errors.items()
        )
    if isinstance(error, KeyNotFound | KeyDeleted):
        return "no such key"
    if isinstance(error, VersionMismatch):
        return f"--if-match does not match: the key is at version {error.current}"
    if isinstance(error, KeyBusy):
        return "the key is being changed by many callers at once; retry shortly"
    if isinstance(error, PersistenceError | sqlite3.Error | psycopg.Error):
        if _never_prepared(error):
            return "the store is not prepared: run `keyledger init` first"
        return f"the store failed: {type(error).__name__}: {error}".strip()
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}"
    if isinstance(error, Refused | ConfigurationError | OperatorError | DomainError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"


def _never_prepared(error: Exception) -> bool:
    """A missing table: SQLite's "no such table", PostgreSQL's 42P01."""
    text = str(error)
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # exits 2 on a usage error
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except UsageError as error:
        print(f"keyledger: error: {error}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return FAILED
    except Exception as error:  # every failure is a message, never a traceback
        print(f"keyledger: {_failure(error)}", file=sys.stderr)
        return FAILED
