"""``keyledger_client.wsgi.KeyledgerMiddleware`` around a plain WSGI app,
asking a real keyledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from conftest import Keyledger, basic, free_port
from werkzeug.test import Client as WsgiTestClient

from keyledger_client import Client, Decision
from keyledger_client.wsgi import KeyledgerMiddleware

CLIENT_IP = "203.0.113.7"


class OtpApp:
    """A plain WSGI app that records what reached it."""

    def __init__(self) -> None:
        self.reached: list[tuple[str, Decision | None]] = []

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        decision = environ.get("keyledger.decision")
        self.reached.append((environ["PATH_INFO"], decision))
        body = json.dumps({"key_id": decision.key_id if decision else None}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


def api_for(environ: dict[str, Any]) -> str | None:
    path = environ["PATH_INFO"]
    if path.startswith("/send"):
        return "send"
    if path.startswith("/verify"):
        return "verify"
    return None


@pytest.fixture
def client(keyledger: Keyledger) -> Iterator[Client]:
    with Client(keyledger.url) as opened:
        yield opened


def served(client: Client) -> tuple[OtpApp, WsgiTestClient]:
    inner = OtpApp()
    return inner, WsgiTestClient(KeyledgerMiddleware(inner, client, api_for=api_for))


def post(test_client: WsgiTestClient, path: str, headers: dict[str, str]) -> Any:
    return test_client.post(
        path, headers=headers, environ_base={"REMOTE_ADDR": CLIENT_IP}
    )


def test_an_allowed_call_reaches_the_app_with_the_decision(
    keyledger: Keyledger, client: Client
) -> None:
    key = keyledger.create_key()
    inner, test_client = served(client)
    response = post(
        test_client,
        "/send/sms",
        {"Authorization": basic(key["dev_key"], key["dev_secret"])},
    )
    assert response.status_code == 200
    assert response.json == {"key_id": key["id"]}
    path, decision = inner.reached[0]
    assert path == "/send/sms"
    assert decision is not None
    assert decision.allowed


def test_paths_without_an_api_pass_unchecked(client: Client) -> None:
    inner, test_client = served(client)
    assert test_client.get("/health").status_code == 200
    assert inner.reached == [("/health", None)]


@pytest.mark.parametrize(
    ("setup", "status", "reason"),
    [
        ("wrong secret", 401, "invalid_credentials"),
        ("disabled", 403, "key_disabled"),
        ("verify only", 403, "permission_denied"),
        ("elsewhere", 403, "ip_not_allowed"),
    ],
)
def test_a_denial_answers_with_keyledger_s_body_and_the_app_never_runs(
    keyledger: Keyledger, client: Client, setup: str, status: int, reason: str
) -> None:
    key = keyledger.create_key(
        permissions=["verify"] if setup == "verify only" else ["send"],
        ip_whitelist=["192.0.2.0/24"] if setup == "elsewhere" else [],
    )
    if setup == "disabled":
        keyledger.act(key["id"], "disable")
    secret = "W" * 43 if setup == "wrong secret" else key["dev_secret"]
    inner, test_client = served(client)
    response = post(
        test_client, "/send", {"Authorization": basic(key["dev_key"], secret)}
    )
    assert response.status_code == status
    assert response.json == {"allowed": False, "reason": reason}
    assert ("WWW-Authenticate" in response.headers) == (status == 401)
    assert inner.reached == []


def test_when_keyledger_cannot_answer_it_fails_closed_with_503() -> None:
    down = Client(f"http://127.0.0.1:{free_port()}", timeout=1.0, retries=1)
    inner, test_client = served(down)
    response = post(
        test_client, "/verify", {"Authorization": basic("K" * 24, "S" * 43)}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert inner.reached == []
    down.close()
