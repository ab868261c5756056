"""``keyledger``: operators, read-model maintenance and keys for the shell.

Uses the same settings as the service (KEYLEDGER_DATABASE_URL, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TextIO
from uuid import UUID

from domain import EVENT_TYPE_NAMES
from projections.queries import AuditFilter
from service.api.errors import ApiError
from service.api.presenters import parse_time
from service.app import Services, build_services
from service.audit_export import EXPORT_FORMATS, export
from service.config import ConfigurationError, encode_key, load_settings
from service.operators import OperatorError
from service.sealing import new_master_key


def _services() -> Services:
    return build_services(load_settings())


def cmd_operators_create(args: argparse.Namespace) -> int:
    services = _services()
    try:
        token = services.operators.create(args.name, args.role)
    finally:
        services.close()
    print(f"operator {args.name} ({args.role}) created; token (shown once):")
    print(token)
    return 0


def cmd_operators_list(_: argparse.Namespace) -> int:
    services = _services()
    try:
        operators = services.operators.list()
    finally:
        services.close()
    print(f"{'NAME':24} {'ROLE':8} {'CREATED':20} REVOKED")
    for op in operators:
        revoked = op.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if op.revoked_at else "-"
        created = op.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{op.name:24} {op.role.value:8} {created:20} {revoked}")
    return 0


def cmd_operators_revoke(args: argparse.Namespace) -> int:
    services = _services()
    try:
        services.operators.revoke(args.name)
    finally:
        services.close()
    print(f"operator {args.name} revoked")
    return 0


def cmd_rebuild(_: argparse.Namespace) -> int:
    services = _services()
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed else 0.0
        print(
            f"\rreplayed {done}/{total} events ({rate:,.0f}/s)", end="", file=sys.stderr
        )

    try:
        last = services.ledger.ledger_recorder.rebuild(progress)
    finally:
        services.close()
    print(file=sys.stderr)
    print(
        f"read model rebuilt up to event {last} in {time.perf_counter() - started:.1f}s"
    )
    return 0


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    # newline="": CSV rows end in CRLF already and must not be translated.
    with open(path, "w", encoding="utf-8", newline="") as file:
        yield file


def cmd_audit_export(args: argparse.Namespace) -> int:
    if args.since and args.until and args.until < args.since:
        print("keyledger: --until must not be before --since", file=sys.stderr)
        return 2
    selection = AuditFilter(
        key_id=args.key_id,
        actor=args.actor,
        type=args.type,
        since=args.since,
        until=args.until,
    )
    services = _services()
    try:
        with _output(args.output) as out:
            made = export(services.ledger, selection, EXPORT_FORMATS[args.format])
            for chunk in made.chunks:
                out.write(chunk)
    finally:
        services.close()
    return 0


def _time_argument(name: str) -> Callable[[str], datetime]:
    def parse(value: str) -> datetime:
        try:
            return parse_time(name, value)
        except ApiError as error:
            raise argparse.ArgumentTypeError(error.message) from None

    return parse


def cmd_generate_secret_key(_: argparse.Namespace) -> int:
    print(encode_key(new_master_key()))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="keyledger", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    operators = commands.add_parser("operators", help="manage operator tokens")
    ops = operators.add_subparsers(dest="action", required=True)
    create = ops.add_parser("create", help="add an operator and print its token")
    create.add_argument("name")
    create.add_argument("--role", choices=["admin", "auditor"], required=True)
    create.set_defaults(run=cmd_operators_create)
    ops.add_parser("list", help="list operators").set_defaults(run=cmd_operators_list)
    revoke = ops.add_parser("revoke", help="revoke an operator's token at once")
    revoke.add_argument("name")
    revoke.set_defaults(run=cmd_operators_revoke)

    commands.add_parser(
        "rebuild-read-model", help="replay the event log into fresh read-model tables"
    ).set_defaults(run=cmd_rebuild)
    commands.add_parser(
        "generate-secret-key", help="print a new KEYLEDGER_SECRET_KEY"
    ).set_defaults(run=cmd_generate_secret_key)

    audit = commands.add_parser("audit", help="read the audit trail")
    audit_actions = audit.add_subparsers(dest="action", required=True)
    export_audit = audit_actions.add_parser(
        "export", help="write every selected event, oldest first (as GET /v1/audit)"
    )
    export_audit.add_argument(
        "--format", choices=sorted(EXPORT_FORMATS), default="jsonl"
    )
    export_audit.add_argument("--key-id", type=UUID, help="only this key's events")
    export_audit.add_argument("--actor", help="only events caused by this operator")
    export_audit.add_argument("--type", choices=list(EVENT_TYPE_NAMES.values()))
    export_audit.add_argument("--since", type=_time_argument("since"), help="RFC 3339")
    export_audit.add_argument("--until", type=_time_argument("until"), help="RFC 3339")
    export_audit.add_argument("--output", help="file to write (default: stdout)")
    export_audit.set_defaults(run=cmd_audit_export)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ConfigurationError, OperatorError) as error:
        print(f"keyledger: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
