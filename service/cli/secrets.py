"""``keyledger secrets``: offline checks of DevSecrets (docs/secrets.md)."""

from __future__ import annotations

import argparse

from service.cli_secrets import add_secrets_commands


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    add_secrets_commands(commands)
