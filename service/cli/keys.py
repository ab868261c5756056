"""``keyledger keys …``: the management API's key actions, for the shell.

Each action is one ``_add_*`` function in ``ACTIONS``; actions that other
modules bring (``roll-secret``, ``restore``) join by appending theirs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any
from uuid import UUID

from projections.key_state import key_row
from projections.queries import KeyFilter
from service.cli.common import (
    UsageError,
    acting,
    add_actor,
    add_json,
    answer,
    opened,
    time_argument,
)
from service.cli_key_lifecycle import add_key_lifecycle_commands
from service.key_views import key_body
from service.ledger import IssuedSecret, KeyChanges, KeyLedger

STATUSES = ("enabled", "disabled", "expired")
PERMISSIONS = ("send", "verify")
AddAction = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser(
        "keys", help="create, inspect and change API keys", description=__doc__
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    for add in ACTIONS:
        add(actions)


def _key_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a key id (a UUID)"
        ) from None


def _version(value: str) -> int:
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a version number")
    return int(text)


def _add_key_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key_id", type=_key_id, metavar="KEY_ID", help="the key's id")


def _add_if_match(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--if-match",
        type=_version,
        metavar="VERSION",
        help="refuse unless the key is still at this version (as HTTP If-Match)",
    )


def _key_text(body: dict[str, Any]) -> str:
    lines = [
        f"id           {body['id']}",
        f"dev_key      {body['dev_key']}",
        f"status       {body['status']}",
        f"description  {body['description']}",
        f"expires_at   {body['expires_at'] or 'never'}",
        f"ip_whitelist {', '.join(body['ip_whitelist']) or 'any'}",
        f"permissions  {', '.join(body['permissions'])}",
        f"created_at   {body['created_at']}",
        f"updated_at   {body['updated_at']}",
        f"version      {body['version']}",
    ]
    if "dev_secret" in body:
        lines.append(f"dev_secret   {body['dev_secret']}   (shown once)")
    return "\n".join(lines)


def _issued(ledger: KeyLedger, issued: IssuedSecret) -> dict[str, Any]:
    body = key_body(key_row(issued.key), ledger.clock())
    body["dev_secret"] = issued.dev_secret
    return body


def _add_key_fields(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--description", help="one line, at most 255 characters")
    parser.add_argument(
        "--expires-at",
        metavar="TIME",
        help="RFC 3339 time or YYYY-MM-DD (through the end of that day, UTC)"
        + ("; default: never" if create else "; 'never' removes the expiry"),
    )
    parser.add_argument(
        "--ip",
        action="append",
        dest="ip_whitelist",
        metavar="ADDRESS_OR_CIDR",
        help="allowed client address or network; repeat for more"
        + ("; default: any address" if create else "; replaces the whitelist"),
    )
    if not create:
        parser.add_argument(
            "--any-ip", action="store_true", help="empty the whitelist: any address"
        )
    parser.add_argument(
        "--permission",
        action="append",
        dest="permissions",
        choices=PERMISSIONS,
        required=create,
        help="an API the key may call; repeat for both"
        + ("" if create else "; replaces the permissions"),
    )


def cmd_create(args: argparse.Namespace) -> int:
    with opened() as services, acting(args):
        issued = services.ledger.create_key(
            description=args.description,
            expires_at=args.expires_at,
            ip_whitelist=args.ip_whitelist or [],
            permissions=args.permissions,
        )
        body = _issued(services.ledger, issued)
    answer(args, body, _key_text(body))
    return 0


def _add_create(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = actions.add_parser(
        "create", help="create a key and print its DevSecret (shown once)"
    )
    _add_key_fields(parser, create=True)
    add_actor(parser)
    add_json(parser)
    parser.set_defaults(run=cmd_create)


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 500:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 500")
    return int(value)


def cmd_list(args: argparse.Namespace) -> int:
    with opened() as services:
        now = services.ledger.clock()
        rows = services.ledger.read_model.list_keys(
            KeyFilter(status=args.status, text=args.search), now=now, limit=args.limit
        )
        items = [key_body(row, now) for row in rows]
    lines = [f"{'ID':36}  {'DEV_KEY':24}  {'STATUS':8}  {'EXPIRES_AT':20}  DESCRIPTION"]
    lines += [
        f"{k['id']:36}  {k['dev_key']:24}  {k['status']:8}  "
        f"{k['expires_at'] or 'never':20}  {k['description']}"
        for k in items
    ]
    answer(args, {"items": items}, "\n".join(lines))
    return 0


def _add_list(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = actions.add_parser("list", help="list keys, newest first")
    parser.add_argument("--status", choices=STATUSES, help="only keys in this status")
    parser.add_argument(
        "--search", metavar="TEXT", help="only keys whose description contains TEXT"
    )
    parser.add_argument(
        "--limit", type=_limit, default=50, help="at most this many (1-500, default 50)"
    )
    add_json(parser)
    parser.set_defaults(run=cmd_list)


def cmd_show(args: argparse.Namespace) -> int:
    with opened() as services:
        ledger = services.ledger
        if args.as_of is not None:
            body = key_body(
                key_row(ledger.get_key_as_of(args.key_id, args.as_of)), args.as_of
            )
        else:
            body = key_body(key_row(ledger.get_key(args.key_id)), ledger.clock())
    answer(args, body, _key_text(body))
    return 0


def _add_show(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = actions.add_parser("show", help="one key (never its secret)")
    _add_key_id(parser)
    parser.add_argument(
        "--as-of",
        type=time_argument("as_of"),
        metavar="TIME",
        help="the key as it stood at this RFC 3339 time",
    )
    add_json(parser)
    parser.set_defaults(run=cmd_show)


def cmd_update(args: argparse.Namespace) -> int:
    values: dict[str, object] = {}
    if args.description is not None:
        values["description"] = args.description
    if args.expires_at is not None:
        values["expires_at"] = None if args.expires_at == "never" else args.expires_at
    if args.any_ip and args.ip_whitelist:
        raise UsageError("give --ip or --any-ip, not both")
    if args.any_ip:
        values["ip_whitelist"] = []
    elif args.ip_whitelist:
        values["ip_whitelist"] = args.ip_whitelist
    if args.permissions:
        values["permissions"] = args.permissions
    if not values:
        raise UsageError(
            "name at least one change: --description, --expires-at, --ip, --any-ip "
            "or --permission"
        )
    with opened() as services, acting(args):
        key = services.ledger.update_key(args.key_id, KeyChanges(values), args.if_match)
        body = key_body(key_row(key), services.ledger.clock())
    answer(args, body, _key_text(body))
    return 0


def _add_update(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = actions.add_parser(
        "update", help="change a key's description, expiry, whitelist or permissions"
    )
    _add_key_id(parser)
    _add_key_fields(parser, create=False)
    _add_if_match(parser)
    add_actor(parser)
    add_json(parser)
    parser.set_defaults(run=cmd_update)


def _state_action(
    name: str, help_text: str, act: Callable[[KeyLedger, UUID, int | None], Any]
) -> AddAction:
    """disable, enable, delete and reset-secret: a key id, If-Match, actor."""

    def run(args: argparse.Namespace) -> int:
        with opened() as services, acting(args):
            ledger = services.ledger
            result = act(ledger, args.key_id, args.if_match)
            if isinstance(result, IssuedSecret):
                body: dict[str, Any] = _issued(ledger, result)
            elif result is None:
                body = {"id": str(args.key_id), "deleted": True}
            else:
                body = key_body(key_row(result), ledger.clock())
        text = f"key {args.key_id} deleted" if result is None else _key_text(body)
        answer(args, body, text)
        return 0

    def add(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        parser = actions.add_parser(name, help=help_text)
        _add_key_id(parser)
        _add_if_match(parser)
        add_actor(parser)
        add_json(parser)
        parser.set_defaults(run=run)

    return add


ACTIONS: list[AddAction] = [
    _add_create,
    _add_list,
    _add_show,
    _add_update,
    _state_action(
        "disable",
        "disable a key: every auth is denied (already disabled: nothing recorded)",
        KeyLedger.disable_key,
    ),
    _state_action(
        "enable",
        "enable a key again (already enabled: nothing recorded)",
        KeyLedger.enable_key,
    ),
    _state_action(
        "delete",
        "delete a key; its history stays readable",
        KeyLedger.delete_key,
    ),
    _state_action(
        "reset-secret",
        "draw a new DevSecret and print it (shown once); the old one stops at once",
        KeyLedger.reset_secret,
    ),
    # roll-secret and restore (issue "key lifecycle") join here.
    # roll-secret, restore: the lifecycle commands.
    add_key_lifecycle_commands,
]
