"""``keyledger secrets check``: is a string a well-formed DevSecret?

Offline: reads no settings and touches no store, so it runs anywhere a
scanner's finding is triaged. Pass ``-`` to read the string from standard
input and keep it out of the shell history and the process list.
"""

from __future__ import annotations

import argparse
import json
import sys

from domain.secret_format import problem_with


def cmd_secrets_check(args: argparse.Namespace) -> int:
    text = sys.stdin.readline().strip() if args.string == "-" else args.string
    problem = problem_with(text)
    if args.json:  # never echoes the string: it may be a live secret
        answer = {"well_formed": problem is None, "problem": problem}
        print(json.dumps(answer))
        return 0 if problem is None else 1
    if problem is not None:
        print(f"not a well-formed keyledger DevSecret: it {problem}", file=sys.stderr)
        return 1
    print("well-formed keyledger DevSecret (prefix and checksum match)")
    return 0


def add_secrets_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    secrets = commands.add_parser("secrets", help="work with DevSecrets offline")
    actions = secrets.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check",
        help="exit 0 when STRING is a well-formed DevSecret, 1 when not",
        description=(
            "Checks prefix, length, alphabet and checksum, offline. It cannot "
            "tell whether the secret belongs to a key: use POST "
            "/v1/secrets/lookup for that."
        ),
    )
    check.add_argument("string", metavar="STRING", help="the string, or - for stdin")
    check.add_argument(
        "--json",
        action="store_true",
        help='answer {"well_formed": bool, "problem": text or null} on stdout',
    )
    check.set_defaults(run=cmd_secrets_check)
