"""gunicorn's own error answers, in the contract's JSON error shape.

gunicorn answers some requests itself, before keyledger sees them: a
request line or header over its limits (414, 431), a malformed request
line, header or chunk (400), an unsupported transfer coding (501), an
unmet Expect (417). Out of the box those answers are small HTML pages
that quote the offending input. This replaces the page writer gunicorn
uses for them with one that answers ``{"code", "status", "message"}`` and
never echoes the input (it may hold a token or a secret).
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util

MESSAGES = {
    400: "the request is not valid HTTP",
    403: "the request is forbidden",
    414: "the request line is too long",
    417: "the expectation cannot be met",
    431: "the request has too many or too large header fields",
    500: "internal error",
    501: "the transfer coding is not supported",
}


def error_answer(status: int, reason: str) -> bytes:
    body = json.dumps(
        {
            "code": status,
            "status": reason,
            "message": MESSAGES.get(status, reason.lower()),
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Same signature as ``gunicorn.util.write_error``; ``mesg`` (which can
    quote the request) is deliberately left out of the answer."""
    util.write_nonblock(sock, error_answer(int(status_int), str(reason)))


def install() -> None:
    """Called in each worker (gunicorn.conf.py, ``post_worker_init``)."""
    util.write_error = write_json_error
