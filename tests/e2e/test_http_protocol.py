"""HTTP itself, as an outside client meets it: 405 with Allow on every
route, 405 before 415, chunked bodies on /v1/auth, nosniff everywhere."""

from __future__ import annotations

import io
import json
from typing import Any

from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.support.http import ApiClient, basic

# Every route and the methods it answers (HEAD and OPTIONS come with them).
ROUTES = {
    "/v1/keys": {"GET", "POST"},
    "/v1/keys/{id}": {"GET", "PATCH", "DELETE"},
    "/v1/keys/{id}/secret": {"GET"},
    "/v1/keys/{id}/reset-secret": {"POST"},
    "/v1/keys/{id}/disable": {"POST"},
    "/v1/keys/{id}/enable": {"POST"},
    "/v1/keys/{id}/history": {"GET"},
    "/v1/audit": {"GET"},
    "/healthz": {"GET"},
    "/openapi.json": {"GET"},
    "/docs": {"GET"},
    "/v1/auth": {"POST"},
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _cases() -> list[tuple[str, str]]:
    return [
        (route, method)
        for route, allowed in ROUTES.items()
        for method in METHODS
        if method not in allowed
    ]


def test_a_method_a_route_does_not_answer_is_405_with_allow(api: ApiClient) -> None:
    key = api.create_key()
    for route, method in _cases():
        response = api.client.open(
            route.replace("{id}", key["id"]), method=method, headers=api.headers
        )

        assert response.status_code == 405, (route, method)
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        assert ROUTES[route] <= allowed
        assert method not in allowed
        if route == "/v1/auth":  # the auth endpoint's own error shape
            assert response.json["allowed"] is False
        else:
            assert response.json["code"] == 405


def test_put_on_a_key_is_405_before_any_415(api: ApiClient) -> None:
    key = api.create_key()
    for extra in ({}, {"data": "x", "content_type": "text/plain"}, {"json": {"a": 1}}):
        response = api.client.put(f"/v1/keys/{key['id']}", headers=api.headers, **extra)
        assert response.status_code == 405, extra
        assert "PATCH" in response.headers["Allow"]
        collection = api.client.put("/v1/keys", headers=api.headers, **extra)
        assert collection.status_code == 405, extra


class Trickle(io.RawIOBase):
    """A body stream that hands out a few bytes per read, as a socket
    receiving chunks does."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self.data, self.step = data, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece, self.data = self.data[: self.step], self.data[self.step :]
        buffer[: len(piece)] = piece
        return len(piece)


def chunked_auth(api: ApiClient, body: bytes, headers: dict[str, str]) -> Any:
    """POST /v1/auth the way gunicorn hands on a chunked body: no
    Content-Length, and ``wsgi.input_terminated`` promising that the input
    ends with the body. (The test client always sets a length, so the
    environ is built here and run through the app as a WSGI server would.)"""
    environ = EnvironBuilder(
        path="/v1/auth",
        method="POST",
        headers={**headers, "Transfer-Encoding": "chunked"},
        content_type="application/json",
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BufferedReader(Trickle(body))
    environ["wsgi.input_terminated"] = True
    chunks, status, _ = run_wsgi_app(api.client.application, environ, buffered=True)
    return int(status.split()[0]), json.loads(b"".join(chunks))


def test_a_chunked_auth_body_is_read_to_its_end(api: ApiClient) -> None:
    key = api.create_key()
    body = json.dumps({"api": "send", "client_ip": "203.0.113.9"}).encode()

    status, answer = chunked_auth(api, body, basic(key["dev_key"], key["dev_secret"]))

    assert status == 200, answer
    assert answer["key_id"] == key["id"]


def test_a_chunked_auth_body_over_the_cap_is_413(api: ApiClient) -> None:
    key = api.create_key()
    for size in (4097, 70 * 1024):
        padding = "x" * size
        body = json.dumps({"api": "send", "client_ip": "1.2.3.4", "p": padding})
        credentials = basic(key["dev_key"], key["dev_secret"])

        status, answer = chunked_auth(api, body.encode(), credentials)

        assert status == 413, size
        assert answer["allowed"] is False


def test_every_answer_carries_nosniff(api: ApiClient) -> None:
    key = api.create_key()
    kid = key["id"]
    answers = [
        api.get("/v1/keys"),
        api.get(f"/v1/keys/{kid}"),
        api.get(f"/v1/keys/{kid}/history"),
        api.get("/v1/audit?format=csv"),
        api.get("/v1/keys/not-a-key"),
        api.get("/v1/keys?limit=0"),
        api.client.get("/v1/keys"),
        api.client.put("/v1/keys", headers=api.headers),
        api.client.get("/healthz"),
        api.client.get("/openapi.json"),
        api.client.get("/docs"),
        api.client.get("/no/such/path"),
        api.auth(key["dev_key"], key["dev_secret"]),
        api.auth(key["dev_key"], "wrong"),
        api.client.get("/v1/auth"),
        api.client.post("/v1/auth", data="{", content_type="application/json"),
    ]
    for answer in answers:
        answer.get_data()  # a streamed export must be consumed and closed
        answer.close()
    assert [a.headers.get("X-Content-Type-Options") for a in answers] == [
        "nosniff"
    ] * len(answers)
