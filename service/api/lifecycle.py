"""Roll, restore, usage and leaked-secret lookup (docs/lifecycle.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from domain.times import format_optional_time
from projections.key_state import key_row
from service.api.context import ADMIN, READERS, current_services, requires
from service.api.errors import ApiError
from service.api.keys import current_body, expected_version, key_id_from
from service.api.lifecycle_schemas import (
    RollSecretSchema,
    SecretLookupBodySchema,
    SecretLookupSchema,
    UsageArgsSchema,
    UsageSchema,
)
from service.api.openapi import answers, takes_if_match
from service.api.schemas import KeySchema, KeyWithSecretSchema
from service.api.versions import etag
from service.usage_report import key_usage

keys_blp = Blueprint(
    "key_lifecycle",
    __name__,
    url_prefix="/v1/keys",
    description="Roll a secret with a grace period, restore a deleted key, usage.",
)
secrets_blp = Blueprint(
    "secrets",
    __name__,
    url_prefix="/v1/secrets",
    description="Find the key a leaked DevSecret belongs to.",
)


def _answer(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    return body, 200, {"ETag": etag(int(body["version"]))}


@keys_blp.route("/<key_id>/roll-secret")
class RollSecret(MethodView):
    @requires(*ADMIN)
    @answers(keys_blp, 400, 404, 412, 413, 415, 422)
    @takes_if_match(keys_blp)
    @keys_blp.arguments(RollSecretSchema)
    @keys_blp.response(200, KeyWithSecretSchema)
    def post(self, body: dict[str, Any], key_id: str) -> Any:
        """Draw a new DevSecret; the old one keeps working for grace_seconds."""
        services = current_services()
        issued = services.ledger.roll_secret(
            key_id_from(key_id), body["grace_seconds"], expected_version()
        )
        answer = current_body(key_row(issued.key))
        answer["dev_secret"] = issued.dev_secret
        return _answer(answer)


@keys_blp.route("/<key_id>/restore")
class Restore(MethodView):
    @requires(*ADMIN)
    @answers(keys_blp, 400, 404, 409, 412, 415)
    @takes_if_match(keys_blp)
    @keys_blp.response(200, KeySchema)
    def post(self, key_id: str) -> Any:
        """Bring a deleted key back, disabled; 409 when it is not deleted."""
        services = current_services()
        key = services.ledger.restore_key(key_id_from(key_id), expected_version())
        return _answer(current_body(key_row(key)))


_EARLIEST_UNTIL = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)


@keys_blp.route("/<key_id>/usage")
class Usage(MethodView):
    @requires(*READERS)
    @answers(keys_blp, 404, 422)
    @keys_blp.arguments(UsageArgsSchema, location="query", unknown=ma.RAISE)
    @keys_blp.response(200, UsageSchema)
    def get(self, args: dict[str, Any], key_id: str) -> dict[str, Any]:
        """Allowed calls and denials by reason, per hour or day."""
        services = current_services()
        uid = key_id_from(key_id)
        services.ledger.get_key(uid)  # 404 for an unknown or deleted key
        bucket = args["bucket"]
        until = args["until"] if "until" in args else services.ledger.clock()
        if until < _EARLIEST_UNTIL:  # year 1 has no day before it to count from
            raise ApiError(422, "invalid until: too early", {"until": ["too early"]})
        since = args.get("since", until - timedelta(days=1))
        return {"items": key_usage(services.usage, str(uid), since, until, bucket)}


@secrets_blp.route("/lookup")
class Lookup(MethodView):
    @requires(*ADMIN)
    @answers(secrets_blp, 400, 404, 413, 415, 422)
    @secrets_blp.arguments(SecretLookupBodySchema)
    @secrets_blp.response(200, SecretLookupSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Which key a DevSecret belongs to: current, previous or retired,
        deleted keys included; 404 when no key ever had it."""
        found = current_services().secret_lookup.find(body["dev_secret"])
        if found is None:
            raise ApiError(404, "no key ever had this secret")
        return {
            "key_id": str(found.key_id),
            "dev_key": found.dev_key,
            "status": found.status,
            "secret": found.secret,
            "rotation": found.rotation,
            "retired_at": format_optional_time(found.retired_at),
        }
