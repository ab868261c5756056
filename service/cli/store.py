"""The store itself: prepare it, rebuild its read model, make a sealing key."""

from __future__ import annotations

import argparse
import sys
import time

from service.cli.common import add_json, answer, opened
from service.config import encode_key
from service.sealing import new_master_key
from service.wiring import prepare_store


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    init = commands.add_parser(
        "init",
        help="prepare the store: tables, read model, first admin (prints its "
        "token once unless KEYLEDGER_BOOTSTRAP_TOKEN is set)",
    )
    add_json(init)
    init.set_defaults(run=cmd_init)

    rebuild = commands.add_parser(
        "rebuild-read-model", help="replay the event log into fresh read-model tables"
    )
    add_json(rebuild)
    rebuild.set_defaults(run=cmd_rebuild)

    generate = commands.add_parser(
        "generate-secret-key", help="print a new KEYLEDGER_SECRET_KEY"
    )
    add_json(generate)
    generate.set_defaults(run=cmd_generate_secret_key)


def cmd_init(args: argparse.Namespace) -> int:
    with opened() as services:
        created = prepare_store(services) is not None
        lag = services.ledger.ledger_recorder.view_lag()
    answer(
        args,
        {"ready": True, "first_admin_created": created, "read_model_lag": lag},
        "store ready",
    )
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed else 0.0
        print(
            f"\rreplayed {done}/{total} events ({rate:,.0f}/s)", end="", file=sys.stderr
        )

    with opened() as services:
        last = services.ledger.ledger_recorder.rebuild(progress)
    print(file=sys.stderr)
    seconds = round(time.perf_counter() - started, 1)
    answer(
        args,
        {"rebuilt_through": last, "seconds": seconds},
        f"read model rebuilt up to event {last} in {seconds}s",
    )
    return 0


def cmd_generate_secret_key(args: argparse.Namespace) -> int:
    key = encode_key(new_master_key())
    answer(args, {"secret_key": key}, key)
    return 0
