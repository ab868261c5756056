"""``keyledger audit …``: the audit trail, straight from the store.

``audit verify`` (tamper evidence) joins this group as its own module.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import TextIO
from uuid import UUID

from domain import EVENT_TYPE_NAMES
from projections.queries import AuditFilter
from service import audit_cli
from service.audit_export import EXPORT_FORMATS, export
from service.cli.common import UsageError, add_json, answer, opened, time_argument


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser(
        "audit", help="read the audit trail", description=__doc__
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    parser = actions.add_parser(
        "export",
        help="write every selected event, oldest first (as GET /v1/audit/export)",
    )
    parser.add_argument(
        "--format",
        choices=sorted(EXPORT_FORMATS),
        default="jsonl",
        help="jsonl (one JSON item per line, the default) or csv",
    )
    parser.add_argument("--key-id", type=UUID, help="only this key's events")
    parser.add_argument("--actor", help="only events caused by this operator")
    parser.add_argument(
        "--type",
        choices=list(EVENT_TYPE_NAMES.values()),
        help="only events of this type",
    )
    parser.add_argument(
        "--since",
        type=time_argument("since"),
        help="events at or after this RFC 3339 time",
    )
    parser.add_argument(
        "--until",
        type=time_argument("until"),
        help="events at or before this RFC 3339 time",
    )
    parser.add_argument(
        "--after",
        type=_position,
        default=0,
        metavar="POSITION",
        help="start after this position (the last one a cut export received)",
    )
    parser.add_argument(
        "--output", metavar="FILE", help="file to write (default: stdout)"
    )
    add_json(parser)
    parser.set_defaults(run=cmd_export)
    # verify, rotate-signing-key: the tamper-evidence commands.
    audit_cli.add_commands(actions)


def _position(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError("must be a non-negative whole number")
    return int(value)


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    # newline="": CSV rows end in CRLF already and must not be translated.
    with open(path, "w", encoding="utf-8", newline="") as file:
        yield file


def cmd_export(args: argparse.Namespace) -> int:
    if args.since and args.until and args.until < args.since:
        raise UsageError("--until must not be before --since")
    if args.json and args.output is None:
        raise UsageError("--json prints a summary, so the export needs --output FILE")
    selection = AuditFilter(
        key_id=args.key_id,
        actor=args.actor,
        type=args.type,
        since=args.since,
        until=args.until,
    )
    with opened() as services, _output(args.output) as out:
        made = export(
            services.ledger, selection, EXPORT_FORMATS[args.format], after=args.after
        )
        for chunk in made.chunks:
            out.write(chunk)
    if args.json:
        answer(
            args,
            {"output": args.output, "format": args.format, "through": made.through},
            "",
        )
    return 0
