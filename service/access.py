"""The outermost WSGI layer: a request id and one access line per request.

It wraps both the lean ``/v1/auth`` handler and the Flask app, so every
answer, auth included, carries ``X-Request-Id`` and is logged once, when its
last byte has been handed to the server (a streamed export is logged with
its full duration). Inner layers leave what the line should say about the
caller in the WSGI environ: the operator's name (``keyledger.actor``) or the
DevKey and decision of an auth call (``keyledger.auth``); never a secret.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
REQUEST_ID = "keyledger.request_id"
ACTOR = "keyledger.actor"
AUTH = "keyledger.auth"
# The record attribute carrying an access line's fields (service.logs).
ACCESS_FIELDS = "access"

access_log = logging.getLogger("keyledger.access")
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_for(environ: dict[str, Any]) -> str:
    """The caller's X-Request-Id when it is sane, else a new one (once)."""
    found = environ.get(REQUEST_ID)
    if found is None:
        supplied = environ.get("HTTP_X_REQUEST_ID", "")
        found = supplied if _SANE_REQUEST_ID.fullmatch(supplied) else new_request_id()
        environ[REQUEST_ID] = found
    return str(found)


def new_request_id() -> str:
    """A random (version 4) UUID, spelled as ``str(uuid.uuid4())`` does, at a
    quarter of its cost: no UUID object between the bytes and the text."""
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_VARIANT[int(digits[16], 16) & 3]}{digits[17:20]}-{digits[20:]}"
    )


_VARIANT = "89ab"  # RFC 9562: the variant's two high bits are 10


class AccessLog:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_for(environ)
        status: list[str] = []

        def start(
            line: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            status[:] = [line]
            headers = [h for h in headers if h[0].lower() != "x-request-id"]
            headers.append(("X-Request-Id", request_id))
            return start_response(line, headers, exc_info)

        body = self.app(environ, start)
        if isinstance(body, list):
            # Answered already (the lean endpoints): no wrapper, log now.
            log_access(environ, _code(status), started)
            return body
        return _LoggedOnClose(body, lambda: log_access(environ, _code(status), started))


class _LoggedOnClose:
    """Hands the body through and logs once: after its last chunk, or when
    the server closes it early (the client went away, a shutdown)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self.body = body
        self.done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        yield from self.body
        self._finish()

    def _finish(self) -> None:
        done, self.done = self.done, None
        if done is not None:
            done()

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()


def _code(status: list[str]) -> int:
    return int(status[0].split(" ", 1)[0]) if status else 0


def log_access(environ: dict[str, Any], code: int, started: float) -> None:
    """The request's one access line (``started``: its ``perf_counter()``)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    fields: dict[str, Any] = {
        "request_id": environ.get(REQUEST_ID),
        "method": environ.get("REQUEST_METHOD", ""),
        "path": environ.get("PATH_INFO", ""),
        "status": code,
        "duration_ms": duration_ms,
        "remote_addr": environ.get("REMOTE_ADDR"),
    }
    actor = environ.get(ACTOR)
    if actor is not None:
        fields["actor"] = actor
    auth = environ.get(AUTH)
    if auth is not None:
        fields["dev_key"], fields["outcome"], fields["reason"] = auth
    # Made and handled directly: Logger.info would also walk the stack to
    # find the caller, the largest single cost of a line on the auth path.
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s %.1fms %s",
        (fields["method"], fields["path"], code, duration_ms, _Details(fields)),
        None,
        extra={ACCESS_FIELDS: fields},
    )
    access_log.handle(record)


class _Details:
    """The text line's ``name=value`` tail, built only if a formatter asks."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return " ".join(
            f"{name}={value}"
            for name, value in self.fields.items()
            if name not in ("method", "path", "status", "duration_ms")
        )
