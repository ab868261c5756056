"""Takes the console screenshots in docs/screenshots/ against a real gunicorn.

    .venv/bin/python docs/screenshots/capture.py      (or: make screenshots)
    .venv/bin/python docs/screenshots/capture.py roll-confirm rolled-details

With names, only those pictures are written (the walk is the same).

Needs Chromium (/usr/bin/chromium) and npm-free Playwright for Python. The
store is a throw-away SQLite file filled through the JSON API, so the
pictures show what any installation would show.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from service.config import encode_key, load_settings  # noqa: E402
from service.wiring import build_services, prepare_store  # noqa: E402
from tests.support.browser import launch, sign_in  # noqa: E402
from tests.support.gunicorn import GunicornServer  # noqa: E402
from tests.support.http import basic, bearer  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
ADMIN = "klo_screenshots-admin-token-0123456789abcdef"
ALICE = "klo_screenshots-alice-token-0123456789abcdef"
SECRET_KEY = encode_key(bytes(range(32)))
KEYS: list[dict[str, Any]] = [
    {"description": "payments backend, prod", "ip_whitelist": ["203.0.113.0/24"]},
    {"description": "mobile app login, staging", "expires_at": "2027-06-30"},
    {"description": "support desk tools", "permissions": ["verify"]},
    {"description": "partner gateway (EU)", "ip_whitelist": ["198.51.100.7"]},
    {"description": "nightly reconciliation job", "expires_at": "2027-01-31"},
]


def fill_store(server: GunicornServer) -> list[dict[str, Any]]:
    made = []
    for body in KEYS:
        response = server.request(
            "POST",
            "/v1/keys",
            {"permissions": ["send", "verify"], **body},
            headers=bearer(ADMIN),
        )
        made.append(response.json())
    # A little history by another operator.
    server.request(
        "PATCH",
        f"/v1/keys/{made[0]['id']}",
        {"ip_whitelist": ["203.0.113.0/24", "2001:db8::/48"]},
        headers={**bearer(ALICE), "X-Request-Id": "deploy-2211"},
    )
    server.request("POST", f"/v1/keys/{made[3]['id']}/disable", headers=bearer(ALICE))
    return made


class Camera:
    """Writes the pictures asked for (all of them when none is named)."""

    def __init__(self, names: list[str]) -> None:
        self.names = set(names)

    def __call__(self, page: Any, name: str) -> None:
        if not self.names or name in self.names:
            page.screenshot(path=OUT / f"{name}.png", full_page=True)


def use_key(server: GunicornServer, key: dict[str, Any]) -> None:
    """A few auth calls, then wait (bounded) until a flush has stored them."""
    for client_ip in ("203.0.113.9", "203.0.113.10", "203.0.113.11", "192.0.2.1"):
        server.request(
            "POST",
            "/v1/auth",
            {"api": "send", "client_ip": client_ip},
            headers=basic(key["dev_key"], key["dev_secret"]),
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        usage = server.request(
            "GET", f"/v1/keys/{key['id']}/usage", headers=bearer(ADMIN)
        ).json()
        if sum(item["allowed"] for item in usage["items"]) == 3:
            return
        time.sleep(0.5)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "KEYLEDGER_DATABASE_URL": f"sqlite:///{tmp}/keyledger.db",
            "KEYLEDGER_SECRET_KEY": SECRET_KEY,
            "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN,
            "KEYLEDGER_LOG_LEVEL": "WARNING",
        }
        settings = load_settings({}, env)
        services = build_services(settings)
        prepare_store(services)  # as gunicorn's master does, admin included
        services.operators.create("alice", "admin", ALICE)
        services.close()
        with GunicornServer(env, workers=1) as server:
            made = fill_store(server)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                shoot(browser, server.base, made, Camera(sys.argv[1:]))
                shoot_lifecycle(browser, server, made, Camera(sys.argv[1:]))
                browser.close()


def shoot(browser: Any, base: str, made: list[dict[str, Any]], snap: Camera) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, base, ADMIN)
    snap(page, "list")

    page.get_by_role("link", name="Create Now").click()
    page.get_by_label("Description").fill("OTP service, prod (eu-west)")
    page.get_by_label("IP whitelist").fill("203.0.113.0/24\n2001:db8::7")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="API key created").wait_for()
    snap(page, "create-result")

    page.get_by_role("link", name="Open key details").click()
    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Description").fill("OTP service, production (eu-west)")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Disable").click()
    page.get_by_role("button", name="Enable").click()
    page.get_by_role("heading", name="History").wait_for()
    snap(page, "details")

    page.get_by_role("button", name="Edit").click()
    # Alice edits the same key in her own browser meanwhile.
    elsewhere = browser.new_context(viewport={"width": 1440, "height": 900})
    other = elsewhere.new_page()
    sign_in(other, base, ALICE)
    other.goto(page.url)
    other.get_by_label("Description").fill("OTP service, prod (eu-west + us-east)")
    other.get_by_role("button", name="Save").click()
    page.get_by_label("Description").fill("OTP service, production")
    page.get_by_label("Verify API").uncheck()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("alert").wait_for()
    snap(page, "edit-conflict")
    elsewhere.close()

    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    snap(page, "audit")

    narrow = browser.new_context(viewport={"width": 375, "height": 812})
    phone = narrow.new_page()
    sign_in(phone, base, ADMIN)
    snap(phone, "list-375")
    phone.goto(page.url.replace("/audit", "/"))
    phone.get_by_role("link", name=made[0]["dev_key"]).click()
    snap(phone, "details-375")
    narrow.close()
    context.close()


def shoot_lifecycle(
    browser: Any, server: GunicornServer, made: list[dict[str, Any]], snap: Camera
) -> None:
    """Roll with a grace period, usage and last use, restore."""
    used, deleted = made[0], made[4]
    use_key(server, used)
    server.request("DELETE", f"/v1/keys/{deleted['id']}", headers=bearer(ALICE))
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, server.base, ADMIN)
    page.goto(f"{server.base}/console/keys/{used['id']}/edit")
    page.get_by_label("Grace period (seconds)").fill("86400")
    page.get_by_role("button", name="Roll DevSecret").click()
    page.get_by_role("button", name="Confirm roll").wait_for()
    snap(page, "roll-confirm")
    page.get_by_role("button", name="Confirm roll").click()
    page.get_by_role("link", name="Open key details").click()
    page.get_by_role("region", name="Usage").wait_for()
    snap(page, "rolled-details")
    page.goto(f"{server.base}/console/keys/{deleted['id']}")
    page.get_by_role("button", name="Restore").click()
    page.get_by_role("button", name="Confirm restore").wait_for()
    snap(page, "restore")
    context.close()


if __name__ == "__main__":
    main()
