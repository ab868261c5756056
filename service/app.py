"""The Flask application factory: configures Flask over the services that
``service.wiring`` builds (settings: defaults, then environment, then
overrides). It expects a prepared store (``service.wiring.prepare_store``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import swagger_ui_bundle
from flask import Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from projections.change_feed import ChangeFeed
from service import console, logs, metrics
from service.access import AccessLog
from service.api import (
    audit,
    audit_chain,
    context,
    errors,
    keys,
    lifecycle,
    openapi,
    openapi_gateway,
    openapi_links,
)
from service.auth_endpoint import AuthEndpoint
from service.auth_tally import fold_all, new_tally
from service.changes_endpoint import ChangeFeedEndpoint
from service.checkpoint_sweep import CheckpointSweep
from service.config import load_settings
from service.forward_auth import ForwardAuthEndpoint
from service.wiring import Services, build_services

DOCS_ASSETS = "/docs/static/"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(config)
    logs.configure(logs.log_format(), settings.log_level)
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
        OPENAPI_SWAGGER_UI_URL=DOCS_ASSETS,
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    context.install_services(app, services)

    api = openapi.KeyledgerApi(app)
    openapi.install(api)
    api.register_blueprint(keys.blp)
    api.register_blueprint(audit.blp)
    api.register_blueprint(lifecycle.keys_blp)
    api.register_blueprint(lifecycle.secrets_blp)
    api.register_blueprint(audit_chain.blp)
    openapi.declare_service_paths(api)
    openapi_gateway.declare_gateway_paths(api)
    openapi_links.refine(api.spec)
    errors.register_error_handlers(app)
    context.install(app)
    console.install(app, services)
    measured = metrics.enabled()
    if measured:
        _count_requests(app)
    _install_health(app, services)
    _install_metrics(app, services)
    _install_docs_assets(app)
    _require_json_bodies(app)

    # Counting starts in the serving process only (gunicorn: after fork).
    services.usage_flusher.start()
    recorder = services.ledger.ledger_recorder
    app.wsgi_app = ChangeFeedEndpoint(  # type: ignore[method-assign]
        app.wsgi_app,
        ChangeFeed(recorder.dialect, recorder.read_transaction),
        services.operators,
        measured=measured,
    )
    # Outside /v1/auth's handler but inside ProxyFix: the forwarded
    # client address is what the KEYLEDGER_TRUSTED_PROXY_HOPS rule says.
    app.wsgi_app = ForwardAuthEndpoint(  # type: ignore[method-assign]
        app.wsgi_app, services.authorizer, measured=measured
    )
    # Every answer gets an X-Request-Id and exactly one access line: from
    # AccessLog, or for /v1/auth from its endpoint, which sits outside it
    # so that the hot path passes through no other layer.
    app.wsgi_app = AccessLog(app.wsgi_app)  # type: ignore[method-assign]
    tally = None
    if measured:
        tally = new_tally(metrics.AUTH_DECISIONS, metrics.AUTH_DURATION)
        tally.start()
        services.auth_tally = tally
    auth_endpoint = AuthEndpoint(app.wsgi_app, services.authorizer, tally=tally)
    # For metrics: FailedAuthMonitor.subscribe(listener) sees every refusal.
    app.extensions["keyledger.auth_failures"] = auth_endpoint.failures
    app.wsgi_app = auth_endpoint  # type: ignore[method-assign]
    # Outermost: the forwarded client address is what the
    # KEYLEDGER_TRUSTED_PROXY_HOPS rule says, for every layer inside.
    if settings.trusted_proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxy_hops,
            x_proto=settings.trusted_proxy_hops,
        )
    return app


def _count_requests(app: Flask) -> None:
    @app.after_request
    def count(response: Response) -> Response:
        # The route template, not the path: ids must not become label values.
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.HTTP_REQUESTS.labels(
            route, request.method, str(response.status_code)
        ).inc()
        return response


def _install_health(app: Flask, services: Services) -> None:
    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            lag = services.ledger.ledger_recorder.view_lag()
        except Exception as error:  # any store failure means "not healthy"
            metrics.count_store_error("health")
            return jsonify(status="unavailable", store=type(error).__name__), 503
        return jsonify(status="ok", read_model_lag=lag), 200


def _install_metrics(app: Flask, services: Services) -> None:
    def lag() -> int | None:
        try:
            return services.ledger.ledger_recorder.view_lag()
        except Exception:  # the scrape still answers; health tells the rest
            metrics.count_store_error("metrics")
            return None

    @app.get("/metrics")
    def prometheus() -> Response:
        # This worker's own auth answers, all of them (others' fold each second).
        fold_all()
        return Response(metrics.exposition(lag), content_type=metrics.CONTENT_TYPE)


def _install_docs_assets(app: Flask) -> None:
    """Swagger UI's files from the pinned swagger-ui-bundle package, so the
    docs page needs nothing from another host."""

    @app.get(DOCS_ASSETS + "<path:name>")
    def docs_asset(name: str) -> Response:
        response = send_from_directory(swagger_ui_bundle.swagger_ui_path, name)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


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
