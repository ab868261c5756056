"""The audit log page, and its exports through the console session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from flask import abort, render_template, request, stream_with_context, url_for
from werkzeug.wrappers import Response

from domain import EVENT_TYPE_NAMES, InvalidValue
from projections.audit_trail import AuditEntry
from projections.queries import AuditFilter
from service.audit_export import EXPORT_FORMATS, export
from service.console.display import event_label
from service.console.fields import parse_moment
from service.console.keys import Page, ledger

PAGE_SIZE = 50
FILTERS = ("actor", "type", "since", "until", "key_id")
EVENT_TYPES = tuple(EVENT_TYPE_NAMES.values())


@dataclass
class AuditSelection:
    """The audit filters as typed, what they select, and what is wrong."""

    typed: dict[str, str]
    selection: AuditFilter = field(default_factory=AuditFilter)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls) -> AuditSelection:
        typed = {name: request.args.get(name, "").strip() for name in FILTERS}
        chosen = cls(typed)
        chosen.selection = AuditFilter(
            key_id=chosen._key_id(),
            actor=typed["actor"] or None,
            type=chosen._type(),
            since=chosen._moment("since", "Since"),
            until=chosen._moment("until", "Until"),
        )
        return chosen

    def _key_id(self) -> UUID | None:
        if not self.typed["key_id"]:
            return None
        try:
            return UUID(self.typed["key_id"])
        except ValueError:
            self.errors["key_id"] = "Key must be a key id."
            return None

    def _type(self) -> str | None:
        kind = self.typed["type"]
        if kind and kind not in EVENT_TYPES:
            self.errors["type"] = "Type must be one of the listed event types."
            return None
        return kind or None

    def _moment(self, name: str, label: str) -> datetime | None:
        try:
            return parse_moment(name, self.typed[name])
        except InvalidValue as error:
            self.errors[name] = f"{label} {error.message}."
            return None

    def query(self) -> dict[str, Any]:
        return {name: value for name, value in self.typed.items() if value}


def _after() -> int:
    raw = request.args.get("after", "")
    return int(raw) if raw.isdigit() else 0


def _dev_keys(records: Sequence[AuditEntry]) -> dict[UUID, str]:
    """DevKeys of the keys on this page that still exist, to name the rows."""
    names: dict[UUID, str] = {}
    for key_id in {record.key_id for record in records}:
        view = ledger().read_model.key(key_id)
        if view is not None:
            names[key_id] = view.dev_key
    return names


def audit_log() -> Page:
    chosen = AuditSelection.from_request()
    after = _after()
    records = ledger().read_model.audit_page(
        chosen.selection, after=after, limit=PAGE_SIZE + 1
    )
    page = records[:PAGE_SIZE]
    next_args = None
    if len(records) > PAGE_SIZE:
        next_args = {**chosen.query(), "after": str(page[-1].notification_id)}
    exports = {
        name: url_for("console.audit_export", format=name, **chosen.query())
        for name in ("csv", "jsonl")
    }
    return render_template(
        "console/audit.html",
        records=page,
        dev_keys=_dev_keys(page),
        typed=chosen.typed,
        errors=chosen.errors,
        event_types=[(kind, event_label(kind)) for kind in EVENT_TYPES],
        next_args=next_args,
        paged=after > 0,
        filtered=bool(chosen.query()),
        exports=exports,
        first_url=url_for("console.audit_log", **chosen.query()),
    ), (422 if chosen.errors else 200)


def audit_export() -> Page:
    chosen = AuditSelection.from_request()
    form = EXPORT_FORMATS.get(request.args.get("format", ""))
    if form is None:
        abort(404)
    if chosen.errors:
        return audit_log()
    filename = form.filename(ledger().clock())
    made = export(ledger(), chosen.selection, form)
    return Response(
        stream_with_context(made.chunks),
        content_type=form.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Keyledger-Export-Through": str(made.through),
        },
    )
