"""The ceiling for the auth benchmark: a bare WSGI callable answering a
constant JSON body of the same size and shape as an allowed auth answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = (
    b'{"allowed":true,"key_id":"5b0f6c1e-2d0a-4b7e-9a55-0d3c2f1e9b10",'
    b'"dev_key":"Zm9vYmFyYmF6cXV4cXV1eDEy","permissions":["send","verify"]}'
)
HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Content-Length", str(len(BODY))),
]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
