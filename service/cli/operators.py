"""``keyledger operators …``: the people and services that call the API."""

from __future__ import annotations

import argparse

from domain.times import format_optional_time, format_time
from service.cli.common import add_json, answer, opened
from service.operators import Role


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser(
        "operators", help="manage operator tokens", description=__doc__
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create", help="add an operator and print its token (shown once)"
    )
    create.add_argument(
        "name", metavar="NAME", help="1-64 letters, digits or . _ @ + -"
    )
    create.add_argument(
        "--role",
        choices=[role.value for role in Role],
        required=True,
        help="what the operator may do (see the README's roles)",
    )
    add_json(create)
    create.set_defaults(run=cmd_create)

    listing = actions.add_parser("list", help="list operators, revoked ones included")
    add_json(listing)
    listing.set_defaults(run=cmd_list)

    revoke = actions.add_parser("revoke", help="revoke an operator's token at once")
    revoke.add_argument("name", metavar="NAME", help="the operator to revoke")
    add_json(revoke)
    revoke.set_defaults(run=cmd_revoke)


def cmd_create(args: argparse.Namespace) -> int:
    with opened() as services:
        token = services.operators.create(args.name, args.role)
    answer(
        args,
        {"name": args.name, "role": args.role, "token": token},
        f"operator {args.name} ({args.role}) created; token (shown once):\n{token}",
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with opened() as services:
        operators = services.operators.list()
    items = [
        {
            "name": op.name,
            "role": op.role.value,
            "created_at": format_time(op.created_at),
            "revoked_at": format_optional_time(op.revoked_at),
        }
        for op in operators
    ]
    rows = [f"{'NAME':24} {'ROLE':8} {'CREATED':20} REVOKED"]
    rows += [
        f"{op.name:24} {op.role.value:8} {format_time(op.created_at, 'seconds'):20} "
        + (format_time(op.revoked_at, "seconds") if op.revoked_at else "-")
        for op in operators
    ]
    answer(args, {"items": items}, "\n".join(rows))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with opened() as services:
        services.operators.revoke(args.name)
    answer(args, {"name": args.name, "revoked": True}, f"operator {args.name} revoked")
    return 0
