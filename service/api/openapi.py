"""What the OpenAPI document declares beyond what flask-smorest infers.

One error schema for every error answer; the operator bearer scheme and the
Basic scheme of ``/v1/auth``; the headers the contract relies on (If-Match,
ETag, Location, Retry-After, WWW-Authenticate); custom marshmallow fields
mapped to their OpenAPI types; and the paths that are not flask-smorest
views (``/v1/auth``, ``/healthz``, ``/metrics``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
from flask_smorest import Api, Blueprint
from werkzeug.routing import Rule

from service.api.audit_schemas import AuditCursor, Rfc3339Time
from service.api.schemas import Rfc3339Text

F = TypeVar("F", bound=Callable[..., Any])

OPERATOR = "operator"
DEV_KEY = "devKey"
ERROR = {"$ref": "#/components/schemas/Error"}
HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The key\'s version, quoted (`"4"`); send it back as If-Match.',
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "Where the created key can be read.",
        "schema": {"type": "string"},
    },
    "RetryAfter": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    },
    "WwwAuthenticateBearer": {
        "description": 'Bearer realm="keyledger": an operator token is needed.',
        "schema": {"type": "string"},
    },
    "WwwAuthenticateBasic": {
        "description": 'Basic realm="keyledger": DevKey and DevSecret are needed.',
        "schema": {"type": "string"},
    },
    "ExportThrough": {
        "description": "The log position this export runs through, fixed when it "
        "started: every selected event at or before it is in the export. A cut "
        "export (it lacks the final chunk) resumes with after=<the last position "
        "received>.",
        "schema": {"type": "integer", "minimum": 0},
    },
}
_HEADERS_OF = {
    401: {"WWW-Authenticate": {"$ref": "#/components/headers/WwwAuthenticateBearer"}},
    412: {"ETag": {"$ref": "#/components/headers/ETag"}},
    503: {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
}
_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    401: "No operator token, or an unknown or revoked one.",
    403: "The operator's role may not do this.",
    404: "No such key (unknown, deleted or malformed id).",
    409: "The key's state does not allow this action.",
    412: "If-Match names another version; ETag carries the current one.",
    413: "The body is too large.",
    415: "The body is not JSON.",
    422: "Invalid input: `errors` names every offending field.",
    503: "The store is unavailable or the key is too busy; retry after Retry-After.",
}
IF_MATCH = "IfMatch"
ETAG = {"ETag": {"$ref": "#/components/headers/ETag"}}
LOCATION = {"Location": {"$ref": "#/components/headers/Location"}}
EXPORT_THROUGH = {
    "X-Keyledger-Export-Through": {"$ref": "#/components/headers/ExportThrough"}
}


class ErrorSchema(ma.Schema):
    """Every error answer of the API; ``/v1/auth`` adds ``allowed: false``."""

    class Meta:
        # Open, so that the auth errors' allOf may add ``allowed``.
        unknown = ma.INCLUDE

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status"})
    status = ma.fields.String(
        required=True, metadata={"description": "HTTP status phrase"}
    )
    message = ma.fields.String(required=True)
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={
            "description": "Every offending field (body or query) and its "
            "messages; present on 422."
        },
    )


class KeyledgerApi(Api):  # type: ignore[misc]
    ERROR_SCHEMA = ErrorSchema
    # Every operation lists the statuses it can answer; no catch-all.
    DEFAULT_ERROR_RESPONSE_NAME = None


def error_response_name(code: int) -> str:
    return f"Error{code}"


def answers(blp: Blueprint, *codes: int, operator: bool = True) -> Callable[[F], F]:
    """Declares the error statuses an operation can answer (401, 403 and
    503 for every operator operation) and its security requirement."""
    every = sorted({*codes, *((401, 403, 503) if operator else ())})

    def decorate(view: F) -> F:
        for code in every:
            view = blp.alt_response(code, response=error_response_name(code))(view)
        if operator:
            view = blp.doc(security=[{OPERATOR: []}])(view)
        return view

    return decorate


def takes_if_match(blp: Blueprint) -> Callable[[F], F]:
    return blp.doc(parameters=[IF_MATCH])  # type: ignore[no-any-return]


def install(api: Api) -> None:
    """Components every declaration refers to; call before registering
    blueprints."""
    spec = api.spec
    api.register_field(Rfc3339Time, "string", "date-time")
    api.register_field(Rfc3339Text, "string", "date-time")
    api.register_field(AuditCursor, "string", None)
    spec.components.security_scheme(
        OPERATOR,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An operator token (`keyledger operators create`).",
        },
    )
    spec.components.security_scheme(
        DEV_KEY,
        {
            "type": "http",
            "scheme": "basic",
            "description": "The customer's DevKey as user name, DevSecret as password.",
        },
    )
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    spec.components.parameter(
        "IfMatch",
        "header",
        {
            "name": "If-Match",
            "required": False,
            "description": 'The version the change is meant for (the ETag, `"4"`); '
            "a stale one is refused with 412.",
            "schema": {"type": "string"},
        },
    )
    for code, description in _DESCRIPTIONS.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": ERROR}},
        }
        if code in _HEADERS_OF:
            response["headers"] = _HEADERS_OF[code]
        spec.components.response(error_response_name(code), response)


class AuthRequestSchema(ma.Schema):
    api = ma.fields.String(required=True, metadata={"enum": ["send", "verify"]})
    client_ip = ma.fields.String(
        required=True,
        metadata={
            "description": "The end user's IPv4 or IPv6 address (no zone id).",
            "format": "ip-address",
        },
    )


class AuthAllowedSchema(ma.Schema):
    allowed = ma.fields.Boolean(required=True, metadata={"enum": [True]})
    key_id = ma.fields.UUID(required=True)
    dev_key = ma.fields.String(required=True)
    permissions = ma.fields.List(
        ma.fields.String(metadata={"enum": ["send", "verify"]}), required=True
    )
    expires_at = Rfc3339Text(
        required=True,
        allow_none=True,
        metadata={"description": "When the key expires (null: never)."},
    )


class AuthDeniedSchema(ma.Schema):
    allowed = ma.fields.Boolean(required=True, metadata={"enum": [False]})
    reason = ma.fields.String(
        required=True,
        metadata={
            "enum": [
                "invalid_credentials",
                "key_disabled",
                "key_expired",
                "ip_not_allowed",
                "permission_denied",
            ]
        },
    )


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})
    read_model_lag = ma.fields.Integer(
        metadata={"description": "Recorded events the read model has not applied."}
    )
    store = ma.fields.String(metadata={"description": "What failed, when unavailable."})


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _auth_error(description: str, **headers: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": _json("AuthError"),
    }
    if headers:
        response["headers"] = headers
    return response


def declare_service_paths(api: Api) -> None:
    """The paths served outside flask-smorest: the lean auth handler, the
    health check and the metrics."""
    spec = api.spec
    spec.components.schema("AuthRequest", schema=AuthRequestSchema)
    spec.components.schema("AuthAllowed", schema=AuthAllowedSchema)
    spec.components.schema("AuthDenied", schema=AuthDeniedSchema)
    spec.components.schema("Health", schema=HealthSchema)
    spec.components.schema(
        "AuthError",
        component={
            "allOf": [
                ERROR,
                {
                    "type": "object",
                    "required": ["allowed"],
                    "properties": {"allowed": {"type": "boolean", "enum": [False]}},
                },
            ]
        },
    )
    denied = {"description": "", "content": _json("AuthDenied")}
    spec.path(
        rule=Rule("/v1/auth"),
        parameters=[],
        operations={
            "post": {
                "summary": "May this DevKey:DevSecret call this API from this address?",
                "description": "The OTP services' call. Denials are answers, not "
                "errors: 401 for any credential failure (indistinguishable), 403 "
                "with the first reason that applies.",
                "tags": ["auth"],
                "security": [{DEV_KEY: []}],
                "requestBody": {"required": True, "content": _json("AuthRequest")},
                "responses": {
                    "200": {"description": "Allowed", "content": _json("AuthAllowed")},
                    "400": _auth_error(_DESCRIPTIONS[400]),
                    "401": {
                        **denied,
                        "description": "Invalid credentials (missing, garbled, "
                        "unknown, wrong or deleted).",
                        "headers": {
                            "WWW-Authenticate": {
                                "$ref": "#/components/headers/WwwAuthenticateBasic"
                            }
                        },
                    },
                    "403": {**denied, "description": "Denied for the reason given."},
                    "413": _auth_error(_DESCRIPTIONS[413]),
                    "415": _auth_error(_DESCRIPTIONS[415]),
                    "422": _auth_error(
                        "api or client_ip missing or invalid, whatever the "
                        "credentials; errors names each."
                    ),
                    "503": _auth_error(
                        "The key store is unavailable.",
                        **{"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                    ),
                },
            }
        },
    )
    spec.path(
        rule=Rule("/healthz"),
        parameters=[],
        operations={
            "get": {
                "summary": "Can this instance reach its store?",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {"description": "Healthy", "content": _json("Health")},
                    "503": {
                        "description": "Store unreachable",
                        "content": _json("Health"),
                    },
                },
            }
        },
    )
    spec.path(
        rule=Rule("/metrics"),
        parameters=[],
        operations={
            "get": {
                "summary": "Prometheus metrics, summed over this instance's workers.",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    )
