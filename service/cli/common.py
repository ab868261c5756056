"""What every command shares: opening the store, who acts, how to answer."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from domain import AuditContext, recording_as
from domain.times import TimeFormatError, parse_time
from service.config import load_settings
from service.wiring import Services, build_services

Command = Callable[[argparse.Namespace], int]


class Refused(Exception):
    """The command cannot do what was asked; the message says why (exit 1)."""


class UsageError(Exception):
    """The arguments contradict each other, which the parser cannot see
    (exit 2, like argparse's own usage errors)."""


@contextlib.contextmanager
def opened() -> Iterator[Services]:
    services = build_services(load_settings())
    try:
        yield services
    finally:
        services.close()


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (containers)
        user = "unknown"
    return f"cli:{user}"


def add_actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--actor",
        default=None,
        metavar="NAME",
        help="who the history records as having made the change "
        "(default: cli:<your login name>)",
    )


@contextlib.contextmanager
def acting(args: argparse.Namespace) -> Iterator[None]:
    actor = args.actor or default_actor()
    if not actor.strip() or len(actor) > 255:
        raise Refused("--actor must be 1-255 characters")
    with recording_as(AuditContext(actor=actor)):
        yield


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout instead of text",
    )


def answer(args: argparse.Namespace, document: Any, text: str) -> None:
    """One JSON document with ``--json``, else the text."""
    if getattr(args, "json", False):
        json.dump(document, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(text)


def time_argument(name: str) -> Callable[[str], datetime]:
    def parse(value: str) -> datetime:
        try:
            return parse_time(name, value)
        except TimeFormatError as error:
            raise argparse.ArgumentTypeError(error.summary) from None

    return parse
