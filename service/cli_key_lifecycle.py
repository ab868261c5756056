"""``keyledger keys roll-secret`` and ``keyledger keys restore``.

Same settings and same application as the service; the change is recorded
with ``--actor`` (default ``cli:<login name>``) as the operator who made it.
Exit status 0 done, 1 refused (message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain import AuditContext, DomainError, InvalidValue, KeyNotDeleted, recording_as
from domain.times import format_optional_time
from service.config import load_settings
from service.ledger import KeyNotFound
from service.wiring import Services, build_services


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (containers)
        return "cli"


def _key_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a key id (UUID)") from None


def _grace(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number of seconds") from None


def _run(args: argparse.Namespace, change: Callable[[Services], dict[str, Any]]) -> int:
    services = build_services(load_settings())
    try:
        with recording_as(AuditContext(actor=args.actor)):
            result = change(services)
    except KeyNotFound:
        print(f"keyledger: no such key {args.key_id}", file=sys.stderr)
        return 1
    except KeyNotDeleted:
        print(f"keyledger: key {args.key_id} is not deleted", file=sys.stderr)
        return 1
    except InvalidValue as error:
        print(f"keyledger: invalid {error.field}: {error.message}", file=sys.stderr)
        return 1
    except DomainError as error:
        print(f"keyledger: refused: {error}", file=sys.stderr)
        return 1
    finally:
        services.close()
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name}: {value}")
    return 0


def cmd_roll_secret(args: argparse.Namespace) -> int:
    def roll(services: Services) -> dict[str, Any]:
        issued = services.ledger.roll_secret(args.key_id, args.grace_seconds)
        return {
            "id": str(issued.key.id),
            "dev_key": issued.key.dev_key,
            "dev_secret": issued.dev_secret,
            "previous_secret_expires_at": format_optional_time(
                issued.key.previous_secret_expires_at
            ),
            "version": issued.key.version,
        }

    return _run(args, roll)


def cmd_restore(args: argparse.Namespace) -> int:
    def restore(services: Services) -> dict[str, Any]:
        key = services.ledger.restore_key(args.key_id)
        return {
            "id": str(key.id),
            "dev_key": key.dev_key,
            "status": key.status(services.ledger.clock()).value,
            "version": key.version,
        }

    return _run(args, restore)


def add_key_lifecycle_commands(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the commands to the ``keys`` group's sub-parsers."""
    roll = actions.add_parser(
        "roll-secret",
        help="draw a new DevSecret; the old one works for --grace-seconds more",
    )
    roll.add_argument("key_id", type=_key_id, metavar="ID", help="the key's id")
    roll.add_argument(
        "--grace-seconds",
        type=_grace,
        required=True,
        help="how long the old secret keeps working (0 to 2592000)",
    )
    restore = actions.add_parser("restore", help="bring a deleted key back, disabled")
    restore.add_argument("key_id", type=_key_id, metavar="ID", help="the key's id")
    for parser, run in ((roll, cmd_roll_secret), (restore, cmd_restore)):
        parser.add_argument("--json", action="store_true", help="one JSON document")
        parser.add_argument(
            "--actor",
            default=_default_actor(),
            help="who is recorded as making the change (default: cli:<login>)",
        )
        parser.set_defaults(run=run)
