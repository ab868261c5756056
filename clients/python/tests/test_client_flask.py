"""``keyledger_client.flask.require_key`` on a small OTP service (Flask),
asking a real keyledger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Keyledger, basic, free_port
from flask import Flask, g, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from keyledger_client import Client, Decision
from keyledger_client.flask import require_key

CLIENT_IP = "203.0.113.7"


def otp_service(client: Client | None, configured: Client | None = None) -> Flask:
    app = Flask("otp")
    app.config["KEYLEDGER_CLIENT"] = configured
    app.config["RAN"] = []

    @app.post("/send")
    @require_key("send", client)
    def send() -> Any:
        app.config["RAN"].append("send")
        decision: Decision = g.keyledger
        return jsonify(sent_for=decision.key_id)

    @app.post("/verify")
    @require_key("verify", client)
    def verify() -> Any:
        app.config["RAN"].append("verify")
        return jsonify(verified_for=g.keyledger.dev_key)

    return app


@pytest.fixture
def client(keyledger: Keyledger) -> Iterator[Client]:
    with Client(keyledger.url) as opened:
        yield opened


def call(app: Flask, path: str, headers: dict[str, str], ip: str = CLIENT_IP) -> Any:
    return app.test_client().post(
        path, headers=headers, environ_overrides={"REMOTE_ADDR": ip}
    )


def test_an_allowed_call_runs_the_view_with_the_decision(
    keyledger: Keyledger, client: Client
) -> None:
    key = keyledger.create_key()
    app = otp_service(client)
    response = call(
        app, "/send", {"Authorization": basic(key["dev_key"], key["dev_secret"])}
    )
    assert response.status_code == 200
    assert response.json == {"sent_for": key["id"]}


def test_without_a_client_argument_the_app_config_s_is_used(
    keyledger: Keyledger, client: Client
) -> None:
    key = keyledger.create_key()
    app = otp_service(None, configured=client)
    response = call(
        app, "/verify", {"Authorization": basic(key["dev_key"], key["dev_secret"])}
    )
    assert response.json == {"verified_for": key["dev_key"]}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer x"}, {"Authorization": basic("U" * 24, "S" * 43)}],
)
def test_bad_credentials_answer_401_and_the_view_never_runs(
    client: Client, headers: dict[str, str]
) -> None:
    app = otp_service(client)
    response = call(app, "/send", headers)
    assert response.status_code == 401
    assert response.json == {"allowed": False, "reason": "invalid_credentials"}
    assert response.headers["WWW-Authenticate"] == 'Basic realm="keyledger"'
    assert app.config["RAN"] == []


def test_a_refusal_answers_403_with_the_reason(
    keyledger: Keyledger, client: Client
) -> None:
    key = keyledger.create_key(permissions=["verify"])
    app = otp_service(client)
    credentials = {"Authorization": basic(key["dev_key"], key["dev_secret"])}
    response = call(app, "/send", credentials)
    assert response.status_code == 403
    assert response.json == {"allowed": False, "reason": "permission_denied"}
    assert call(app, "/verify", credentials).status_code == 200
    assert app.config["RAN"] == ["verify"]


def test_the_client_address_is_remote_addr_after_proxy_fix(
    keyledger: Keyledger, client: Client
) -> None:
    key = keyledger.create_key(ip_whitelist=["198.51.100.0/24"])
    app = otp_service(client)
    credentials = {"Authorization": basic(key["dev_key"], key["dev_secret"])}
    forwarded = {**credentials, "X-Forwarded-For": "198.51.100.7"}
    assert call(app, "/send", forwarded, ip="127.0.0.1").status_code == 403
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    assert call(app, "/send", forwarded, ip="127.0.0.1").status_code == 200


def test_when_keyledger_cannot_answer_it_fails_closed_with_503() -> None:
    down = Client(f"http://127.0.0.1:{free_port()}", timeout=1.0, retries=1)
    app = otp_service(down)
    response = call(app, "/send", {"Authorization": basic("K" * 24, "S" * 43)})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json["allowed"] is False
    assert app.config["RAN"] == []
    down.close()


def test_an_unknown_api_is_refused_when_decorating() -> None:
    with pytest.raises(ValueError, match="send"):
        require_key("email")
