"""Browser tests: Playwright driving Debian's Chromium against a real
gunicorn serving keyledger on a SQLite store.

Without Chromium (or Playwright) they skip with a message saying how to
enable them; KEYLEDGER_REQUIRE_BROWSER=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service.config import load_settings
from service.wiring import Services, build_services
from tests.conftest import open_services
from tests.support.browser import axe_violations, chromium_unavailable, launch
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer, service_env
from tests.support.http import ServedApi

REQUIRE_BROWSER = os.environ.get("KEYLEDGER_REQUIRE_BROWSER", "") not in ("", "0")
AUDITOR_TOKEN = "klo_browser-auditor-token-0123456789"


@dataclass
class Console:
    """The served console, and a way to act on its store directly."""

    server: GunicornServer
    env: dict[str, str]

    @property
    def base(self) -> str:
        return self.server.base

    def url(self, path: str) -> str:
        return self.server.base + path

    def create_key(self, **body: Any) -> dict[str, Any]:
        return ServedApi(self.server).create_key(**body)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return ServedApi(self.server).call(method, path, body)

    def services(self) -> Services:
        """The services on the served store (close when done)."""
        return build_services(load_settings({}, self.env))


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    reason = chromium_unavailable()
    if reason is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"KEYLEDGER_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)


@contextmanager
def served_console(folder: Path) -> Iterator[Console]:
    """A new store with an admin and an auditor, served by real gunicorn."""
    env = service_env(f"sqlite:///{folder / 'keyledger.db'}")
    # Prepared the way gunicorn's master prepares it, plus an auditor.
    services = open_services(
        {
            "database_url": env["KEYLEDGER_DATABASE_URL"],
            "secret_key": SECRET_KEY,
            "bootstrap_token": ADMIN_TOKEN,
            "log_level": "WARNING",
        }
    )
    services.operators.create("audrey", "auditor", AUDITOR_TOKEN)
    services.close()
    server = GunicornServer(env, workers=2, log_path=folder / "gunicorn.log")
    with server:
        yield Console(server, env)


@pytest.fixture(scope="session")
def console(
    chromium_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    with served_console(tmp_path_factory.mktemp("console")) as served:
        yield served


@pytest.fixture(scope="session")
def browser(chromium_ready: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any, console: Console) -> Iterator[Any]:
    opened = browser.new_context(
        viewport={"width": 1440, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
        base_url=console.base,
    )
    opened.set_default_timeout(10_000)
    yield opened
    opened.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def assert_accessible(page: Any) -> None:
    """axe-core finds no serious or critical violation on the page as it is."""
    violations = axe_violations(page)
    assert violations == [], f"{page.url}: {violations}"
