"""No DevSecret and no operator token in any log record, on stderr, in any
response that is not meant to carry one, or in the key's history."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN_TOKEN, basic, bearer, open_app

# The only answers whose purpose is to hand out a DevSecret.
CARRIES_SECRET = {
    ("POST", "/v1/keys"),
    ("POST", "/v1/keys/{id}/reset-secret"),
    ("GET", "/v1/keys/{id}/secret"),
}
WRONG_SECRET = "wrong-secret-but-still-secret-0123456789abcdefgh"
UNKNOWN_TOKEN = "klo_unknown-token-that-must-not-be-logged-0123456789"


class RecordingClient:
    """Sends requests and keeps (method, path template, response) for each."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.sent: list[tuple[str, str, Any]] = []

    def __call__(
        self, method: str, template: str, key_id: str = "", **kwargs: Any
    ) -> Any:
        response = self.client.open(template.format(id=key_id), method=method, **kwargs)
        # Read it all, as a server does: the access line is written once the
        # last byte has gone out.
        response.get_data()
        self.sent.append((method, template, response))
        return response


@pytest.fixture
def debug_app(config: dict[str, Any]) -> Iterator[Flask]:
    app = open_app({**config, "log_level": "DEBUG"})
    yield app
    app.extensions["keyledger"].close()


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged at DEBUG and up, from every logger."""
    keyledger = logging.getLogger("keyledger")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="keyledger")
    # The service's logger does not propagate, so caplog must listen to it
    # too (unless pytest already made it do so).
    attached = caplog.handler not in keyledger.handlers
    if attached:
        keyledger.addHandler(caplog.handler)
    yield caplog
    if attached:
        keyledger.removeHandler(caplog.handler)


@contextlib.contextmanager
def service_logs_to_current_stderr() -> Iterator[None]:
    """Points the service's own log handlers at today's ``sys.stderr``.

    They keep the stream that was current when the first app was built; under
    pytest that capture is closed by the time the test body runs. Assigned
    directly because ``setStream`` would flush the closed stream first.
    """
    handlers = [
        h
        for h in logging.getLogger("keyledger").handlers
        if type(h) is logging.StreamHandler
    ]
    previous = [h.stream for h in handlers]
    for handler in handlers:
        handler.stream = sys.stderr
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.stream = stream


def run_lifecycle(app: Flask, send: RecordingClient) -> list[str]:
    """Every kind of call, good and bad; returns every secret and token used."""
    admin = bearer(ADMIN_TOKEN)
    auditor_token = app.extensions["keyledger"].operators.create("audrey", "auditor")
    auditor = bearer(auditor_token)
    body = {"description": "leak check", "permissions": ["send"]}
    key = send("POST", "/v1/keys", json=body, headers=admin).json
    kid, dev_key, first = key["id"], key["dev_key"], key["dev_secret"]
    auth = {"json": {"api": "send", "client_ip": "198.51.100.4"}}
    send("POST", "/v1/auth", headers=basic(dev_key, first), **auth)
    send("POST", "/v1/auth", headers=basic(dev_key, WRONG_SECRET), **auth)
    send("POST", "/v1/auth", headers=basic(dev_key, first), json={"api": "fly"})
    send("POST", "/v1/auth", headers={"Authorization": f"Basic {first}"}, **auth)
    send("GET", "/v1/keys", headers=admin)
    send("GET", "/v1/keys/{id}", kid, headers=auditor)
    send("GET", "/v1/keys/{id}/secret", kid, headers=admin)
    send("GET", "/v1/keys/{id}/secret", kid, headers=auditor)
    send("PATCH", "/v1/keys/{id}", kid, json={"permissions": ["verify"]}, headers=admin)
    send("PATCH", "/v1/keys/{id}", kid, json={"ip_whitelist": ["x"]}, headers=admin)
    send(
        "PATCH",
        "/v1/keys/{id}",
        kid,
        json={"description": "stale"},
        headers={**admin, "If-Match": '"1"'},
    )
    send(
        "PATCH",
        "/v1/keys/{id}",
        kid,
        data='{"description": ',
        content_type="application/json",
        headers=admin,
    )
    second = send("POST", "/v1/keys/{id}/reset-secret", kid, headers=admin).json
    new = second["dev_secret"]
    send("POST", "/v1/auth", headers=basic(dev_key, first), **auth)
    send("POST", "/v1/auth", headers=basic(dev_key, new), **auth)
    send("POST", "/v1/keys/{id}/disable", kid, headers=admin)
    send("POST", "/v1/auth", headers=basic(dev_key, new), **auth)
    send("POST", "/v1/keys/{id}/enable", kid, headers=admin)
    send("GET", "/v1/keys", headers=bearer(UNKNOWN_TOKEN))
    send("GET", "/v1/keys", headers=bearer(new))
    send("GET", "/v1/keys/{id}/history", kid, headers=auditor)
    send("GET", "/v1/audit", headers=auditor)
    send("DELETE", "/v1/keys/{id}", kid, headers=admin)
    send("POST", "/v1/auth", headers=basic(dev_key, new), **auth)
    send("GET", "/v1/keys/{id}", kid, headers=admin)
    return [first, new, WRONG_SECRET, ADMIN_TOKEN, auditor_token, UNKNOWN_TOKEN]


@pytest.fixture
def lifecycle(debug_app: Flask) -> tuple[RecordingClient, list[str], str]:
    send = RecordingClient(debug_app.test_client())
    secrets = run_lifecycle(debug_app, send)
    key_id = send.sent[0][2].json["id"]
    return send, secrets, key_id


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret in text]


def test_no_log_record_carries_a_secret_or_token(
    log_records: pytest.LogCaptureFixture, debug_app: Flask
) -> None:
    send = RecordingClient(debug_app.test_client())
    secrets = run_lifecycle(debug_app, send)
    # Each request is logged once, /v1/auth included; a record may reach
    # caplog twice when pytest also listens to the logger.
    access = {
        r.getMessage() for r in log_records.records if r.name == "keyledger.access"
    }
    assert len(access) == len(send.sent)
    for record in log_records.records:
        rendered = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert leaks(rendered, secrets) == [], record.name
    assert leaks(log_records.text, secrets) == []


def test_nothing_on_stderr_carries_a_secret_or_token(
    capfd: pytest.CaptureFixture[str], debug_app: Flask
) -> None:
    with service_logs_to_current_stderr():
        secrets = run_lifecycle(debug_app, RecordingClient(debug_app.test_client()))
    captured = capfd.readouterr()
    assert "keyledger.access" in captured.err  # the service's log reached stderr
    assert leaks(captured.err + captured.out, secrets) == []


def test_only_the_issuing_answers_carry_a_secret(
    lifecycle: tuple[RecordingClient, list[str], str],
) -> None:
    send, secrets, _ = lifecycle
    carrying = []
    for method, template, response in send.sent:
        found = leaks(response.get_data(as_text=True), secrets)
        headers = leaks(json.dumps(dict(response.headers)), secrets)
        assert headers == [], (method, template)
        if found:
            carrying.append((method, template))
    assert set(carrying) == CARRIES_SECRET


def test_no_answer_carries_an_operator_token(
    lifecycle: tuple[RecordingClient, list[str], str],
) -> None:
    send, secrets, _ = lifecycle
    tokens = secrets[3:]
    for method, template, response in send.sent:
        assert leaks(response.get_data(as_text=True), tokens) == [], (method, template)


def test_the_history_carries_no_secret(
    debug_app: Flask, lifecycle: tuple[RecordingClient, list[str], str]
) -> None:
    _, secrets, key_id = lifecycle
    history = debug_app.extensions["keyledger"].ledger.read_model.history(key_id)
    types = [record.type for record in history]
    assert {"created", "secret_reset", "secret_revealed", "deleted"} <= set(types)
    text = json.dumps([asdict(record) for record in history], default=str)
    assert leaks(text, secrets) == []
    assert "secret_hash" not in text
    assert "sealed_secret" not in text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/keys/{id}/history",
        "/v1/audit?key_id={id}",
        "/v1/audit?key_id={id}&format=jsonl",
        "/v1/audit?key_id={id}&format=csv",
    ],
)
def test_history_answers_carry_no_secret(
    debug_app: Flask, lifecycle: tuple[RecordingClient, list[str], str], path: str
) -> None:
    _, secrets, key_id = lifecycle
    response = debug_app.test_client().get(
        path.format(id=key_id), headers=bearer(ADMIN_TOKEN)
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "secret_reset" in text  # the deleted key's history is all there
    assert leaks(text, secrets) == []
    assert "sealed_secret" not in text
    assert "secret_hash" not in text
