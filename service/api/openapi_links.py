"""What the OpenAPI document says beyond the schemas: links from a created
key to every call on it (clients and fuzzers follow them), and body rules
marshmallow cannot express (a PATCH names at least one field)."""

from __future__ import annotations

from typing import Any

KEY_OPERATIONS = {
    "GetKey": ("/v1/keys/{key_id}", "get"),
    "ChangeKey": ("/v1/keys/{key_id}", "patch"),
    "DeleteKey": ("/v1/keys/{key_id}", "delete"),
    "RevealSecret": ("/v1/keys/{key_id}/secret", "get"),
    "ResetSecret": ("/v1/keys/{key_id}/reset-secret", "post"),
    "DisableKey": ("/v1/keys/{key_id}/disable", "post"),
    "EnableKey": ("/v1/keys/{key_id}/enable", "post"),
    "KeyHistory": ("/v1/keys/{key_id}/history", "get"),
}


def _pointer(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def key_links(source: str) -> dict[str, Any]:
    """Links from an answer whose body is a key (``$response.body#/id``)."""
    return {
        name: {
            "operationRef": _pointer(path, method),
            "parameters": {"key_id": f"$response.body#/{source}"},
        }
        for name, (path, method) in KEY_OPERATIONS.items()
    }


def refine(spec: Any) -> None:
    patch = spec.components.schemas.get("KeyPatch")
    if patch is not None:
        patch["minProperties"] = 1
