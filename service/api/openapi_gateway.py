"""The gateway paths in the OpenAPI document: ``/v1/auth/forward`` and
``/v1/changes``, both lean WSGI handlers that flask-smorest never sees.

Forward auth answers whatever method the gateway forwards (nginx sends the
original one, Envoy too), so every method is declared with one operation;
the change feed is a GET for operators of the admin, auditor and service
roles.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Api
from werkzeug.routing import Rule

from service.api.openapi import DEV_KEY, OPERATOR, error_response_name
from service.forward_auth import (
    API_HEADER,
    DEV_KEY_HEADER,
    KEY_ID_HEADER,
    PERMISSIONS_HEADER,
    REASON_HEADER,
)

FORWARD_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ChangeSchema(ma.Schema):
    position = ma.fields.Integer(
        required=True,
        metadata={"description": "Place in the event log; poll with after=it."},
    )
    key_id = ma.fields.UUID(required=True)
    dev_key = ma.fields.String(required=True)
    type = ma.fields.String(
        required=True, metadata={"description": "The audit type of the change."}
    )


class ChangesSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ChangeSchema), required=True)
    position = ma.fields.Integer(
        required=True,
        metadata={
            "description": "Where the next poll starts (after=it): the last "
            "item's position, or the one asked for when nothing is new."
        },
    )


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def _forward_operation() -> dict[str, Any]:
    reason = {REASON_HEADER: _header("Why the request is refused (a reason name).")}
    retry = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return {
        "summary": "/v1/auth's decision for a gateway (nginx auth_request, "
        "Traefik ForwardAuth, Envoy ext_authz).",
        "description": "The API comes from X-Keyledger-Api, the client address "
        "from the connection or, behind KEYLEDGER_TRUSTED_PROXY_HOPS proxies, "
        "X-Forwarded-For; the identity and the reason come back in headers "
        "a gateway can pass upstream. Any method, no body.",
        "tags": ["auth"],
        "security": [{DEV_KEY: []}],
        "parameters": [
            {
                "name": API_HEADER,
                "in": "header",
                "required": True,
                "description": "The OTP API the client calls.",
                "schema": {"type": "string", "enum": ["send", "verify"]},
            }
        ],
        "responses": {
            "200": {
                "description": "Allowed",
                "content": _json("AuthAllowed"),
                "headers": {
                    KEY_ID_HEADER: _header("The key's id."),
                    DEV_KEY_HEADER: _header("The key's DevKey."),
                    PERMISSIONS_HEADER: _header("Its permissions, comma-separated."),
                },
            },
            "401": {
                "description": "Invalid credentials (missing, garbled, unknown, "
                "wrong or deleted).",
                "content": _json("AuthDenied"),
                "headers": {
                    "WWW-Authenticate": {
                        "$ref": "#/components/headers/WwwAuthenticateBasic"
                    },
                    **reason,
                },
            },
            "403": {
                "description": "Denied for the reason given.",
                "content": _json("AuthDenied"),
                "headers": reason,
            },
            "422": {
                "description": "X-Keyledger-Api missing or invalid, or the client "
                "address unparsable, whatever the credentials; errors names it.",
                "content": _json("AuthError"),
            },
            "503": {
                "description": "The key store is unavailable.",
                "content": _json("AuthError"),
                "headers": retry,
            },
        },
    }


def declare_gateway_paths(api: Api) -> None:
    """After ``openapi.declare_service_paths`` (it declares the auth schemas)."""
    spec = api.spec
    spec.components.schema("Changes", schema=ChangesSchema)
    spec.path(
        rule=Rule("/v1/auth/forward"),
        parameters=[],
        operations={method: _forward_operation() for method in FORWARD_METHODS},
    )
    errors = {str(code): {"$ref": _ref(code)} for code in (401, 403, 422, 503)}
    spec.path(
        rule=Rule("/v1/changes"),
        parameters=[],
        operations={
            "get": {
                "summary": "What changed after a position: the feed a decision "
                "cache polls (roles admin, auditor, service).",
                "tags": ["auth"],
                "security": [{OPERATOR: []}],
                "parameters": [
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "description": "A position from an earlier answer; "
                        "without it, no items and the current position.",
                        "schema": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 2**63 - 1,
                        },
                    }
                ],
                "responses": {
                    "200": {"description": "Changes", "content": _json("Changes")},
                    **errors,
                },
            }
        },
    )


def _ref(code: int) -> str:
    return f"#/components/responses/{error_response_name(code)}"
