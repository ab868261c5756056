"""The Flask application factory: configures Flask over the services that
``service.wiring`` builds (settings: defaults, then environment, then
overrides). It expects a prepared store (``service.wiring.prepare_store``)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from projections.change_feed import ChangeFeed
from service import console
from service.api import (
    audit,
    audit_chain,
    context,
    errors,
    keys,
    lifecycle,
    openapi_links,
)
from service.auth_endpoint import AuthEndpoint
from service.changes_endpoint import ChangeFeedEndpoint
from service.checkpoint_sweep import CheckpointSweep
from service.config import load_settings
from service.forward_auth import ForwardAuthEndpoint
from service.wiring import Services, build_services

access_log = logging.getLogger("keyledger.access")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(config)
    _configure_logging(settings.log_level)
    services = build_services(settings)
    services.sweep = CheckpointSweep(services.ledger.ledger_recorder)
    services.sweep.start()

    app = Flask("keyledger")
    app.config.update(
        API_TITLE="keyledger",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    context.install_services(app, services)

    api = Api(app)
    api.spec.components.security_scheme(
        "operator", {"type": "http", "scheme": "bearer"}
    )
    api.register_blueprint(keys.blp)
    api.register_blueprint(audit.blp)
    api.register_blueprint(lifecycle.keys_blp)
    api.register_blueprint(lifecycle.secrets_blp)
    api.register_blueprint(audit_chain.blp)
    openapi_links.refine(api.spec)
    errors.register_error_handlers(app)
    context.install(app)
    console.install(app, services)
    _install_access_log(app)
    _install_health(app, services)
    _require_json_bodies(app)

    # Counting starts in the serving process only (gunicorn: after fork).
    services.usage_flusher.start()
    auth_endpoint = AuthEndpoint(app.wsgi_app, services.authorizer)
    # For metrics: FailedAuthMonitor.subscribe(listener) sees every refusal.
    app.extensions["keyledger.auth_failures"] = auth_endpoint.failures
    app.wsgi_app = auth_endpoint  # type: ignore[method-assign]
    recorder = services.ledger.ledger_recorder
    app.wsgi_app = ChangeFeedEndpoint(  # type: ignore[method-assign]
        app.wsgi_app,
        ChangeFeed(recorder.dialect, recorder.read_transaction),
        services.operators,
    )
    # Outside /v1/auth's handler but inside ProxyFix: the forwarded
    # client address is what the KEYLEDGER_TRUSTED_PROXY_HOPS rule says.
    app.wsgi_app = ForwardAuthEndpoint(app.wsgi_app, services.authorizer)  # type: ignore[method-assign]
    if settings.trusted_proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxy_hops,
            x_proto=settings.trusted_proxy_hops,
        )
    return app


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record, so a
    replaced stream (test capture, daemonising) is never written after close."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("keyledger")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())


def _install_access_log(app: Flask) -> None:
    @app.before_request
    def start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        who = g.get("operator")
        access_log.info(
            "%s %s %s %.1fms actor=%s request_id=%s",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - g.get("started", time.perf_counter())) * 1000,
            who.name if who else "-",
            context.request_id(),
        )
        return response


def _install_health(app: Flask, services: Services) -> None:
    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            lag = services.ledger.ledger_recorder.view_lag()
        except Exception as error:  # any store failure means "not healthy"
            return jsonify(status="unavailable", store=type(error).__name__), 503
        return jsonify(status="ok", read_model_lag=lag), 200


def _require_json_bodies(app: Flask) -> None:
    @app.before_request
    def only_json() -> Response | None:
        if request.method not in ("POST", "PATCH", "PUT"):
            return None
        if request.blueprint == console.BLUEPRINT_NAME:
            return None  # HTML forms: the console checks its own bodies
        if request.routing_exception is not None:
            return None  # no such route or method: 404 or 405 says more than 415
        has_body = bool(request.content_length) or request.headers.get(
            "Transfer-Encoding"
        )
        needs_body = request.method != "POST" or request.path == "/v1/keys"
        if (has_body or needs_body) and not request.is_json:
            return errors.error_response(
                415, "the request body must be JSON (Content-Type: application/json)"
            )
        if not has_body:
            return None
        try:
            data = request.get_data()
        except HTTPException:
            raise  # 413 over MAX_CONTENT_LENGTH
        except Exception:
            # The server's body reader failed (gunicorn: a malformed chunk,
            # the body ending early): the request is at fault, not us.
            return errors.error_response(400, "the request body could not be read")
        # Actions take no body, but one that is sent must be JSON: a caller
        # whose body is garbled may not mean the action that would run.
        if data and request.get_json(silent=True) is None:
            return errors.error_response(400, "the request body is not valid JSON")
        return None
