"""``POST /v1/auth`` as a lean WSGI handler in front of Flask.

This is the hot path of the product: every Send and Verify request passes
here, so it skips Flask's routing, sessions and blueprints and does only what
the contract asks. Every other path goes on to the Flask app unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from binascii import a2b_base64
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from domain.times import format_time
from domain.values import IpAddress
from projections.credentials import Credentials, CredentialsUnavailable
from service import metrics
from service.access import AUTH, log_access, request_id_for
from service.auth_failures import FailedAuthMonitor
from service.auth_tally import AuthTally
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
_NOSNIFF = ("X-Content-Type-Options", "nosniff")
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


# Entries of each of the endpoint's memos (bodies read, answers encoded).
_MEMO_SIZE = 4096
# Bodies longer than this are parsed every time (a real one is ~50 bytes).
_MEMO_BODY_MAX = 256


class AuthEndpoint:
    def __init__(
        self,
        app: WSGIApp,
        authorizer: Authorizer,
        failures: FailedAuthMonitor | None = None,
        *,
        tally: AuthTally | None = None,
    ) -> None:
        self.app = app
        self.authorizer = authorizer
        self.failures = failures or FailedAuthMonitor()
        # None: metrics off (KEYLEDGER_METRICS=off).
        self.tally = tally
        # Pure functions of their keys, so exact: a request body's parsed
        # (api, client_ip); a key version's allowed answer; a denial's body.
        self._requests: dict[bytes, tuple[str, IpAddress]] = {}
        self._allowed: dict[tuple[str, int], bytes] = {}
        self._denied: dict[str, bytes] = {}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        # The outermost layer for /v1/auth (inside ProxyFix only): it gives
        # the request id and writes the access line itself, as AccessLog
        # does for every other path, without the layers in between.
        started = time.perf_counter()
        request_id = request_id_for(environ)
        status, body, extra = self.handle(environ)
        if self.tally is not None:
            _, outcome, reason = environ[AUTH]
            self.tally.record(outcome, reason, time.perf_counter() - started)
        start_response(
            _STATUS_LINES[status],
            [
                _JSON,
                _NO_STORE,
                _NOSNIFF,
                ("Content-Length", str(len(body))),
                *extra,
                ("X-Request-Id", request_id),
            ],
        )
        log_access(environ, status, started)
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
            raw = _read_body(environ)
        except Exception:
            # The server's body reader failed (gunicorn: a malformed chunk,
            # the body ending early): the request is at fault, not us.
            environ[AUTH] = ("-", "invalid", "unreadable_body")
            return 400, _error(400, "the request body could not be read"), []
        if raw is None:
            environ[AUTH] = ("-", "invalid", "body_too_large")
            message = f"the body must be at most {MAX_BODY} bytes"
            return 413, _error(413, message), []
        parsed = self._requests.get(raw)
        if parsed is None:
            try:
                # JSON bodies are UTF-8 (RFC 8259; a BOM is tolerated), and a
                # byte that is not UTF-8 is a ValueError like bad JSON.
                payload = _DECODER.decode(raw.decode("utf-8-sig"))
            except ValueError:
                environ[AUTH] = ("-", "invalid", "malformed_json")
                return 400, _error(400, "the request body is not valid JSON"), []
            try:
                parsed = parse_auth_request(payload)
            except AuthRequestInvalid as invalid:
                environ[AUTH] = ("-", "invalid", "validation_failed")
                return 422, _error(422, invalid.summary, invalid.errors), []
            if len(raw) <= _MEMO_BODY_MAX:
                _remember(self._requests, raw, parsed)
        api, client_ip = parsed
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
            if self.tally is not None:
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
        if decision.reason == "invalid_credentials":
            self.failures.record(dev_key, str(client_ip), environ.get("REMOTE_ADDR"))
        return decision.status, self._decision_body(decision), _challenge(decision)

    def _decision_body(self, decision: AuthDecision) -> bytes:
        """Encoded once per key version (allowed) or per reason (denied):
        an answer is a function of the key's row and the decision alone."""
        credentials = decision.credentials
        if decision.allowed and credentials is not None:
            version = (credentials.key_id, credentials.version)
            body = self._allowed.get(version)
            if body is None:
                body = _dump(allowed_body(credentials))
                _remember(self._allowed, version, body)
            return body
        reason = decision.reason or "invalid_credentials"
        body = self._denied.get(reason)
        if body is None:
            body = _dump({"allowed": False, "reason": reason})
            self._denied[reason] = body
        return body


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is longer than MAX_BODY.

    A chunked body has no Content-Length: the server then promises, with
    ``wsgi.input_terminated`` (gunicorn always sets it), that the input ends
    with the body, so it is read up to EOF, never more than MAX_BODY + 1
    bytes. Without that promise and without a length there is no body
    (PEP 3333: reading past CONTENT_LENGTH may block)."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return bytes(stream.read(length))
    if not environ.get("wsgi.input_terminated"):
        return b""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(MAX_BODY + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return None
    return b"".join(chunks)


def _basic_credentials(header: str) -> tuple[str, str]:
    """``(dev_key, dev_secret)``, or empty strings for a missing or garbled header."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        # One C call: strict mode refuses what b64decode(validate=True)
        # refuses (characters outside the alphabet, bad padding) and also
        # data after the padding, which no client sends.
        decoded = a2b_base64(encoded.strip().encode("ascii"), strict_mode=True).decode(
            "utf-8"
        )
    except ValueError:
        # binascii.Error, UnicodeDecodeError, and UnicodeEncodeError for a
        # header holding non-ASCII (latin-1) characters.
        return "", ""
    dev_key, colon, dev_secret = decoded.partition(":")
    if not colon or not dev_key or not dev_secret:
        return "", ""
    return dev_key, dev_secret


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
    """Bounded memo: emptied when full (attackers choose bodies and keys)."""
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[key] = value


def allowed_body(credentials: Credentials) -> dict[str, Any]:
    """The ``200`` body; ``expires_at`` lets a caller's cache end with the key."""
    expires_at = credentials.expires_at
    return {
        "allowed": True,
        "key_id": credentials.key_id,
        "dev_key": credentials.dev_key,
        "permissions": list(credentials.permissions),
        "expires_at": None
        if expires_at is None
        else format_time(datetime.fromtimestamp(expires_at, UTC), "seconds"),
    }


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
