"""A Flask test client that signs in to the console and posts its forms."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

AUDITOR_TOKEN = "klo_console-auditor-token-0123456789"
_FIELD_ERROR = re.compile(
    r'<p class="field-error" id="([a-z_]+)-error">.*?<span>(.*?)</span>', re.S
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY_LINK = re.compile(r"/console/keys/([0-9a-f-]{36})")


def csrf_of(page: TestResponse) -> str:
    found = _CSRF.search(page.get_data(as_text=True))
    assert found is not None, "the page carries no CSRF token"
    return found.group(1)


def key_id_in(page: TestResponse) -> str:
    found = _KEY_LINK.search(page.get_data(as_text=True))
    assert found is not None, "the page links to no key"
    return found.group(1)


@dataclass
class MovableClock:
    """The console's session clock, moved by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def movable_clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))


class ConsoleClient:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def sign_in(self, token: str, **kwargs: Any) -> TestResponse:
        form = self.client.get("/console/login", **kwargs)
        return self.client.post(
            "/console/login",
            data={"token": token, "csrf_token": csrf_of(form)},
            **kwargs,
        )

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def csrf(self) -> str:
        return csrf_of(self.client.get("/console/audit"))

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True
    ) -> TestResponse:
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = self.csrf()
        return self.client.post(path, data=body)

    def create(self, **fields: Any) -> TestResponse:
        fields.setdefault("permissions", ["send", "verify"])
        return self.post("/console/keys/new", fields)

    def create_key(self, **fields: Any) -> str:
        page = self.create(**fields)
        assert page.status_code == 200, page.get_data(as_text=True)
        return key_id_in(page)


def page_text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def field_errors(response: Any) -> dict[str, str]:
    """The message shown beside each field, by the field's name."""
    found = _FIELD_ERROR.findall(page_text(response))
    return {name: html.unescape(message) for name, message in found}


def signed_in(client: FlaskClient, token: str) -> ConsoleClient:
    console = ConsoleClient(client)
    assert console.sign_in(token).status_code == 303
    return console
