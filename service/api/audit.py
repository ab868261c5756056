"""History and audit feed (api.md, "History and audit"): read-only, for
admins and auditors."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from projections.queries import AuditFilter
from service.api.audit_schemas import (
    AuditExportArgsSchema,
    AuditFeedArgsSchema,
    AuditPageSchema,
    HistorySchema,
    encode_audit_cursor,
)
from service.api.context import READERS, requires
from service.api.errors import not_found
from service.api.keys import key_id_from, ledger
from service.api.openapi import EXPORT_THROUGH, answers
from service.audit_export import EXPORT_FORMATS, ExportFormat, audit_item, export

blp = Blueprint(
    "audit",
    __name__,
    description="Who changed what, when: per-key history and the audit feed.",
)

NDJSON = "application/x-ndjson"
# Text first: code generators type the answer by the first media type they
# know, and both exports are text.
EXPORT_CONTENT = {
    media_type: {"schema": {"type": "string", "description": description}}
    for media_type, description in (
        ("text/csv", "`format=csv`: a header row, then one item per row"),
        (NDJSON, f"`format=jsonl` or `Accept: {NDJSON}`: one item per line"),
    )
}
EXPORT_THROUGH_HEADER = "X-Keyledger-Export-Through"


@blp.route("/v1/keys/<key_id>/history")
class History(MethodView):
    @requires(*READERS)
    @answers(blp, 404)
    @blp.response(200, HistorySchema)
    def get(self, key_id: str) -> dict[str, Any]:
        """Every event of one key, oldest first; also for a deleted key."""
        records = ledger().read_model.history(key_id_from(key_id))
        if not records:
            raise not_found()
        return {"items": [audit_item(record) for record in records]}


def _export_format(requested: str | None) -> ExportFormat | None:
    if requested is not None:
        return EXPORT_FORMATS.get(requested)
    best = request.accept_mimetypes.best_match(["application/json", NDJSON])
    return EXPORT_FORMATS["jsonl"] if best == NDJSON else None


def _selection(args: dict[str, Any]) -> AuditFilter:
    return AuditFilter(
        key_id=args.get("key_id"),
        actor=args.get("actor"),
        type=args.get("type"),
        since=args.get("since"),
        until=args.get("until"),
    )


@blp.route("/v1/audit")
class AuditFeed(MethodView):
    @requires(*READERS)
    @answers(blp, 422)
    @blp.arguments(AuditFeedArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200, AuditPageSchema)
    @blp.doc(responses={200: {"content": EXPORT_CONTENT, "headers": EXPORT_THROUGH}})
    def get(self, args: dict[str, Any]) -> Any:
        """Every key's events in recorded order, a page at a time, or the
        whole selection streamed as NDJSON or CSV."""
        selection = _selection(args)
        after = args.get("after", 0)
        form = _export_format(args.get("format"))
        if form is not None:
            return _streamed(form, selection, after)
        limit = args["limit"]
        records = ledger().read_model.audit_page(
            selection, after=after, limit=limit + 1
        )
        page = records[:limit]
        more = len(records) > limit
        body = {
            "items": [audit_item(record) for record in page],
            "next": encode_audit_cursor(page[-1].notification_id) if more else None,
        }
        return body, 200, {"Vary": "Accept"}


@blp.route("/v1/audit/export")
class AuditExport(MethodView):
    @requires(*READERS)
    @answers(blp, 422)
    @blp.arguments(AuditExportArgsSchema, location="query", unknown=ma.RAISE)
    @blp.response(200)
    @blp.doc(
        responses={
            200: {
                "description": "The whole selection, streamed (chunked)",
                "content": EXPORT_CONTENT,
                "headers": EXPORT_THROUGH,
            }
        }
    )
    def get(self, args: dict[str, Any]) -> Response:
        """The export of ``GET /v1/audit?format=``, as an operation of its
        own, so that generated clients receive it as text."""
        form = EXPORT_FORMATS[args["format"]]
        return _streamed(form, _selection(args), args.get("after", 0))


def _streamed(form: ExportFormat, selection: AuditFilter, after: int) -> Response:
    """Sent chunked (no Content-Length), so a cut export lacks the final
    empty chunk and no HTTP client mistakes it for a complete one."""
    made = export(ledger(), selection, form, after=after)
    filename = form.filename(ledger().clock())
    return Response(
        stream_with_context(made.chunks),
        content_type=form.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Vary": "Accept",  # the same URL answers JSON or NDJSON
            EXPORT_THROUGH_HEADER: str(made.through),
        },
    )
