"""``keyledger secrets check`` as an operator runs it: the console script,
offline (no settings, no store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from service.sealing import new_dev_secret

KEYLEDGER = str(Path(sys.executable).with_name("keyledger"))


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # No KEYLEDGER_* settings at all: the check must not need a store.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYLEDGER_")}
    return subprocess.run(
        [KEYLEDGER, "secrets", "check", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_well_formed_secret_exits_0() -> None:
    result = run(new_dev_secret())
    assert result.returncode == 0, result.stderr
    assert "well-formed" in result.stdout


def test_one_character_change_exits_1_naming_the_checksum() -> None:
    secret = new_dev_secret()
    changed = secret[:10] + ("A" if secret[10] != "A" else "B") + secret[11:]
    result = run(changed)
    assert result.returncode == 1
    assert "checksum" in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_from_stdin() -> None:
    assert run("-", stdin=new_dev_secret() + "\n").returncode == 0
    assert run("-", stdin="not-a-secret\n").returncode == 1


def test_missing_argument_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_json_answers_without_echoing_the_string() -> None:
    secret = new_dev_secret()
    good = run("--json", secret)
    assert (good.returncode, json.loads(good.stdout)) == (
        0,
        {"well_formed": True, "problem": None},
    )
    changed = secret[:10] + ("A" if secret[10] != "A" else "B") + secret[11:]
    bad = run("--json", changed)
    assert bad.returncode == 1
    answer = json.loads(bad.stdout)
    assert answer["well_formed"] is False
    assert "checksum" in answer["problem"]
    assert changed not in bad.stdout + bad.stderr
