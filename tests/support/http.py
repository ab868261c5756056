"""The HTTP vocabulary every end-to-end test speaks: credentials headers and
the management/auth calls, once for Flask's test client (``ApiClient``) and
once for a real server over the network (``ServedApi``)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from flask.testing import FlaskClient

from tests.support.credentials import ADMIN_TOKEN

if TYPE_CHECKING:
    from tests.support.gunicorn import GunicornServer, Response

DEFAULT_CLIENT_IP = "203.0.113.9"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(dev_key: str, dev_secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def if_match(version: int | None) -> dict[str, str]:
    return {} if version is None else {"If-Match": f'"{version}"'}


class ApiClient:
    """The calls tests repeat, through Flask's test client; each returns the
    response."""

    def __init__(self, client: FlaskClient, token: str = ADMIN_TOKEN) -> None:
        self.client = client
        self.headers = bearer(token)

    def as_token(self, token: str) -> ApiClient:
        return ApiClient(self.client, token)

    def create(self, **body: Any) -> Any:
        body.setdefault("permissions", ["send", "verify"])
        return self.client.post("/v1/keys", json=body, headers=self.headers)

    def create_key(self, **body: Any) -> dict[str, Any]:
        response = self.create(**body)
        assert response.status_code == 201, response.json
        return dict(response.json)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(
            path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    def patch(self, key_id: str, body: Any, **headers: str) -> Any:
        return self.client.patch(
            f"/v1/keys/{key_id}", json=body, headers={**self.headers, **headers}
        )

    def action(self, key_id: str, name: str, **headers: str) -> Any:
        return self.client.post(
            f"/v1/keys/{key_id}/{name}", headers={**self.headers, **headers}
        )

    def delete(self, key_id: str, **headers: str) -> Any:
        return self.client.delete(
            f"/v1/keys/{key_id}", headers={**self.headers, **headers}
        )

    def auth(
        self,
        dev_key: str,
        dev_secret: str,
        api: str = "send",
        client_ip: str = DEFAULT_CLIENT_IP,
    ) -> Any:
        return self.client.post(
            "/v1/auth",
            json={"api": api, "client_ip": client_ip},
            headers=basic(dev_key, dev_secret),
        )


class ServedApi:
    """The same calls against a real server; one new connection per request,
    so the kernel hands successive requests to whichever worker accepts."""

    def __init__(self, server: GunicornServer, token: str = ADMIN_TOKEN) -> None:
        self.server = server
        self.headers = bearer(token)

    def call(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> Response:
        return self.server.request(
            method, path, body, headers={**self.headers, **headers}
        )

    def get(self, path: str) -> Response:
        return self.call("GET", path)

    def create_key(self, **body: Any) -> dict[str, Any]:
        body.setdefault("permissions", ["send", "verify"])
        response = self.call("POST", "/v1/keys", body)
        assert response.status == 201, response.body
        return dict(response.json())

    def patch(
        self, key_id: str, body: dict[str, Any], version: int | None = None
    ) -> Response:
        return self.call("PATCH", f"/v1/keys/{key_id}", body, **if_match(version))

    def action(self, key_id: str, name: str) -> Response:
        return self.call("POST", f"/v1/keys/{key_id}/{name}")

    def delete(self, key_id: str) -> Response:
        return self.call("DELETE", f"/v1/keys/{key_id}")

    def auth(
        self, dev_key: str, dev_secret: str, client_ip: str = DEFAULT_CLIENT_IP
    ) -> Response:
        return self.server.request(
            "POST",
            "/v1/auth",
            {"api": "send", "client_ip": client_ip},
            headers=basic(dev_key, dev_secret),
        )


def verdict(response: Response) -> tuple[int, str | None]:
    """An auth answer as (status, reason); reason is None when allowed."""
    body = response.json() or {}
    return response.status, body.get("reason")
