"""The console: server-rendered pages for admins and auditors under /console/.

It calls the same application services as the JSON API (KeyLedger, the read
model, OperatorRegistry) in-process, never the API over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import Blueprint, Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from domain import KeyDeleted, KeyNotDeleted
from service.console import audit, display, edit, keys, lifecycle, signin
from service.console.wiring import EXTENSION, ConsoleSettings, session_signing_key
from service.ledger import KeyBusy, KeyNotFound
from service.wiring import Services

BLUEPRINT_NAME = "console"

# Everything the pages use is served by keyledger itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
PROBLEMS = {
    400: (
        "This form could not be accepted",
        "It may have expired or not come from this console. Go back, reload the "
        "page and try again.",
    ),
    403: (
        "Not allowed",
        "Your role can read keys and their history but cannot change them or "
        "reveal secrets.",
    ),
    404: ("Not found", "There is no such key, or it was deleted."),
    409: (
        "Nothing to restore",
        "This key is not deleted (perhaps someone restored it meanwhile), so "
        "nothing was changed. Open it from API Keys.",
    ),
    503: (
        "Try again in a moment",
        "The key store is busy or unavailable. Nothing was changed.",
    ),
}


def install(app: Flask, services: Services) -> None:
    settings = ConsoleSettings.from_settings(services.settings)
    app.extensions[EXTENSION] = settings
    app.secret_key = session_signing_key(services.settings)
    signin.configure_session(app, settings.absolute_timeout)
    app.register_blueprint(_blueprint())


def _blueprint() -> Blueprint:
    bp = Blueprint(
        BLUEPRINT_NAME,
        __name__,
        url_prefix="/console",
        template_folder="templates",
        static_folder="static",
    )
    routes: list[tuple[str, Callable[..., Any], list[str]]] = [
        ("/", keys.key_list, ["GET"]),
        ("/login", signin.login, ["GET", "POST"]),
        ("/logout", signin.logout, ["POST"]),
        ("/keys/new", keys.create_key, ["GET", "POST"]),
        ("/keys/<key_id>", keys.key_details, ["GET"]),
        ("/keys/<key_id>/reveal", keys.reveal_secret, ["POST"]),
        ("/keys/<key_id>/disable", keys.disable_key, ["POST"]),
        ("/keys/<key_id>/enable", keys.enable_key, ["POST"]),
        ("/keys/<key_id>/delete", keys.delete_key, ["GET", "POST"]),
        ("/keys/<key_id>/edit", edit.edit_key, ["GET", "POST"]),
        ("/keys/<key_id>/reset-secret", edit.reset_secret, ["GET", "POST"]),
        ("/keys/<key_id>/roll-secret", lifecycle.roll_secret, ["GET", "POST"]),
        ("/keys/<key_id>/restore", lifecycle.restore_key, ["GET", "POST"]),
        ("/audit", audit.audit_log, ["GET"]),
        ("/audit/export", audit.audit_export, ["GET"]),
    ]
    for rule, view, methods in routes:
        bp.add_url_rule(rule, view_func=view, methods=methods)
    bp.before_request(signin.check_request)
    bp.after_request(_harden)
    bp.context_processor(_template_context)
    _register_problems(bp)
    return bp


def _template_context() -> dict[str, object]:
    return {
        **display.helpers(),
        "operator": signin.current_operator(),
        "is_admin": signin.is_admin(),
    }


def _harden(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _problem(code: int) -> tuple[str, int]:
    title, detail = PROBLEMS[code]
    page = render_template(
        "console/problem.html", code=code, title=title, detail=detail
    )
    return page, code


def _register_problems(bp: Blueprint) -> None:
    @bp.errorhandler(CSRFError)
    def csrf_refused(_: CSRFError) -> tuple[str, int]:
        return _problem(400)

    @bp.errorhandler(KeyNotFound)
    @bp.errorhandler(KeyDeleted)
    def missing(_: Exception) -> tuple[str, int]:
        return _problem(404)

    @bp.errorhandler(KeyNotDeleted)
    def not_deleted(_: KeyNotDeleted) -> tuple[str, int]:
        return _problem(409)

    @bp.errorhandler(KeyBusy)
    @bp.errorhandler(PersistenceError)
    def unavailable(_: Exception) -> tuple[str, int]:
        return _problem(503)

    @bp.errorhandler(HTTPException)
    def http_problem(error: HTTPException) -> tuple[str, int] | HTTPException:
        if error.code in PROBLEMS:
            return _problem(error.code)
        return error
