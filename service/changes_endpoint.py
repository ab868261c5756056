"""``GET /v1/changes``: the change feed, as a lean WSGI handler.

Every OTP service's cache polls it about twice a second, so it skips Flask
the way ``/v1/auth`` does: one token lookup and one range query per poll.
Its answers, errors included, look like the Flask API's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from projections.change_feed import Change, ChangeFeed
from service import metrics
from service.access import ACTOR
from service.operators import OperatorRegistry, Role

PATH = "/v1/changes"
FEED_ROLES = frozenset({Role.ADMIN, Role.AUDITOR, Role.SERVICE})
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
logger = logging.getLogger("keyledger.changes")

_ENCODER = json.JSONEncoder(separators=(",", ":"))
_AFTER_MESSAGE = "must be a non-negative integer"


class FeedError(Exception):
    def __init__(
        self,
        code: int,
        message: str,
        errors: dict[str, list[str]] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or []


class ChangeFeedEndpoint:
    def __init__(
        self,
        app: WSGIApp,
        feed: ChangeFeed,
        operators: OperatorRegistry,
        *,
        measured: bool = True,
    ) -> None:
        self.app = app
        self.feed = feed
        self.operators = operators
        self.measured = measured

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        try:
            status, body, extra = 200, self.answer(environ), []
        except FeedError as error:
            status, extra = error.code, error.headers
            body = {
                "code": error.code,
                "status": HTTPStatus(error.code).phrase,
                "message": error.message,
            }
            if error.errors:
                body["errors"] = error.errors
        raw = _ENCODER.encode(body).encode()
        if self.measured:
            # Counted with the management API's requests, by its one route.
            method = environ.get("REQUEST_METHOD", "")
            metrics.HTTP_REQUESTS.labels(PATH, method, str(status)).inc()
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Length", str(len(raw))),
                *extra,
            ],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [raw]

    def answer(self, environ: dict[str, Any]) -> dict[str, Any]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            raise FeedError(405, "use GET", headers=[("Allow", "GET, HEAD, OPTIONS")])
        token = _bearer_token(environ.get("HTTP_AUTHORIZATION", ""))
        # Like the Flask API: who is asking is checked before what is asked.
        invalid: FeedError | None = None
        try:
            after = _after(environ.get("QUERY_STRING", ""))
        except FeedError as error:
            after, invalid = None, error
        changes: list[Change] = []
        # One read transaction for the token and the page: polls are many.
        try:
            with self.feed.read() as cursor:
                operator = self.operators.authenticate_in(cursor, token)
                if operator is not None:
                    environ[ACTOR] = operator.name
                if (
                    invalid is None
                    and operator is not None
                    and operator.role in FEED_ROLES
                ):
                    if after is None:
                        return {"items": [], "position": self.feed.head(cursor)}
                    changes = self.feed.after(cursor, after)
        except Exception as error:  # any store failure: the caller retries
            logger.warning("change feed unavailable: %s", type(error).__name__)
            metrics.count_store_error("changes")
            raise FeedError(
                503,
                "the store is unavailable; retry shortly",
                headers=[("Retry-After", "1")],
            ) from None
        if operator is None:
            raise FeedError(
                401,
                "the operator token is unknown or revoked",
                headers=[
                    (
                        "WWW-Authenticate",
                        'Bearer realm="keyledger", error="invalid_token"',
                    )
                ],
            )
        if operator.role not in FEED_ROLES:
            raise FeedError(403, f"the {operator.role.value} role may not do this")
        if invalid is not None:
            raise invalid
        assert after is not None
        return {
            "items": [
                {
                    "position": change.position,
                    "key_id": change.key_id,
                    "dev_key": change.dev_key,
                    "type": change.type,
                }
                for change in changes
            ],
            "position": changes[-1].position if changes else after,
        }


def _bearer_token(header: str) -> str:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise FeedError(
            401,
            "an operator token is required (Authorization: Bearer <token>)",
            headers=[("WWW-Authenticate", 'Bearer realm="keyledger"')],
        )
    return token.strip()


def _after(query: str) -> int | None:
    """The ``after`` position, or None when it is not given."""
    try:
        args = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        args = {}
    unknown = sorted(set(args) - {"after"})
    errors = {name: ["Unknown field."] for name in unknown}
    values = args.get("after")
    after: int | None = None
    if values is not None:
        text = values[0]
        if len(values) != 1 or not text.isascii() or not text.isdigit():
            errors["after"] = [_AFTER_MESSAGE]
        else:
            after = int(text)
            # Positions are PostgreSQL BIGINTs; a larger one could never exist.
            if after >= 2**63:
                errors["after"] = [_AFTER_MESSAGE + " below 2**63"]
    if errors:
        summary = "; ".join(f"{name}: {errors[name][0]}" for name in sorted(errors))
        raise FeedError(422, f"validation failed: {summary}", errors=errors)
    return after
