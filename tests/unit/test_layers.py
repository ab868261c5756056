"""Layering: the domain and the projections stay free of the web layer.

Checked in a fresh interpreter, since other tests may already have imported
Flask or the service into this one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Every module of the projections package, not only its __init__.
IMPORT_ALL_PROJECTIONS = (
    "import importlib, pkgutil, projections\n"
    "for module in pkgutil.iter_modules(projections.__path__):\n"
    "    importlib.import_module('projections.' + module.name)\n"
)


def _loaded_after(imports: str, probe: str) -> str:
    """What ``probe`` prints in a fresh interpreter after running ``imports``."""
    completed = subprocess.run(
        [sys.executable, "-c", f"{imports}\nimport sys\nprint({probe})"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def _any_loaded(package: str) -> str:
    return (
        f"any(name == {package!r} or name.startswith({package!r} + '.') "
        "for name in sys.modules)"
    )


def test_probe_sees_a_module_that_was_imported() -> None:
    # Guards the probes below against passing vacuously.
    assert _loaded_after("import json", _any_loaded("json")) == "True"


def test_domain_does_not_import_flask() -> None:
    assert _loaded_after("import domain", "'flask' in sys.modules") == "False"


@pytest.mark.parametrize("package", ["service", "projections", "psycopg"])
def test_domain_does_not_import_outer_layers(package: str) -> None:
    assert _loaded_after("import domain", _any_loaded(package)) == "False"


def test_projections_package_does_not_import_flask() -> None:
    assert _loaded_after("import projections", "'flask' in sys.modules") == "False"


def test_projections_package_does_not_import_service() -> None:
    assert _loaded_after("import projections", _any_loaded("service")) == "False"


@pytest.mark.parametrize("package", ["flask", "flask_smorest", "service"])
def test_projections_modules_do_not_import_web_layer(package: str) -> None:
    assert _loaded_after(IMPORT_ALL_PROJECTIONS, _any_loaded(package)) == "False"
