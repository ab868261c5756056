"""``/v1/auth/forward``: the ``/v1/auth`` decision for gateways.

nginx ``auth_request``, Traefik ``ForwardAuth`` and Envoy ``ext_authz`` send
the original request's headers and no body, with whatever method and (Envoy)
path the client used. So the API comes from ``X-Keyledger-Api``, the client
address from ``REMOTE_ADDR`` as ProxyFix left it (the
``KEYLEDGER_TRUSTED_PROXY_HOPS`` rule), and the identity and the reason go
back in headers that a gateway can copy upstream. It runs in the same lean
WSGI path as ``/v1/auth``: no Flask routing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from projections.credentials import CredentialsUnavailable
from service import metrics
from service.access import AUTH
from service.auth_endpoint import (
    _JSON,
    _NO_STORE,
    _NOSNIFF,
    _STATUS_LINES,
    WSGIApp,
    _basic_credentials,
    _dump,
    _error,
    allowed_body,
)
from service.authorization import (
    APIS,
    DENY_CREDENTIALS,
    AuthDecision,
    Authorizer,
    parse_address,
)

PATH = "/v1/auth/forward"
_PREFIX = PATH + "/"
API_HEADER = "X-Keyledger-Api"
KEY_ID_HEADER = "X-Keyledger-Key-Id"
DEV_KEY_HEADER = "X-Keyledger-Dev-Key"
PERMISSIONS_HEADER = "X-Keyledger-Permissions"
REASON_HEADER = "X-Keyledger-Reason"
UNAVAILABLE = "the key store is unavailable; retry shortly"
_CHALLENGE = ("WWW-Authenticate", 'Basic realm="keyledger"')

logger = logging.getLogger("keyledger.auth")

Answer = tuple[int, bytes, list[tuple[str, str]]]


class ForwardAuthEndpoint:
    """Answers ``/v1/auth/forward`` and everything below it; passes every
    other path on to ``app`` unchanged."""

    def __init__(
        self, app: WSGIApp, authorizer: Authorizer, *, measured: bool = True
    ) -> None:
        self.app = app
        self.authorizer = authorizer
        self.measured = measured

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != PATH and not path.startswith(_PREFIX):
            return self.app(environ, start_response)
        status, raw, extra = forward_decision(environ, self.authorizer)
        if self.measured:
            _, outcome, reason = environ[AUTH]
            metrics.FORWARD_AUTH_DECISIONS.labels(outcome, reason).inc()
        headers = [
            _JSON,
            _NO_STORE,
            _NOSNIFF,
            ("Content-Length", str(len(raw))),
            *extra,
        ]
        start_response(_STATUS_LINES[status], headers)
        return [raw]


def forward_decision(environ: dict[str, Any], authorizer: Authorizer) -> Answer:
    """Status, JSON body and headers answering one forwarded request, checked
    in the order of ``/v1/auth``: the API (whatever the credentials), then
    the decision. Leaves ``(dev_key, outcome, reason)`` in the environ for
    the access line and the metrics, as ``/v1/auth`` does."""
    environ[AUTH] = ("-", "invalid", "validation_failed")
    api = environ.get("HTTP_X_KEYLEDGER_API", "").strip()
    if api not in APIS:
        return _invalid(API_HEADER, "must be 'send' or 'verify'")
    try:
        client_ip = parse_address(environ.get("REMOTE_ADDR") or "")
    except ValueError:
        return _invalid(
            "X-Forwarded-For", "the client address is not an IPv4 or IPv6 address"
        )
    dev_key, dev_secret = _basic_credentials(environ.get("HTTP_AUTHORIZATION", ""))
    try:
        decision = (
            authorizer.decide(dev_key, dev_secret, api, client_ip)
            if dev_key
            else DENY_CREDENTIALS
        )
    except CredentialsUnavailable as error:
        logger.warning("auth store unavailable: %s", error)
        environ[AUTH] = (dev_key or "-", "unavailable", "store_unavailable")
        metrics.count_store_error("forward_auth")
        return 503, _error(503, UNAVAILABLE), [("Retry-After", "1")]
    environ[AUTH] = (
        dev_key or "-",
        "allowed" if decision.allowed else "denied",
        decision.reason or "none",
    )
    return decision.status, *_identity(decision)


def _identity(decision: AuthDecision) -> tuple[bytes, list[tuple[str, str]]]:
    credentials = decision.credentials
    if decision.allowed and credentials is not None:
        return (
            _dump(allowed_body(credentials)),
            [
                (KEY_ID_HEADER, credentials.key_id),
                (DEV_KEY_HEADER, credentials.dev_key),
                (PERMISSIONS_HEADER, ",".join(credentials.permissions)),
            ],
        )
    reason = decision.reason or "invalid_credentials"
    headers = [(REASON_HEADER, reason)]
    if decision.status == 401:
        headers.insert(0, _CHALLENGE)
    return _dump({"allowed": False, "reason": reason}), headers


def _invalid(field: str, message: str) -> Answer:
    """The management API's 422 body plus ``allowed: false``, as on
    ``/v1/auth``."""
    return (
        422,
        _error(422, f"validation failed: {field}: {message}", {field: [message]}),
        [],
    )
