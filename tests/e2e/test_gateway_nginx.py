"""The documented nginx gateway (docs/gateway.md), end to end: a client
talks to Debian's nginx, which asks a real keyledger (gunicorn) at
/v1/auth/forward before passing the request to a small upstream service.

Skips with a message when nginx is not installed; KEYLEDGER_REQUIRE_NGINX=1
(as in CI) makes that a failure.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.credentials import ADMIN_TOKEN
from tests.support.gunicorn import GunicornServer, free_port, service_env
from tests.support.http import basic, bearer
from tests.support.nginx import Nginx, Upstream, nginx_binary

pytestmark = pytest.mark.slow


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: Any


@dataclass
class Gateway:
    keyledger: GunicornServer
    nginx: Nginx
    upstream: Upstream

    def send(
        self,
        path: str,
        headers: dict[str, str],
        *,
        source: str = "127.0.0.1",
        method: str = "POST",
        body: bytes = b'{"to": "+15550100"}',
    ) -> Answer:
        """One request to nginx from ``source`` (any 127/8 address)."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.nginx.port, timeout=10, source_address=(source, 0)
        )
        try:
            sent = {"Content-Type": "application/json", **headers}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return Answer(response.status, response.headers, parsed)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.keyledger.request(method, path, body, bearer(ADMIN_TOKEN))
        assert response.status < 300, response.body
        return response.json()

    def create_key(self, **body: Any) -> dict[str, Any]:
        body.setdefault("permissions", ["send", "verify"])
        return dict(self.admin("POST", "/v1/keys", body))


def keyledger_env(directory: Path) -> dict[str, str]:
    # nginx is the one proxy in front of keyledger (docs/gateway.md).
    return service_env(
        f"sqlite:///{directory / 'keyledger.db'}", trusted_proxy_hops="1"
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    nginx_binary()  # skip (or fail) before starting anything
    root = tmp_path_factory.mktemp("gateway")
    keyledger = GunicornServer(
        keyledger_env(root), workers=2, log_path=root / "gunicorn.log"
    ).start()
    upstream = Upstream().start()
    nginx = Nginx(root / "nginx", keyledger.port, upstream.port)
    try:
        nginx.start()
        yield Gateway(keyledger, nginx, upstream)
    finally:
        nginx.stop()
        upstream.stop()
        keyledger.stop()


def reached(gateway: Gateway, count_before: int) -> list[dict[str, Any]]:
    return gateway.upstream.received[count_before:]


def test_a_good_key_reaches_the_upstream_with_the_identity(gateway: Gateway) -> None:
    key = gateway.create_key(permissions=["verify", "send"])
    before = len(gateway.upstream.received)
    answer = gateway.send(
        "/v1/otp/send/sms",
        {
            **basic(key["dev_key"], key["dev_secret"]),
            # Claims a client must not be able to make:
            "X-Keyledger-Key-Id": "forged",
            "X-Keyledger-Permissions": "send,verify,admin",
            "X-Keyledger-Api": "verify",
        },
    )
    assert answer.status == 200
    assert answer.body["upstream"] == "otp"
    [seen] = reached(gateway, before)
    assert seen["path"] == "/v1/otp/send/sms"
    assert seen["body"] == '{"to": "+15550100"}'
    headers = seen["headers"]
    assert headers["x-keyledger-key-id"] == key["id"]
    assert headers["x-keyledger-dev-key"] == key["dev_key"]
    assert headers["x-keyledger-permissions"] == "send,verify"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "authorization" not in headers  # the DevSecret stays at the gateway


def test_a_wrong_secret_gets_401_and_never_reaches_the_upstream(
    gateway: Gateway,
) -> None:
    key = gateway.create_key()
    before = len(gateway.upstream.received)
    for headers in (
        basic(key["dev_key"], "W" * 43),
        basic("U" * 24, key["dev_secret"]),
        {},
    ):
        answer = gateway.send("/v1/otp/send", headers)
        assert answer.status == 401
        assert answer.body == {"allowed": False, "reason": "invalid_credentials"}
        assert answer.headers.get_all("WWW-Authenticate") == ['Basic realm="keyledger"']
        assert answer.headers["Content-Type"] == "application/json"
    assert reached(gateway, before) == []


def test_a_disabled_key_gets_403_with_its_reason(gateway: Gateway) -> None:
    key = gateway.create_key()
    gateway.admin("POST", f"/v1/keys/{key['id']}/disable")
    before = len(gateway.upstream.received)
    answer = gateway.send("/v1/otp/verify", basic(key["dev_key"], key["dev_secret"]))
    assert answer.status == 403
    assert answer.body == {"allowed": False, "reason": "key_disabled"}
    assert reached(gateway, before) == []


def test_permissions_are_checked_per_location(gateway: Gateway) -> None:
    key = gateway.create_key(permissions=["verify"])
    credentials = basic(key["dev_key"], key["dev_secret"])
    # The client's own X-Keyledger-Api does not choose the API: the location does.
    send = gateway.send("/v1/otp/send", {**credentials, "X-Keyledger-Api": "verify"})
    assert send.status == 403
    assert send.body == {"allowed": False, "reason": "permission_denied"}
    verify = gateway.send("/v1/otp/verify", credentials)
    assert verify.status == 200
    assert verify.body["headers"]["x-keyledger-permissions"] == "verify"


def test_the_ip_whitelist_sees_the_address_nginx_saw(gateway: Gateway) -> None:
    key = gateway.create_key(ip_whitelist=["127.0.0.2"])
    credentials = basic(key["dev_key"], key["dev_secret"])
    inside = gateway.send("/v1/otp/send", credentials, source="127.0.0.2")
    assert inside.status == 200
    assert inside.body["headers"]["x-forwarded-for"] == "127.0.0.2"
    outside = gateway.send("/v1/otp/send", credentials, source="127.0.0.1")
    assert outside.status == 403
    assert outside.body == {"allowed": False, "reason": "ip_not_allowed"}


def test_a_client_s_own_forwarded_for_changes_nothing(gateway: Gateway) -> None:
    key = gateway.create_key(ip_whitelist=["127.0.0.2", "198.51.100.0/24"])
    credentials = basic(key["dev_key"], key["dev_secret"])
    for claimed in ("127.0.0.2", "198.51.100.7", "127.0.0.2, 198.51.100.7"):
        answer = gateway.send(
            "/v1/otp/send",
            {**credentials, "X-Forwarded-For": claimed},
            source="127.0.0.3",
        )
        assert answer.status == 403
        assert answer.body == {"allowed": False, "reason": "ip_not_allowed"}


def test_a_revocation_is_obeyed_by_the_very_next_request(gateway: Gateway) -> None:
    key = gateway.create_key()
    credentials = basic(key["dev_key"], key["dev_secret"])
    assert gateway.send("/v1/otp/send", credentials).status == 200
    gateway.admin("POST", f"/v1/keys/{key['id']}/disable")
    assert gateway.send("/v1/otp/send", credentials).status == 403
    gateway.admin("POST", f"/v1/keys/{key['id']}/enable")
    assert gateway.send("/v1/otp/send", credentials).status == 200
    reset = gateway.admin("POST", f"/v1/keys/{key['id']}/reset-secret")
    assert gateway.send("/v1/otp/send", credentials).status == 401
    fresh = basic(key["dev_key"], reset["dev_secret"])
    assert gateway.send("/v1/otp/send", fresh).status == 200
    gateway.admin("PATCH", f"/v1/keys/{key['id']}", {"ip_whitelist": ["192.0.2.1"]})
    answer = gateway.send("/v1/otp/send", fresh)
    assert answer.body == {"allowed": False, "reason": "ip_not_allowed"}
    gateway.keyledger.request(
        "DELETE", f"/v1/keys/{key['id']}", None, bearer(ADMIN_TOKEN)
    )
    assert gateway.send("/v1/otp/send", fresh).status == 401


def test_an_open_route_passes_without_credentials(gateway: Gateway) -> None:
    answer = gateway.send("/healthz", {}, method="GET", body=b"")
    assert answer.status == 200
    assert answer.body["path"] == "/healthz"


def test_an_unreachable_keyledger_fails_closed_with_503(tmp_path: Path) -> None:
    nginx_binary()
    upstream = Upstream().start()
    nginx = Nginx(tmp_path / "nginx", free_port(), upstream.port)
    try:
        nginx.start()
        gateway = Gateway(keyledger=None, nginx=nginx, upstream=upstream)  # type: ignore[arg-type]
        answer = gateway.send("/v1/otp/send", basic("K" * 24, "S" * 43))
    finally:
        nginx.stop()
        upstream.stop()
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.body["allowed"] is False
    assert upstream.received == []
