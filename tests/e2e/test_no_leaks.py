"""No DevSecret and no operator token in any log record, on stderr, in any
response that is not meant to carry one, or in the key's history."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import open_app
from tests.support.credentials import ADMIN_TOKEN
from tests.support.http import basic, bearer

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


class Capture(logging.Handler):
    """Keeps every record it is handed, formatted as the service formats them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs(debug_app: Flask) -> Iterator[Capture]:
    """Every record logged while the test runs, from every logger: the root
    (where libraries' records end) and the service's own, which does not
    propagate. Attached after the app is built, so it sees exactly what the
    service's handler would write, at DEBUG."""
    capture = Capture()
    capture.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers = [logging.getLogger(), logging.getLogger("keyledger")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(capture)
    logging.getLogger().setLevel(logging.DEBUG)
    yield capture
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(capture)
        logger.setLevel(level)


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


def rendered(record: logging.LogRecord) -> str:
    """Everything a handler could write for the record, traceback included."""
    text = f"{record.getMessage()} {record.args!r}"
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return f"{text} {record.exc_text or ''} {record.stack_info or ''}"


def test_no_log_record_carries_a_secret_or_token(
    captured_logs: Capture, debug_app: Flask
) -> None:
    send = RecordingClient(debug_app.test_client())
    secrets = run_lifecycle(debug_app, send)
    access = [r for r in captured_logs.records if r.name == "keyledger.access"]
    # The capture saw the service log: one access line per request, /v1/auth
    # included, so an empty capture cannot pass.
    assert len(access) == len(send.sent)
    for record in captured_logs.records:
        assert leaks(rendered(record), secrets) == [], record.name
    assert leaks("\n".join(captured_logs.lines), secrets) == []


def test_the_log_capture_would_see_a_leak(
    captured_logs: Capture, debug_app: Flask
) -> None:
    """The check above can fail: a secret logged by the service, or by a
    library through the root logger, is found."""
    logging.getLogger("keyledger.api").debug("oops %s", WRONG_SECRET)
    logging.getLogger("werkzeug").warning("oops %s", UNKNOWN_TOKEN)
    found = {
        secret
        for record in captured_logs.records
        for secret in leaks(rendered(record), [WRONG_SECRET, UNKNOWN_TOKEN])
    }
    assert found == {WRONG_SECRET, UNKNOWN_TOKEN}


def test_nothing_on_stderr_carries_a_secret_or_token(
    capfd: pytest.CaptureFixture[str], debug_app: Flask
) -> None:
    send = RecordingClient(debug_app.test_client())
    secrets = run_lifecycle(debug_app, send)
    captured = capfd.readouterr()
    # What the service's own handler wrote to the process's stderr, line by
    # line: it must be there, or this test would pass on an empty capture.
    access_lines = [
        line for line in captured.err.splitlines() if " keyledger.access " in line
    ]
    assert len(access_lines) == len(send.sent)  # /v1/auth included
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
