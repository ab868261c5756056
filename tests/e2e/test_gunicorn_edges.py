"""What reaches a client from a real gunicorn before or around the app:
its own refusals (limits, malformed HTTP) in the API's JSON error shape,
chunked bodies on /v1/auth, nosniff on every answer."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer
from tests.support.http import basic, bearer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    tmp: Path = tmp_path_factory.mktemp("edges")
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{tmp / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }
    with GunicornServer(env, workers=1, log_path=tmp / "gunicorn.log") as running:
        yield running


def raw(server: GunicornServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are; returns status, headers and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return int(lines[0].split()[1]), headers, body


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2 :]
    return out


def get(path: str, extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    ).encode("latin-1")


REFUSALS = {
    "line-too-long": (get("/v1/keys?q=" + "a" * 5000), 414),
    "too-many-fields": (
        get("/healthz", "".join(f"X-F{n}: v\r\n" for n in range(70))),
        431,
    ),
    "field-too-large": (get("/healthz", f"X-Big: {'b' * 9000}\r\n"), 431),
    "bad-request-line": (b"GARBAGE\r\n\r\n", 400),
    "bad-header-name": (get("/healthz", "Bad Header: v\r\n"), 400),
    "bad-chunk": (
        b"POST /v1/auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "bad-chunk-to-flask": (
        b"POST /v1/keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(REFUSALS))
def test_gunicorn_refusals_are_json_in_the_api_error_shape(
    server: GunicornServer, case: str
) -> None:
    request, status = REFUSALS[case]
    got, headers, body = raw(server, request)

    assert got == status
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    answer = json.loads(body)
    assert answer["message"]
    if case == "bad-chunk":  # read by /v1/auth: its own error shape
        assert answer["allowed"] is False
    else:
        assert answer["code"] == status
    assert b"aaaa" not in body  # never echoes the request


def chunked(path: str, payload: bytes, headers: dict[str, str]) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    pieces = [payload[i : i + 5] for i in range(0, len(payload), 5)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n{head}\r\n"
    ).encode("latin-1") + body


@pytest.mark.slow
def test_chunked_auth_bodies_through_gunicorn(server: GunicornServer) -> None:
    created = server.request(
        "POST", "/v1/keys", {"permissions": ["send"]}, bearer(ADMIN_TOKEN)
    ).json()
    credentials = basic(created["dev_key"], created["dev_secret"])
    body = json.dumps({"api": "send", "client_ip": "203.0.113.9"}).encode()
    too_big = json.dumps({"api": "send", "client_ip": "1.2.3.4", "p": "x" * 70_000})

    ok = raw(server, chunked("/v1/auth", body, credentials))
    over = raw(server, chunked("/v1/auth", too_big.encode(), credentials))

    assert (ok[0], json.loads(ok[2])["key_id"]) == (200, created["id"])
    assert ok[1]["x-content-type-options"] == "nosniff"
    assert (over[0], json.loads(over[2])["allowed"]) == (413, False)
