"""Management of keys: /v1/keys and its actions (api.md, "Management")."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import marshmallow as ma
from flask import Response, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from domain.times import TimeFormatError, parse_time
from projections.key_state import KeyRow, key_row
from projections.queries import KeyFilter
from service.api.context import ADMIN, READERS, current_services, requires
from service.api.errors import ApiError, not_found
from service.api.openapi import ETAG, LOCATION, answers, takes_if_match
from service.api.openapi_links import key_links
from service.api.presenters import (
    decode_key_cursor,
    encode_key_cursor,
    key_body,
    parse_uuid,
)
from service.api.schemas import (
    AsOfArgsSchema,
    KeyCreateSchema,
    KeyListArgsSchema,
    KeyListSchema,
    KeyPatchSchema,
    KeySchema,
    KeyWithSecretSchema,
    SecretSchema,
)
from service.api.versions import etag, parse_if_match
from service.ledger import IssuedSecret, KeyChanges, KeyLedger

blp = Blueprint(
    "keys", __name__, url_prefix="/v1/keys", description="Create and manage API keys."
)


def ledger() -> KeyLedger:
    return current_services().ledger


def current_body(row: KeyRow) -> dict[str, Any]:
    """A key as it stands now, with its last use."""
    key_id = str(row.key_id)
    last_used = current_services().usage.last_used([key_id]).get(key_id)
    return key_body(row, ledger().clock(), last_used)


def query_time(name: str, text: str) -> datetime:
    """An RFC 3339 query argument, or a 422 naming it."""
    try:
        return parse_time(name, text)
    except TimeFormatError as error:
        raise ApiError(422, error.summary, {error.field: [error.message]}) from None


def key_id_from(raw: str) -> UUID:
    key_id = parse_uuid(raw)
    if key_id is None:
        raise not_found()
    return key_id


def expected_version() -> int | None:
    return parse_if_match(request.headers.get("If-Match"))


def _with_etag(
    body: dict[str, Any], status: int = 200
) -> tuple[dict[str, Any], int, dict[str, str]]:
    return body, status, {"ETag": etag(int(body["version"]))}


def _issued(issued: IssuedSecret) -> dict[str, Any]:
    body = current_body(key_row(issued.key))
    body["dev_secret"] = issued.dev_secret
    return body


@blp.route("")
class Keys(MethodView):
    @requires(*READERS)
    @answers(blp, 422)
    @blp.arguments(KeyListArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, KeyListSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List keys, newest first."""
        after = decode_key_cursor(args["after"]) if "after" in args else None
        limit = args["limit"]
        now = ledger().clock()
        expires_before = (
            query_time("expires_before", args["expires_before"])
            if "expires_before" in args
            else None
        )
        rows = ledger().read_model.list_keys(
            KeyFilter(
                status=args.get("status"),
                text=args.get("q"),
                expires_before=expires_before,
            ),
            now=now,
            limit=limit + 1,
            after=after,
        )
        page = rows[:limit]
        last_used = current_services().usage.last_used(str(r.key_id) for r in page)
        return {
            "items": [
                key_body(row, now, last_used.get(str(row.key_id))) for row in page
            ],
            "next": encode_key_cursor(page[-1]) if len(rows) > limit else None,
        }

    @requires(*ADMIN)
    @answers(blp, 400, 413, 415, 422)
    @blp.arguments(KeyCreateSchema)
    @blp.response(201, KeyWithSecretSchema, headers={**LOCATION, **ETAG})
    @blp.doc(responses={201: {"links": key_links("id")}})
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Create a key; the response is the only time its DevSecret is sent
        unasked."""
        issued = ledger().create_key(**body)
        created = _issued(issued)
        location = url_for("keys.Key", key_id=created["id"])
        return created, 201, {"Location": location, "ETag": etag(created["version"])}


@blp.route("/<key_id>")
class Key(MethodView):
    @requires(*READERS)
    @answers(blp, 404, 422)
    @blp.arguments(AsOfArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, KeySchema, headers=ETAG)
    def get(self, args: dict[str, Any], key_id: str) -> Any:
        """A key (never its secret); ``as_of`` shows it as it stood then."""
        uid = key_id_from(key_id)
        if "as_of" in args:
            moment = query_time("as_of", args["as_of"])
            key = ledger().get_key_as_of(uid, moment)
            return _with_etag(key_body(key_row(key), moment))
        return _with_etag(current_body(key_row(ledger().get_key(uid))))

    @requires(*ADMIN)
    @answers(blp, 400, 404, 412, 413, 415, 422)
    @takes_if_match(blp)
    @blp.arguments(KeyPatchSchema)
    @blp.response(200, KeySchema, headers=ETAG)
    def patch(self, body: dict[str, Any], key_id: str) -> Any:
        """Change any of description, expires_at, ip_whitelist, permissions."""
        key = ledger().update_key(
            key_id_from(key_id), KeyChanges(dict(body)), expected_version()
        )
        return _with_etag(current_body(key_row(key)))

    @requires(*ADMIN)
    @answers(blp, 404, 412)
    @takes_if_match(blp)
    @blp.response(204)
    def delete(self, key_id: str) -> Response:
        """Delete a key; its history stays readable."""
        ledger().delete_key(key_id_from(key_id), expected_version())
        return Response(status=204)


@blp.route("/<key_id>/secret")
class Secret(MethodView):
    @requires(*ADMIN)
    @answers(blp, 404)
    @blp.response(200, SecretSchema)
    def get(self, key_id: str) -> dict[str, str]:
        """Reveal the DevSecret; the reveal is recorded in the history."""
        issued = ledger().reveal_secret(key_id_from(key_id))
        return {"dev_key": issued.key.dev_key, "dev_secret": issued.dev_secret}


@blp.route("/<key_id>/reset-secret")
class ResetSecret(MethodView):
    @requires(*ADMIN)
    @answers(blp, 404, 412, 415)
    @takes_if_match(blp)
    @blp.response(200, KeyWithSecretSchema, headers=ETAG)
    def post(self, key_id: str) -> Any:
        """Draw a new DevSecret; the old one stops working at once."""
        return _with_etag(
            _issued(ledger().reset_secret(key_id_from(key_id), expected_version()))
        )


@blp.route("/<key_id>/disable")
class Disable(MethodView):
    @requires(*ADMIN)
    @answers(blp, 404, 412, 415)
    @takes_if_match(blp)
    @blp.response(200, KeySchema, headers=ETAG)
    def post(self, key_id: str) -> Any:
        """Disable a key (already disabled: nothing is recorded)."""
        key = ledger().disable_key(key_id_from(key_id), expected_version())
        return _with_etag(current_body(key_row(key)))


@blp.route("/<key_id>/enable")
class Enable(MethodView):
    @requires(*ADMIN)
    @answers(blp, 404, 412, 415)
    @takes_if_match(blp)
    @blp.response(200, KeySchema, headers=ETAG)
    def post(self, key_id: str) -> Any:
        """Enable a key (already enabled: nothing is recorded)."""
        key = ledger().enable_key(key_id_from(key_id), expected_version())
        return _with_etag(current_body(key_row(key)))
