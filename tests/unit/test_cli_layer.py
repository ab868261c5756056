"""The CLI and the composition root stay below the HTTP layer (issue 8):
checked in a fresh interpreter, since other tests import Flask here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["service.cli", "service.wiring"])
def test_module_imports_neither_flask_nor_the_http_layer(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        "print(sorted({name.split('.')[0] if name == 'flask' else name\n"
        "    for name in sys.modules\n"
        "    if name == 'flask' or name.startswith('service.api')}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_probe_sees_the_http_layer_when_it_is_imported() -> None:
    # Guards the test above against passing vacuously.
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, service.app\n"
            "print('flask' in sys.modules and 'service.api.keys' in sys.modules)",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.stdout.strip() == "True", completed.stderr
