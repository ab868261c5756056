"""Takes the console screenshots in docs/screenshots/ against a real gunicorn.

    .venv/bin/python docs/screenshots/capture.py      (or: make screenshots)

Needs Chromium (/usr/bin/chromium) and npm-free Playwright for Python. The
store is a throw-away SQLite file filled through the JSON API, so the
pictures show what any installation would show.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from service.config import encode_key, load_settings  # noqa: E402
from service.wiring import build_services, prepare_store  # noqa: E402
from tests.support.browser import launch, sign_in  # noqa: E402
from tests.support.gunicorn import GunicornServer, bearer  # noqa: E402

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
                shoot(browser, server.base, made)
                browser.close()


def shoot(browser: Any, base: str, made: list[dict[str, Any]]) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, base, ADMIN)
    page.screenshot(path=OUT / "list.png", full_page=True)

    page.get_by_role("link", name="Create Now").click()
    page.get_by_label("Description").fill("OTP service, prod (eu-west)")
    page.get_by_label("IP whitelist").fill("203.0.113.0/24\n2001:db8::7")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="API key created").wait_for()
    page.screenshot(path=OUT / "create-result.png", full_page=True)

    page.get_by_role("link", name="Open key details").click()
    page.get_by_role("button", name="Edit").click()
    page.get_by_label("Description").fill("OTP service, production (eu-west)")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Disable").click()
    page.get_by_role("button", name="Enable").click()
    page.get_by_role("heading", name="History").wait_for()
    page.screenshot(path=OUT / "details.png", full_page=True)

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
    page.screenshot(path=OUT / "edit-conflict.png", full_page=True)
    elsewhere.close()

    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    page.screenshot(path=OUT / "audit.png", full_page=True)

    narrow = browser.new_context(viewport={"width": 375, "height": 812})
    phone = narrow.new_page()
    sign_in(phone, base, ADMIN)
    phone.screenshot(path=OUT / "list-375.png", full_page=True)
    phone.goto(page.url.replace("/audit", "/"))
    phone.get_by_role("link", name=made[0]["dev_key"]).click()
    phone.screenshot(path=OUT / "details-375.png", full_page=True)
    narrow.close()
    context.close()


if __name__ == "__main__":
    main()
