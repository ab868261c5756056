"""Per-request context: request id, caller's address, the operator, and the
audit context every recorded event takes its actor from."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request

from domain import AuditContext, recording_as
from service.access import ACTOR, request_id_for
from service.api.errors import ApiError
from service.operators import Operator, Role
from service.wiring import Services

F = TypeVar("F", bound=Callable[..., Any])
_EXTENSION = "keyledger"


def install_services(app: Flask, services: Services) -> None:
    app.extensions[_EXTENSION] = services


def services_of(app: Flask) -> Services:
    """The services ``create_app`` attached to ``app``."""
    services = app.extensions[_EXTENSION]
    if not isinstance(services, Services):
        msg = "the app was not made by service.app.create_app"
        raise TypeError(msg)
    return services


def current_services() -> Services:
    """The services of the app handling the current request."""
    return services_of(current_app)


def request_id() -> str:
    return request_id_for(request.environ)


def source_ip() -> str | None:
    """The caller's address as an address, or None.

    Behind a trusted proxy it comes from X-Forwarded-For, which a proxy
    passes on as it got it: garbage (or a NUL, which PostgreSQL refuses)
    must not reach the audit trail."""
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return None


def operator() -> Operator:
    found = g.get("operator")
    if found is None:
        found = _authenticate()
        g.operator = found
        request.environ[ACTOR] = found.name
    return cast(Operator, found)


def _authenticate() -> Operator:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "an operator token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": 'Bearer realm="keyledger"'},
        )
    found = current_services().operators.authenticate(token.strip())
    if found is None:
        raise ApiError(
            401,
            "the operator token is unknown or revoked",
            headers={
                "WWW-Authenticate": 'Bearer realm="keyledger", error="invalid_token"'
            },
        )
    return found


def requires(*roles: Role) -> Callable[[F], F]:
    """Lets the view run for operators holding one of ``roles``, recording
    every event it causes in their name."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            who = operator()
            if who.role not in roles:
                raise ApiError(403, f"the {who.role.value} role may not do this")
            audit = AuditContext(
                actor=who.name, source_ip=source_ip(), request_id=request_id()
            )
            with recording_as(audit):
                return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


ADMIN = (Role.ADMIN,)
READERS = (Role.ADMIN, Role.AUDITOR)


def install(app: Flask) -> None:
    @app.after_request
    def tag_response(response: Response) -> Response:
        # Also set by service.access, outermost; here too for callers that
        # drive the Flask app alone (its test client).
        response.headers["X-Request-Id"] = request_id()
        response.headers.setdefault("Cache-Control", "no-store")
        # No browser may guess a type other than the one sent (an error page
        # quoting input is never to be read as HTML).
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
