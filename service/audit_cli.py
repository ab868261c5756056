"""``keyledger audit verify`` and ``keyledger audit rotate-signing-key``.

Store mode recomputes the chain from the stored events (the same check as
``GET /v1/audit/verify``); export mode checks an exported JSONL file against
the checkpoints and public key an auditor saved, without the store. Exit
status: 0 intact, 1 a problem (its position on stderr) or an unusable
input, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from projections.chain_verify import Verdict, checkpoints_from_body, verify_export
from projections.checkpoints import (
    CheckpointFormatError,
    SigningKeyError,
    VerificationKeys,
)
from service.audit_signing import rotate_signing_key, signing_key_path
from service.config import load_settings, parse_store
from service.wiring import build_services


class UnusableInput(Exception):
    """A file given on the command line cannot be used; the message says why."""


def add_commands(actions: Any) -> None:
    """Hooks the commands into ``keyledger audit``'s subparsers."""
    verify = actions.add_parser(
        "verify",
        help="check the audit chain and its signed checkpoints",
        description="Without --export: the store. With --export, --checkpoints "
        "and --public-key: an exported JSONL file, offline.",
    )
    verify.add_argument("--export", help="an exported JSONL audit log (whole log)")
    verify.add_argument(
        "--checkpoints", help="the body of GET /v1/audit/checkpoints, as served"
    )
    verify.add_argument(
        "--public-key",
        help="PEM public key(s) to trust (store mode: instead of the key file's)",
    )
    verify.add_argument("--json", action="store_true", help="print the verdict JSON")
    verify.set_defaults(run=cmd_audit_verify)
    rotate = actions.add_parser(
        "rotate-signing-key",
        help="sign new checkpoints with a new key; old ones stay verifiable",
    )
    rotate.add_argument(
        "--json",
        action="store_true",
        help='answer {"signing_key_id", "key_file"} on stdout',
    )
    rotate.set_defaults(run=cmd_rotate_signing_key)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    if args.export and not (args.checkpoints and args.public_key):
        print(
            "keyledger: --export needs --checkpoints and --public-key", file=sys.stderr
        )
        return 2
    if args.checkpoints and not args.export:
        print("keyledger: --checkpoints goes with --export", file=sys.stderr)
        return 2
    try:
        verdict = _verify_export(args) if args.export else _verify_store(args)
    except UnusableInput as error:
        print(f"keyledger: {error}", file=sys.stderr)
        return 1
    return _report(verdict, as_json=args.json)


def _verify_store(args: argparse.Namespace) -> Verdict:
    pinned = _public_keys(args.public_key) if args.public_key else None
    services = build_services(load_settings())
    try:
        signing = services.ledger.signing_keys
        keys = pinned or (signing.verification if signing else None)
        if keys is None:  # pragma: no cover - every built service has keys
            raise UnusableInput("no public key to verify checkpoints with")
        return services.ledger.ledger_recorder.verify_chain(keys)
    finally:
        services.close()


def _verify_export(args: argparse.Namespace) -> Verdict:
    keys = _public_keys(args.public_key)
    try:
        body = json.loads(_read(args.checkpoints))
        checkpoints = checkpoints_from_body(body)
    except ValueError:
        raise UnusableInput(f"{args.checkpoints}: not JSON") from None
    except CheckpointFormatError as error:
        raise UnusableInput(f"{args.checkpoints}: {error}") from None
    try:
        with open(args.export, encoding="utf-8") as export:
            return verify_export(_lines(export), checkpoints, keys)
    except OSError as error:
        raise UnusableInput(f"{args.export}: {error.strerror}") from None


def _lines(export: Any) -> Iterator[str]:
    yield from export  # one line at a time: flat memory however long


def _public_keys(path: str) -> VerificationKeys:
    try:
        return VerificationKeys.from_pem(_read(path))
    except SigningKeyError as error:
        raise UnusableInput(f"{path}: {error}") from None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UnusableInput(f"{path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UnusableInput(f"{path}: not UTF-8 text") from None


def _report(verdict: Verdict, *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(verdict.as_body()))
    problem = verdict.problem
    if problem is not None:
        print(
            f"keyledger: audit chain broken at position {problem.position}: "
            f"{problem.what}",
            file=sys.stderr,
        )
        return 1
    if not as_json:
        print(
            f"intact: {verdict.events} events, head {verdict.head_position} "
            f"{verdict.head_hash}, signed through {verdict.signed_through}"
        )
    return 0


def cmd_rotate_signing_key(args: argparse.Namespace) -> int:
    settings = load_settings()
    path = signing_key_path(settings, parse_store(settings))
    key_id = rotate_signing_key(path)
    if args.json:
        print(json.dumps({"signing_key_id": key_id, "key_file": str(path)}))
        return 0
    print(f"new checkpoint signing key {key_id} in {path}")
    print("restart every instance to sign with it; earlier keys still verify")
    return 0
