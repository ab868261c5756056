"""Signing in with an operator token, and the checks every console request
passes before its view runs.

The session cookie holds the operator's name, a random session id and two
times, never the token. Each request looks the operator up again, so a
revoked token ends its console sessions on their next request; and signing
out records the session id (service/console_signouts.py), so a copy of the
cookie stops working too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from domain import AuditContext, recording_as
from service.api.context import request_id
from service.console.wiring import console_settings, services
from service.operators import Operator, Role

F = TypeVar("F", bound=Callable[..., Any])

CONSOLE_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})
PUBLIC_ENDPOINTS = frozenset({"console.login", "console.static"})
COOKIE_NAME = "keyledger_console"
_OPERATOR = "operator"
_SIGNED_IN_AT = "signed_in_at"
_SEEN_AT = "seen_at"
_SESSION_ID = "sid"
# Why the sign-in page is shown again, as the login page's ``ended`` argument.
ENDED_MESSAGES = {
    "expired": "Your session ended after a period of inactivity or its maximum "
    "length. Sign in again to continue.",
    "revoked": "Your operator token was revoked or may no longer use the "
    "console, so your session ended.",
    "signed_out": "You signed out.",
}

csrf = CSRFProtect()


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, Secure whenever the request came over
    HTTPS (after ProxyFix, when trusted proxy hops are configured)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def configure_session(app: Flask, absolute: timedelta) -> None:
    app.session_interface = ConsoleSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/console",
        # The signature itself expires too, whatever the times inside say.
        PERMANENT_SESSION_LIFETIME=absolute,
        # Checked by the console's own hook, so the JSON API and /v1/auth
        # (bearer and basic credentials, no cookies) are never asked for one.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as the session it is bound to.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)


def operator() -> Operator:
    """The signed-in operator of this request (the hook has checked it)."""
    return cast(Operator, g.console_operator)


def current_operator() -> Operator | None:
    """The signed-in operator, or None (the sign-in and error pages)."""
    return cast("Operator | None", g.get("console_operator"))


def is_admin() -> bool:
    who = g.get("console_operator")
    return who is not None and who.role == Role.ADMIN


def start_session(who: Operator) -> None:
    # A new session on every sign-in: nothing from before it (an old CSRF
    # token included) carries over.
    session.clear()
    now = console_settings().clock().timestamp()
    session[_OPERATOR] = who.name
    session[_SESSION_ID] = secrets.token_urlsafe(18)
    session[_SIGNED_IN_AT] = now
    session[_SEEN_AT] = now


def end_session() -> None:
    session.clear()


def sign_out() -> None:
    """Ends the session here and, by its id, wherever a copy of it is."""
    session_id = session.get(_SESSION_ID)
    if isinstance(session_id, str):
        settings = console_settings()
        signed_in_at = float(session.get(_SIGNED_IN_AT, 0))
        services().console_signouts.record(
            session_id,
            ends_at=signed_in_at + settings.absolute_timeout.total_seconds(),
            now=settings.clock().timestamp(),
        )
    end_session()


def _session_operator() -> tuple[Operator | None, str | None]:
    """The operator of a live session, or None and why it ended."""
    name = session.get(_OPERATOR)
    if not isinstance(name, str):
        return None, None
    session_id = session.get(_SESSION_ID)
    if not isinstance(session_id, str):
        # Made before sessions had ids: it cannot be signed out, so it ends.
        return None, "expired"
    settings = console_settings()
    now = settings.clock().timestamp()
    signed_in_at = float(session.get(_SIGNED_IN_AT, 0))
    seen_at = float(session.get(_SEEN_AT, 0))
    if (
        now - seen_at > settings.idle_timeout.total_seconds()
        or now - signed_in_at > settings.absolute_timeout.total_seconds()
    ):
        return None, "expired"
    if services().console_signouts.ended(session_id):
        return None, "signed_out"
    who = services().operators.active(name)
    if who is None or who.role not in CONSOLE_ROLES:
        return None, "revoked"
    session[_SEEN_AT] = now
    return who, None


def safe_next(target: str | None) -> str | None:
    """Only a path inside the console, so sign-in cannot redirect elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/"):
        return None
    return target


def check_request() -> Response | None:
    """Runs before every console view: session, role, then CSRF."""
    if request.endpoint == "console.static":
        return None
    if request.endpoint == "console.login":
        csrf.protect()
        return None
    who, ended = _session_operator()
    if who is None:
        if ended is not None:
            end_session()
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("console.login", ended=ended, next=target), 303)
    g.console_operator = who
    g.operator = who  # the access log names the actor, as for the API
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "changes_keys", False) and who.role != Role.ADMIN:
        abort(403)
    csrf.protect()
    return None


def changes_keys(view: F) -> F:
    """An admin-only view; every event it causes is recorded in the signed-in
    operator's name, with the client's address and the request id."""

    @wraps(view)
    def acting(*args: Any, **kwargs: Any) -> Any:
        who = operator()
        if who.role != Role.ADMIN:
            abort(403)
        audit = AuditContext(
            actor=who.name, source_ip=request.remote_addr, request_id=request_id()
        )
        with recording_as(audit):
            return view(*args, **kwargs)

    acting.changes_keys = True  # type: ignore[attr-defined]
    return cast(F, acting)


def login() -> str | Response | tuple[str, int]:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if _session_operator()[0] is not None:
            return redirect(target or url_for("console.key_list"), 303)
        notice = ENDED_MESSAGES.get(request.args.get("ended", ""))
        return render_template("console/login.html", notice=notice, next=target)
    token = request.form.get("token", "").strip()
    error = None
    who = services().operators.authenticate(token) if token else None
    if not token:
        error = "Enter your operator token."
    elif who is None:
        error = "This operator token is unknown or was revoked."
    elif who.role not in CONSOLE_ROLES:
        error = f"Operators with the {who.role.value} role cannot use the console."
    if error is not None or who is None:
        page = render_template("console/login.html", error=error, next=target)
        return page, 422
    start_session(who)
    return redirect(target or url_for("console.key_list"), 303)


def logout() -> Response:
    sign_out()
    return redirect(url_for("console.login", ended="signed_out"), 303)
