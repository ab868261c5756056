"""A flood of refused /v1/auth calls is visible in a rate-limited warning
naming the DevKey and client address (never a secret), and never locks the
customer's own traffic out."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.support.http import ApiClient

FLOOD = 300


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def warnings() -> Iterator[Collected]:
    handler = Collected()
    logger = logging.getLogger("keyledger.auth")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_flood_of_wrong_secrets_is_one_warning_and_no_lockout(
    api: ApiClient, app: Flask, warnings: Collected
) -> None:
    key = api.create_key()
    seen: list[tuple[str, str]] = []
    app.extensions["keyledger.auth_failures"].subscribe(
        lambda dev_key, client_ip: seen.append((dev_key, client_ip))
    )
    wrong = [f"wrong-secret-{n}" for n in range(FLOOD)]

    refused = [
        api.auth(key["dev_key"], secret, client_ip="198.51.100.23").status_code
        for secret in wrong
    ]
    allowed = api.auth(key["dev_key"], key["dev_secret"], client_ip="198.51.100.23")

    assert set(refused) == {401}
    assert allowed.status_code == 200
    assert len(warnings.lines) == 1
    line = warnings.lines[0]
    assert f"dev_key={key['dev_key']}" in line
    assert "client_ip=198.51.100.23" in line
    assert not any(secret in line for secret in [*wrong, key["dev_secret"]])
    assert seen == [(key["dev_key"], "198.51.100.23")] * FLOOD


def test_each_client_address_and_dev_key_gets_its_own_warning(
    api: ApiClient, warnings: Collected
) -> None:
    key = api.create_key()
    for client_ip in ("198.51.100.1", "198.51.100.2"):
        for _ in range(3):
            api.auth(key["dev_key"], "wrong", client_ip=client_ip)
    api.auth("unknown-dev-key-0000000", "wrong", client_ip="198.51.100.1")
    api.auth("bad\nkey", "wrong", client_ip="198.51.100.1")

    assert len(warnings.lines) == 4
    assert "dev_key=unknown-dev-key-0000000" in warnings.lines[2]
    assert "dev_key=<not a DevKey>" in warnings.lines[3]
