"""The ``keyledger`` command line, run as a real subprocess: exit statuses
(0 done, 1 refused or failed, 2 usage), one JSON document with ``--json``,
messages instead of tracebacks, and help on every argument."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.audit_signing import SETTING as SIGNING_KEY_SETTING
from service.cli.main import parser
from tests.conftest import ADMIN_TOKEN, SECRET_KEY

KEYLEDGER = str(Path(sys.executable).parent / "keyledger")


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [KEYLEDGER, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # exactly one document, nothing else


def _env(database_url: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "KEYLEDGER_DATABASE_URL": database_url,
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        # The session's checkpoint signing key (required with PostgreSQL).
        SIGNING_KEY_SETTING: os.environ[SIGNING_KEY_SETTING],
    }


@pytest.fixture
def cli(database_url: str) -> Cli:
    """On each store, prepared by ``keyledger init``."""
    runner = Cli(_env(database_url))
    assert runner.json("init")["ready"] is True
    return runner


@pytest.fixture
def sqlite_cli(tmp_path: Path) -> Cli:
    runner = Cli(_env(f"sqlite:///{tmp_path / 'keyledger.db'}"))
    assert runner.run("init").returncode == 0
    return runner


def _history_actors(cli: Cli, key_id: str) -> list[tuple[str, str]]:
    lines = cli.run("audit", "export", "--key-id", key_id).stdout.splitlines()
    return [(item["type"], item["actor"]) for item in map(json.loads, lines)]


def test_the_key_lifecycle_with_json_answers(cli: Cli) -> None:
    created = cli.json(
        "keys", "create", "--permission", "send", "--description", "from the shell"
    )
    key_id = created["id"]
    assert created["dev_secret"]
    assert created["status"] == "enabled"
    assert cli.json("keys", "show", key_id)["description"] == "from the shell"
    listed = cli.json("keys", "list", "--search", "shell")
    assert [item["id"] for item in listed["items"]] == [key_id]

    updated = cli.json(
        "keys", "update", key_id, "--ip", "203.0.113.0/24", "--if-match", "1"
    )
    assert (updated["ip_whitelist"], updated["version"]) == (["203.0.113.0/24"], 2)
    assert cli.json("keys", "disable", key_id, "--actor", "deploy-bot")["status"] == (
        "disabled"
    )
    assert cli.json("keys", "enable", key_id)["status"] == "enabled"
    reset = cli.json("keys", "reset-secret", key_id)
    assert reset["dev_secret"] not in ("", created["dev_secret"])
    assert cli.json("keys", "delete", key_id) == {"id": key_id, "deleted": True}

    gone = cli.run("keys", "show", key_id)
    assert (gone.returncode, gone.stderr.strip()) == (1, "keyledger: no such key")
    me = f"cli:{getpass.getuser()}"
    assert _history_actors(cli, key_id) == [
        ("created", me),
        ("ip_whitelist_changed", me),
        ("disabled", "deploy-bot"),
        ("enabled", me),
        ("secret_reset", me),
        ("deleted", me),
    ]


def test_a_stale_if_match_is_refused(sqlite_cli: Cli) -> None:
    key_id = sqlite_cli.json("keys", "create", "--permission", "verify")["id"]
    refused = sqlite_cli.run("keys", "disable", key_id, "--if-match", "7")
    assert refused.returncode == 1
    assert "at version 1" in refused.stderr


def test_every_invalid_value_is_named_at_once(sqlite_cli: Cli) -> None:
    refused = sqlite_cli.run(
        "keys",
        "create",
        "--permission",
        "send",
        "--description",
        "two\nlines",
        "--ip",
        "nowhere",
        "--expires-at",
        "2001-01-01",
    )
    assert refused.returncode == 1
    assert refused.stdout == ""
    for field in ("description", "ip_whitelist", "expires_at"):
        assert field in refused.stderr


def test_operators_create_list_revoke(sqlite_cli: Cli) -> None:
    made = sqlite_cli.json("operators", "create", "audrey", "--role", "auditor")
    assert (made["name"], made["role"]) == ("audrey", "auditor")
    assert made["token"].startswith("klo_")
    listed = sqlite_cli.json("operators", "list")["items"]
    assert {(o["name"], o["role"], o["revoked_at"]) for o in listed} == {
        ("admin", "admin", None),
        ("audrey", "auditor", None),
    }
    assert sqlite_cli.json("operators", "revoke", "audrey") == {
        "name": "audrey",
        "revoked": True,
    }
    again = sqlite_cli.run("operators", "revoke", "audrey")
    assert (again.returncode, again.stdout) == (1, "")
    assert "audrey" in again.stderr
    twice = sqlite_cli.run("operators", "create", "audrey", "--role", "admin")
    assert twice.returncode == 1


def test_audit_export_summary_and_resume(sqlite_cli: Cli, tmp_path: Path) -> None:
    for n in range(3):
        sqlite_cli.json(
            "keys", "create", "--permission", "send", "--description", f"{n}"
        )
    whole = tmp_path / "whole.jsonl"
    summary = sqlite_cli.json("audit", "export", "--output", str(whole))
    positions = [
        json.loads(line)["position"] for line in whole.read_text().splitlines()
    ]
    assert summary == {
        "output": str(whole),
        "format": "jsonl",
        "through": positions[-1],
    }
    rest = sqlite_cli.run("audit", "export", "--after", str(positions[0])).stdout
    assert [json.loads(line)["position"] for line in rest.splitlines()] == positions[1:]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["keys"],
        ["keys", "show", "not-a-uuid"],
        ["keys", "create"],
        ["keys", "create", "--permission", "fly"],
        ["keys", "list", "--limit", "0"],
        ["operators", "create", "x", "--role", "owner"],
        ["audit", "export", "--since", "yesterday"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    done = Cli(_env(f"sqlite:///{tmp_path / 'unused.db'}")).run(*args)
    assert done.returncode == 2
    assert "usage:" in done.stderr


def test_version(tmp_path: Path) -> None:
    done = Cli(_env(f"sqlite:///{tmp_path / 'unused.db'}")).run("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("keyledger ")


def test_an_unwritable_output_file_is_a_message(
    sqlite_cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "missing-directory" / "audit.csv"
    done = sqlite_cli.run("audit", "export", "--output", str(target))
    assert done.returncode == 1
    assert "No such file or directory" in done.stderr
    assert str(target) in done.stderr


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
        "sqlite:////proc/keyledger-cannot-be-here/keyledger.db",
        "mysql://nowhere/keyledger",
    ],
    ids=["postgres-unreachable", "sqlite-unwritable", "unsupported-url"],
)
def test_store_and_setting_failures_are_messages(database_url: str) -> None:
    done = Cli(_env(database_url)).run("keys", "list")
    assert done.returncode == 1
    assert done.stderr.startswith("keyledger: ")
    assert len(done.stderr.strip().splitlines()) == 1


def _leaf_parsers(root: argparse.ArgumentParser) -> Iterator[tuple[str, Any]]:
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                children = list(_leaf_parsers(sub))
                if children:
                    yield from ((f"{name} {child}", p) for child, p in children)
                else:
                    yield name, sub


def test_every_argument_has_help_and_every_command_has_json() -> None:
    leaves = dict(_leaf_parsers(parser()))
    assert {"keys create", "keys reset-secret", "operators revoke", "init"} <= set(
        leaves
    )
    for name, leaf in leaves.items():
        options = {flag for action in leaf._actions for flag in action.option_strings}
        assert "--json" in options, name
        for action in leaf._actions:
            assert action.help, f"{name}: {action.dest} has no help"
