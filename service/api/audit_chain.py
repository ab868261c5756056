"""Tamper evidence (api.md, "Tamper evidence"): the signed checkpoints, the
key that verifies them, and a verification of the whole store."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from service.api.context import READERS, current_services, requires
from service.api.openapi import answers
from service.audit_signing import SigningKeys

blp = Blueprint(
    "audit-chain",
    __name__,
    description="Tamper evidence: signed checkpoints of the audit hash chain.",
)


class CheckpointSchema(ma.Schema):
    position = ma.fields.Integer()
    hash = ma.fields.String(metadata={"description": "The link at position (hex)."})
    signed_at = ma.fields.String(metadata={"description": "RFC 3339, UTC."})
    signing_key_id = ma.fields.String(
        metadata={"description": "Hex SHA-256 of the raw Ed25519 public key."}
    )
    signature = ma.fields.String(metadata={"description": "Ed25519, base64."})


class CheckpointsSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(CheckpointSchema))


class HeadSchema(ma.Schema):
    position = ma.fields.Integer()
    hash = ma.fields.String()


class ProblemSchema(ma.Schema):
    position = ma.fields.Integer()
    what = ma.fields.String()


class VerdictSchema(ma.Schema):
    verified = ma.fields.Boolean()
    events = ma.fields.Integer()
    head = ma.fields.Nested(HeadSchema)
    signed_through = ma.fields.Integer()
    problem = ma.fields.Nested(ProblemSchema, allow_none=True)


def _signing_keys() -> SigningKeys:
    keys = current_services().ledger.signing_keys
    if keys is None:  # pragma: no cover - every built service has keys
        raise RuntimeError("the service was built without audit signing keys")
    return keys


@blp.route("/v1/audit/checkpoints")
class Checkpoints(MethodView):
    @requires(*READERS)
    @answers(blp)
    @blp.response(200, CheckpointsSchema)
    def get(self) -> dict[str, Any]:
        """Every signed checkpoint, oldest first."""
        recorder = current_services().ledger.ledger_recorder
        checkpoints = recorder.chain.all_checkpoints(recorder.read_transaction)
        return {"items": [checkpoint.as_item() for checkpoint in checkpoints]}


@blp.route("/v1/audit/public-key")
class PublicKey(MethodView):
    @requires(*READERS)
    @answers(blp)
    @blp.doc(
        responses={
            200: {
                "description": "PEM: the current key first, then retired ones",
                "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self) -> Response:
        """The public keys that verify checkpoints, PEM."""
        return Response(_signing_keys().public_pem(), mimetype="application/x-pem-file")


@blp.route("/v1/audit/verify")
class Verify(MethodView):
    @requires(*READERS)
    @answers(blp)
    @blp.response(200, VerdictSchema)
    def get(self) -> dict[str, Any]:
        """Recomputes the whole chain from the stored events and checks every
        link and checkpoint; ``problem`` names the first bad position."""
        verdict = current_services().ledger.ledger_recorder.verify_chain(
            _signing_keys().verification
        )
        return verdict.as_body()
