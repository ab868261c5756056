"""Driving Debian's Chromium with Playwright, and axe-core for accessibility.

Playwright's own browser download is not used: the tests drive the system
Chromium (``apt-get install chromium``). axe-core comes from the npm
registry into ``.cache/npm`` (ignored by git) the first time it is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KEYLEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
AXE_VERSION = "4"
AXE_PREFIX = ROOT / ".cache" / "npm"
AXE_SCRIPT = AXE_PREFIX / "node_modules" / "axe-core" / "axe.min.js"
# axe's impact levels that fail a page.
BLOCKING_IMPACTS = ("serious", "critical")


def chromium_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed; run `make install` to install it"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"no Chromium at {CHROMIUM}; install it (apt-get install chromium) or "
            "set KEYLEDGER_CHROMIUM to its path to run the browser tests"
        )
    return None


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def ensure_axe() -> Path:
    """axe-core's script, installed from the npm registry when missing."""
    if not AXE_SCRIPT.is_file():
        npm = shutil.which("npm")
        if npm is None:
            msg = "npm is needed to install axe-core (apt-get install npm)"
            raise RuntimeError(msg)
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
                str(AXE_PREFIX),
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return AXE_SCRIPT


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(ensure_axe().read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [v for v in result if v["impact"] in BLOCKING_IMPACTS]


def sign_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/console/login")
    page.get_by_label("Operator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="API Keys", exact=True).wait_for()
