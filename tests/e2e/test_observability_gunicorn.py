"""Metrics, JSON logs and request ids of a real gunicorn with four workers.

One known sequence of calls goes out on fresh connections (so the kernel
spreads them over the workers); then ``/metrics`` must count exactly that
sequence, summed over the workers, and stderr must hold one JSON object per
line with exactly one access line per request.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.auth_tally import FOLD_INTERVAL
from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer
from tests.support.http import basic, bearer

WORKERS = 4
ALLOWED = 12
WRONG_SECRET = 5
DISABLED = 3
INVALID_BODIES = 2
LISTS = 4
FORWARD_ALLOWED = 4
FORWARD_WRONG_SECRET = 2
FORWARD_NO_API = 1
CHANGES = 2
AUTH_BODY = {"api": "send", "client_ip": "198.51.100.4"}


@dataclass
class Sent:
    request_id: str
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Caller:
    """Sends each request on a new connection with its own X-Request-Id."""

    port: int
    sent: list[Sent] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: Any = None,
        raw: bytes | None = None,
    ) -> Sent:
        request_id = f"test-{uuid.uuid4()}"
        data = (
            raw
            if raw is not None
            else (None if body is None else json.dumps(body).encode())
        )
        sent_headers = {
            **(headers or {}),
            "Connection": "close",
            "X-Request-Id": request_id,
        }
        if data is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=data, headers=sent_headers)
            response = connection.getresponse()
            answer = Sent(
                request_id,
                method,
                path,
                response.status,
                dict(response.getheaders()),
                response.read(),
            )
        finally:
            connection.close()
        self.sent.append(answer)
        return answer


@dataclass
class Scenario:
    server: GunicornServer
    caller: Caller
    log_path: Path
    keys: list[dict[str, Any]]
    metrics_text: str


def _known_sequence(caller: Caller) -> list[dict[str, Any]]:
    admin = bearer(ADMIN_TOKEN)
    keys = [
        json.loads(
            caller.call("POST", "/v1/keys", admin, {"permissions": ["send"]}).body
        )
        for _ in range(3)
    ]
    first, second = keys[0], keys[1]
    for _ in range(ALLOWED):
        caller.call(
            "POST", "/v1/auth", basic(first["dev_key"], first["dev_secret"]), AUTH_BODY
        )
    for _ in range(WRONG_SECRET):
        caller.call("POST", "/v1/auth", basic(first["dev_key"], "W" * 43), AUTH_BODY)
    caller.call("POST", f"/v1/keys/{second['id']}/disable", admin)
    for _ in range(DISABLED):
        caller.call(
            "POST",
            "/v1/auth",
            basic(second["dev_key"], second["dev_secret"]),
            AUTH_BODY,
        )
    for _ in range(INVALID_BODIES):
        caller.call(
            "POST",
            "/v1/auth",
            basic(first["dev_key"], first["dev_secret"]),
            {"api": "fly", "client_ip": "nowhere"},
        )
    for _ in range(LISTS):
        caller.call("GET", "/v1/keys", admin)
    caller.call("GET", "/v1/keys?limit=0", admin)
    # The gateway endpoints are lean WSGI handlers too, beside /v1/auth.
    for method in ("GET", "POST") * (FORWARD_ALLOWED // 2):
        caller.call(
            method,
            "/v1/auth/forward",
            {**basic(first["dev_key"], first["dev_secret"]), "X-Keyledger-Api": "send"},
        )
    for _ in range(FORWARD_WRONG_SECRET):
        caller.call(
            "GET",
            "/v1/auth/forward",
            {**basic(first["dev_key"], "W" * 43), "X-Keyledger-Api": "verify"},
        )
    for _ in range(FORWARD_NO_API):
        caller.call(
            "GET", "/v1/auth/forward", basic(first["dev_key"], first["dev_secret"])
        )
    caller.call("GET", "/v1/changes", admin)
    caller.call("GET", "/v1/changes?after=0", admin)
    return keys


@contextmanager
def _one_worker_held(caller: Caller) -> Iterator[None]:
    """Keeps one worker busy reading a half-sent request while the sequence
    runs, so that a busy machine cannot hand every request to one worker
    (sync workers serve one connection at a time); the request is finished
    afterwards and counts as one of the sequence."""
    request_id = f"test-{uuid.uuid4()}"
    held = socket.create_connection(("127.0.0.1", caller.port), timeout=10)
    try:
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        yield
        held.sendall(
            f"X-Request-Id: {request_id}\r\nConnection: close\r\n\r\n".encode()
        )
        response = http.client.HTTPResponse(held)
        response.begin()
        caller.sent.append(
            Sent(
                request_id,
                "GET",
                "/healthz",
                response.status,
                dict(response.getheaders()),
                response.read(),
            )
        )
    finally:
        held.close()


def _metrics_dir_of(server: GunicornServer) -> Path:
    """Where the workers keep their values: the files they have mapped."""
    for pid in server.worker_pids():
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            path = line.split(maxsplit=5)[-1]
            if "/keyledger-metrics-" in path and path.endswith(".db"):
                return Path(path).parent
    raise AssertionError("no worker has a metrics file mapped")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("observed")
    log_path = tmp / "gunicorn.log"
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{tmp / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_FORMAT": "json",
        "KEYLEDGER_LOG_LEVEL": "INFO",
        # What is checked here is the sum over several worker processes.
        # Sync workers serve one connection at a time, so holding one of
        # them (below) makes the others answer; a threaded worker would
        # answer everything with its other threads.
        "KEYLEDGER_WORKER_CLASS": "sync",
    }
    with GunicornServer(env, workers=WORKERS, log_path=log_path) as server:
        caller = Caller(server.port)
        with _one_worker_held(caller):
            keys = _known_sequence(caller)
        metrics_text = _scrape_once_folded(caller)
        yield Scenario(server, caller, log_path, keys, metrics_text)


def _scrape_once_folded(caller: Caller) -> str:
    """A scrape that includes every worker's auth answers: each worker moves
    its auth counts into the shared metrics at least once a second
    (service/auth_tally.py), so a scrape answered by another worker may lag
    by that much. Polls for a bounded time, then returns what it saw."""
    total = ALLOWED + WRONG_SECRET + DISABLED + INVALID_BODIES
    deadline = time.monotonic() + 5 * FOLD_INTERVAL
    while True:
        text = caller.call("GET", "/metrics").body.decode()
        seen = value(text, "keyledger_auth_duration_seconds_count")
        if seen >= total or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_auth_decisions_are_counted_by_outcome_and_reason_over_all_workers(
    scenario: Scenario,
) -> None:
    text = scenario.metrics_text
    name = "keyledger_auth_decisions_total"
    assert value(text, name, outcome="allowed", reason="none") == ALLOWED
    assert value(text, name, outcome="denied", reason="invalid_credentials") == (
        WRONG_SECRET
    )
    assert value(text, name, outcome="denied", reason="key_disabled") == DISABLED
    assert value(text, name, outcome="invalid", reason="validation_failed") == (
        INVALID_BODIES
    )


def test_auth_latency_histogram_counts_every_auth_call(scenario: Scenario) -> None:
    total = ALLOWED + WRONG_SECRET + DISABLED + INVALID_BODIES
    text = scenario.metrics_text
    assert value(text, "keyledger_auth_duration_seconds_count") == total
    assert value(text, "keyledger_auth_duration_seconds_bucket", le="+Inf") == total
    assert value(text, "keyledger_auth_duration_seconds_sum") > 0


def test_management_requests_are_counted_by_route_and_status(
    scenario: Scenario,
) -> None:
    text = scenario.metrics_text
    name = "keyledger_http_requests_total"
    assert value(text, name, route="/v1/keys", method="POST", status="201") == 3
    assert value(text, name, route="/v1/keys", method="GET", status="200") == LISTS
    assert value(text, name, route="/v1/keys", method="GET", status="422") == 1
    disable = "/v1/keys/<key_id>/disable"
    assert value(text, name, route=disable, method="POST", status="200") == 1


def test_events_are_counted_by_type_and_the_read_model_lag_is_reported(
    scenario: Scenario,
) -> None:
    text = scenario.metrics_text
    assert value(text, "keyledger_events_recorded_total", type="created") == 3
    assert value(text, "keyledger_events_recorded_total", type="disabled") == 1
    assert value(text, "keyledger_read_model_lag_events") == 0
    assert value(text, "keyledger_store_errors_total", where="auth") == 0


def test_the_calls_were_spread_over_several_workers(scenario: Scenario) -> None:
    access = [line for line in _log_lines(scenario) if _is_access(line)]
    assert len({line["process"] for line in access}) > 1


def _log_lines(scenario: Scenario) -> list[dict[str, Any]]:
    text = scenario.log_path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _is_access(line: dict[str, Any]) -> bool:
    return line.get("logger") == "keyledger.access"


def test_every_line_on_stderr_is_one_json_object(scenario: Scenario) -> None:
    text = scenario.log_path.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(line, dict) for line in parsed)
    loggers = {line.get("logger") for line in parsed}
    # gunicorn's own lines ("Booting worker ...") are JSON too.
    assert "gunicorn.error" in loggers
    assert "keyledger.access" in loggers


def test_exactly_one_access_line_per_request_with_its_request_id(
    scenario: Scenario,
) -> None:
    access = [line for line in _log_lines(scenario) if _is_access(line)]
    per_id = Counter(line["request_id"] for line in access)
    for sent in scenario.caller.sent:
        assert per_id[sent.request_id] == 1, sent.path
        assert sent.headers["X-Request-Id"] == sent.request_id
    by_id = {line["request_id"]: line for line in access}
    for sent in scenario.caller.sent:
        line = by_id[sent.request_id]
        assert (line["method"], line["path"], line["status"]) == (
            sent.method,
            sent.path.split("?")[0],
            sent.status,
        )
        assert line["duration_ms"] >= 0


def test_auth_access_lines_name_the_dev_key_and_outcome_never_the_secret(
    scenario: Scenario,
) -> None:
    lines = [
        line
        for line in _log_lines(scenario)
        if _is_access(line) and line["path"] == "/v1/auth"
    ]
    outcomes = Counter((line["outcome"], line["reason"]) for line in lines)
    assert outcomes[("allowed", "none")] == ALLOWED
    assert outcomes[("denied", "key_disabled")] == DISABLED
    assert {line["dev_key"] for line in lines if line["outcome"] == "allowed"} == {
        scenario.keys[0]["dev_key"]
    }
    text = scenario.log_path.read_text()
    for key in scenario.keys:
        assert key["dev_secret"] not in text
    assert ADMIN_TOKEN not in text


def test_management_access_lines_name_the_operator(scenario: Scenario) -> None:
    lines = [
        line
        for line in _log_lines(scenario)
        if _is_access(line) and line["path"] == "/v1/keys"
    ]
    assert len(lines) == LISTS + 3 + 1
    assert {line["actor"] for line in lines} == {"admin"}


def test_a_request_without_a_sane_id_gets_a_new_one(scenario: Scenario) -> None:
    caller = scenario.caller
    for path in ("/v1/auth", "/healthz"):
        connection = http.client.HTTPConnection("127.0.0.1", caller.port, timeout=10)
        try:
            connection.request(
                "POST" if path == "/v1/auth" else "GET",
                path,
                body=json.dumps(AUTH_BODY).encode() if path == "/v1/auth" else None,
                headers={"X-Request-Id": "bad id\twith spaces", "Connection": "close"},
            )
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        assigned = response.getheader("X-Request-Id") or ""
        assert str(uuid.UUID(assigned)) == assigned


def test_a_chunked_json_body_works_on_the_management_api(scenario: Scenario) -> None:
    body = json.dumps({"permissions": ["verify"], "description": "chunked"}).encode()

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    connection = http.client.HTTPConnection(
        "127.0.0.1", scenario.caller.port, timeout=10
    )
    try:
        connection.request(
            "POST",
            "/v1/keys",
            body=chunks(),
            headers={
                **bearer(ADMIN_TOKEN),
                "Content-Type": "application/json",
                "Connection": "close",
            },
            encode_chunked=True,
        )
        response = connection.getresponse()
        created = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 201, created
    assert created["description"] == "chunked"


def test_the_metrics_directory_is_removed_when_gunicorn_stops(
    tmp_path: Path,
) -> None:
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
    }
    server = GunicornServer(env, workers=1).start()
    try:
        server.request("GET", "/v1/keys", headers=bearer(ADMIN_TOKEN))
        directory = _metrics_dir_of(server)
        assert directory.is_dir()
    finally:
        server.stop()
    assert not directory.exists()


def test_forward_auth_decisions_are_counted_apart_from_v1_auth(
    scenario: Scenario,
) -> None:
    text = scenario.metrics_text
    name = "keyledger_forward_auth_decisions_total"
    assert value(text, name, outcome="allowed", reason="none") == FORWARD_ALLOWED
    assert value(text, name, outcome="denied", reason="invalid_credentials") == (
        FORWARD_WRONG_SECRET
    )
    assert value(text, name, outcome="invalid", reason="validation_failed") == (
        FORWARD_NO_API
    )
    # /v1/auth's own counter holds only its own calls.
    assert (
        value(text, "keyledger_auth_decisions_total", outcome="allowed", reason="none")
        == ALLOWED
    )


def test_the_change_feed_is_counted_with_the_management_requests(
    scenario: Scenario,
) -> None:
    text = scenario.metrics_text
    name = "keyledger_http_requests_total"
    assert value(text, name, route="/v1/changes", method="GET", status="200") == (
        CHANGES
    )


def test_gateway_access_lines_name_the_dev_key_or_the_operator(
    scenario: Scenario,
) -> None:
    access = [line for line in _log_lines(scenario) if _is_access(line)]
    forward = [line for line in access if line["path"] == "/v1/auth/forward"]
    assert len(forward) == FORWARD_ALLOWED + FORWARD_WRONG_SECRET + FORWARD_NO_API
    outcomes = Counter((line["outcome"], line["reason"]) for line in forward)
    assert outcomes == {
        ("allowed", "none"): FORWARD_ALLOWED,
        ("denied", "invalid_credentials"): FORWARD_WRONG_SECRET,
        ("invalid", "validation_failed"): FORWARD_NO_API,
    }
    assert {line["dev_key"] for line in forward if line["outcome"] != "invalid"} == {
        scenario.keys[0]["dev_key"]
    }
    changes = [line for line in access if line["path"] == "/v1/changes"]
    assert [(line["status"], line["actor"]) for line in changes] == [
        (200, "admin")
    ] * CHANGES
    gateway_paths = {"/v1/auth/forward", "/v1/changes"}
    for sent in scenario.caller.sent:
        if sent.path.split("?")[0] in gateway_paths:
            assert sent.headers["X-Request-Id"] == sent.request_id
