"""``POST /v1/auth`` as a lean WSGI handler in front of Flask.

This is the hot path of the product: every Send and Verify request passes
here, so it skips Flask's routing, sessions and blueprints and does only what
the contract asks. Every other path goes on to the Flask app unchanged.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from projections.credentials import CredentialsUnavailable
from service import metrics
from service.access import AUTH
from service.authorization import (
    DENY_CREDENTIALS,
    AuthDecision,
    Authorizer,
    AuthRequestInvalid,
    parse_auth_request,
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PATH = "/v1/auth"
MAX_BODY = 4096
logger = logging.getLogger("keyledger.auth")

_JSON = ("Content-Type", "application/json")
_NO_STORE = ("Cache-Control", "no-store")
_STATUS_LINES = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    415: "415 Unsupported Media Type",
    422: "422 Unprocessable Entity",
    503: "503 Service Unavailable",
}


# Built once: json.dumps with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_DECODER = json.JSONDecoder()


def _dump(body: dict[str, Any]) -> bytes:
    return _ENCODER.encode(body).encode()


_DENIED_CREDENTIALS_BODY = _dump({"allowed": False, "reason": "invalid_credentials"})


class AuthEndpoint:
    def __init__(
        self, app: WSGIApp, authorizer: Authorizer, *, measured: bool = True
    ) -> None:
        self.app = app
        self.authorizer = authorizer
        self.measured = measured
        # Bound once: labels() takes a lock and a lookup on every call.
        self._decisions: dict[tuple[str, str], Any] = {}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        started = time.perf_counter()
        status, body, extra = self.handle(environ)
        if self.measured:
            metrics.AUTH_DURATION.observe(time.perf_counter() - started)
            _, outcome, reason = environ[AUTH]
            counter = self._decisions.get((outcome, reason))
            if counter is None:
                counter = metrics.AUTH_DECISIONS.labels(outcome, reason)
                self._decisions[(outcome, reason)] = counter
            counter.inc()
        headers = [_JSON, _NO_STORE, ("Content-Length", str(len(body))), *extra]
        start_response(_STATUS_LINES[status], headers)
        return [body]

    def handle(
        self, environ: dict[str, Any]
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        """The answer; leaves ``(dev_key, outcome, reason)`` in the environ
        for the access line and the metrics."""
        environ[AUTH] = ("-", "invalid", "bad_request")
        if environ.get("REQUEST_METHOD") != "POST":
            environ[AUTH] = ("-", "invalid", "method_not_allowed")
            return 405, _error(405, "use POST"), [("Allow", "POST")]
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            environ[AUTH] = ("-", "invalid", "unsupported_media_type")
            return 415, _error(415, "the request body must be JSON"), []
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            environ[AUTH] = ("-", "invalid", "body_too_large")
            message = f"the body must be at most {MAX_BODY} bytes"
            return 413, _error(413, message), []
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            # JSON bodies are UTF-8 (RFC 8259; a BOM is tolerated), and a
            # byte that is not UTF-8 is a ValueError like bad JSON.
            payload = _DECODER.decode(raw.decode("utf-8-sig"))
        except ValueError:
            environ[AUTH] = ("-", "invalid", "malformed_json")
            return 400, _error(400, "the request body is not valid JSON"), []
        try:
            api, client_ip = parse_auth_request(payload)
        except AuthRequestInvalid as invalid:
            environ[AUTH] = ("-", "invalid", "validation_failed")
            return 422, _error(422, invalid.summary, invalid.errors), []
        dev_key, dev_secret = _basic_credentials(environ.get("HTTP_AUTHORIZATION", ""))
        try:
            decision = (
                self.authorizer.decide(dev_key, dev_secret, api, client_ip)
                if dev_key
                else DENY_CREDENTIALS
            )
        except CredentialsUnavailable as error:
            logger.warning("auth store unavailable: %s", error)
            environ[AUTH] = (dev_key or "-", "unavailable", "store_unavailable")
            if self.measured:
                metrics.count_store_error("auth")
            return (
                503,
                _error(503, "the key store is unavailable; retry shortly"),
                [("Retry-After", "1")],
            )
        environ[AUTH] = (
            dev_key or "-",
            "allowed" if decision.allowed else "denied",
            decision.reason or "none",
        )
        return decision.status, _decision_body(decision), _challenge(decision)


def _basic_credentials(header: str) -> tuple[str, str]:
    """``(dev_key, dev_secret)``, or empty strings for a missing or garbled header."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:
        # binascii.Error, UnicodeDecodeError, and the plain ValueError that
        # b64decode raises for a header holding non-ASCII (latin-1) characters.
        return "", ""
    dev_key, colon, dev_secret = decoded.partition(":")
    if not colon or not dev_key or not dev_secret:
        return "", ""
    return dev_key, dev_secret


def _decision_body(decision: AuthDecision) -> bytes:
    if decision.allowed and decision.credentials is not None:
        return _dump(
            {
                "allowed": True,
                "key_id": decision.credentials.key_id,
                "dev_key": decision.credentials.dev_key,
                "permissions": list(decision.credentials.permissions),
            }
        )
    if decision.reason == "invalid_credentials":
        return _DENIED_CREDENTIALS_BODY
    return _dump({"allowed": False, "reason": decision.reason})


def _challenge(decision: AuthDecision) -> list[tuple[str, str]]:
    if decision.status == 401:
        return [("WWW-Authenticate", 'Basic realm="keyledger"')]
    return []


def _error(
    code: int, message: str, errors: dict[str, list[str]] | None = None
) -> bytes:
    """The management API's error body, plus ``allowed: false``."""
    body: dict[str, Any] = {
        "allowed": False,
        "code": code,
        "status": HTTPStatus(code).phrase,
        "message": message,
    }
    if errors:
        body["errors"] = errors
    return _dump(body)
