"""What the /v1/auth tests share: the request, the answer as a client sees
it, and the operators' clock for keys whose expiry has passed."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from tests.support.http import ApiClient

CLIENT_IP = "203.0.113.9"
# The operators' clock for keys whose expiry has passed in real time: a past
# expiry is refused at the API, so such keys are made "back then".
BACK_THEN = datetime(2020, 1, 1, tzinfo=UTC)
PASSED_EXPIRY = "2020-06-30T12:00:00Z"
INVALID_CREDENTIALS = {"allowed": False, "reason": "invalid_credentials"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def post_auth(api: ApiClient, headers: dict[str, str], body: Any = None) -> Any:
    payload = {"api": "send", "client_ip": CLIENT_IP} if body is None else body
    return api.client.post("/v1/auth", json=payload, headers=headers)


def fingerprint(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Everything a client can see of an answer, except the Date header and
    the request id (new for every request)."""
    headers = sorted(
        (k, v) for k, v in response.headers.items() if k not in ("Date", "X-Request-Id")
    )
    return response.status_code, headers, response.get_data()


@contextmanager
def operators_clock(app: Flask, moment: datetime) -> Iterator[None]:
    """Management calls inside validate expiries against ``moment``."""
    ledger = app.extensions["keyledger"].ledger
    real = ledger.clock
    ledger.clock = lambda: moment
    try:
        yield
    finally:
        ledger.clock = real
