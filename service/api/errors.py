"""One place that turns every failure into the contract's status and body.

Bodies are ``{"code", "status", "message", "errors"?}``; ``errors`` maps each
offending field (body or query) to its messages. No body ever carries a stack
trace, a secret or a token.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from eventsourcing.persistence import OperationalError, PersistenceError
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from domain import DomainError, InvalidValue, KeyDeleted, KeyNotDeleted
from service import metrics
from service.api.versions import etag
from service.ledger import KeyBusy, KeyNotFound, VersionMismatch
from service.sealing import SealError

logger = logging.getLogger("keyledger.errors")


class ApiError(Exception):
    """An error answer with a status, a message and optional field errors."""

    def __init__(
        self,
        code: int,
        message: str,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})


def not_found() -> ApiError:
    return ApiError(404, "no such key")


def error_response(
    code: int,
    message: str,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "code": code,
        "status": HTTPStatus(code).phrase,
        "message": message,
    }
    if errors:
        body["errors"] = dict(errors)
    response = jsonify(body)
    response.status_code = code
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests errors by location and list index; callers want field
    names, like ``ip_whitelist.2`` or ``limit``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                flat.update(_flatten(value, name))
            else:
                flat[name] = (
                    [str(m) for m in value] if isinstance(value, list) else [str(value)]
                )
    elif isinstance(messages, list):
        flat[prefix or "body"] = [str(m) for m in messages]
    return flat


def _webargs_errors(data: Mapping[str, Any]) -> dict[str, list[str]]:
    messages = data.get("messages") or data.get("errors") or {}
    if isinstance(messages, Mapping):
        # Drop the location level ("json", "query", ...).
        merged: dict[str, list[str]] = {}
        for location_errors in messages.values():
            merged.update(_flatten(location_errors))
        return merged
    return {}


def _summary(errors: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return error_response(error.code, error.message, error.errors, error.headers)

    @app.errorhandler(InvalidValue)
    def invalid_value(error: InvalidValue) -> Response:
        return error_response(
            422, f"validation failed: {_summary(error.errors)}", error.errors
        )

    @app.errorhandler(KeyNotFound)
    @app.errorhandler(KeyDeleted)
    def missing_key(_: Exception) -> Response:
        return error_response(404, "no such key")

    @app.errorhandler(VersionMismatch)
    def stale(error: VersionMismatch) -> Response:
        return error_response(
            412,
            f"If-Match does not match: the key is at version {error.current}",
            headers={"ETag": etag(error.current)},
        )

    @app.errorhandler(KeyNotDeleted)
    def not_deleted(error: KeyNotDeleted) -> Response:
        return error_response(409, str(error))

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        return error_response(422, str(error))

    @app.errorhandler(SealError)
    def unopenable_seal(_: SealError) -> Response:
        # Not the caller's fault and not transient: the service holds another
        # KEYLEDGER_SECRET_KEY than the one that sealed this secret, or the
        # stored event was altered. Say so, without any secret material.
        logger.error("a sealed DevSecret could not be opened: wrong key or altered")
        return error_response(
            500,
            "the DevSecret cannot be opened with this service's KEYLEDGER_SECRET_KEY "
            "(another key, or the stored data was altered); nothing was revealed",
        )

    @app.errorhandler(KeyBusy)
    def busy(_: KeyBusy) -> Response:
        return error_response(
            503,
            "the key is being changed by many callers at once; retry shortly",
            headers={"Retry-After": "1"},
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(PersistenceError)
    def store_unavailable(error: PersistenceError) -> Response:
        logger.warning("store unavailable: %s", type(error).__name__)
        metrics.count_store_error("management")
        return error_response(
            503,
            "the key store is unavailable; retry shortly",
            headers={"Retry-After": "1"},
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        data = getattr(error, "data", None) or {}
        if code == 400 and data:
            return error_response(400, "the request body is not valid JSON")
        if code == 422:
            errors = _webargs_errors(data)
            return error_response(422, f"validation failed: {_summary(errors)}", errors)
        if isinstance(error, InternalServerError):
            return error_response(500, "internal error")
        headers = dict(data.get("headers", {})) if isinstance(data, Mapping) else {}
        # werkzeug keeps some headers on the exception itself: 405's Allow
        # (RFC 9110 requires it), 416's Content-Range, 401's challenge.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                headers.setdefault(name, value)
        return error_response(code, error.description or "", headers=headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # Log the type and where, never the message: it might quote input.
        logger.error(
            "unhandled %s at\n%s",
            type(error).__name__,
            "".join(traceback.format_tb(error.__traceback__)),
        )
        return error_response(500, "internal error")
