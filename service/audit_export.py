"""How audit items look, for the JSON feed and for exports (HTTP and CLI).

One item shape (api.md, "History and audit"), rendered three ways: JSON
pages, NDJSON lines and CSV rows. Exports are generators over the read
model fetched a page at a time, so memory stays flat however large the
selection; the HTTP response and ``keyledger audit export`` share them, so
the two can never disagree.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import takewhile
from typing import Any

from domain.times import format_time
from projections.chain_store import LinkedAuditEntry
from projections.queries import AuditFilter, ReadModelQueries
from service.ledger import KeyLedger

ITEM_FIELDS = (
    "position",
    "key_id",
    "version",
    "type",
    "occurred_at",
    "actor",
    "source_ip",
    "request_id",
    "changes",
    "hash",
    "event_sha256",
)
# Big enough to amortise a write per chunk, small enough to start sending
# early and keep the response's footprint flat.
CHUNK_CHARACTERS = 64 * 1024


def occurred_at_text(moment: datetime) -> str:
    """RFC 3339 in UTC, always with microseconds.

    A fixed width keeps exported times sortable as text, and the full
    precision lets a caller pass an item's time back as ``as_of`` exactly.
    """
    return format_time(moment, "micros")


def audit_item(record: LinkedAuditEntry) -> dict[str, Any]:
    """One item; ``position``, ``hash`` and ``event_sha256`` tie it to the
    audit chain (docs/tamper-evidence.md), so an export verifies offline."""
    return {
        "position": record.notification_id,
        "key_id": str(record.key_id),
        "version": record.version,
        "type": record.type,
        "occurred_at": occurred_at_text(record.occurred_at),
        "actor": record.actor,
        "source_ip": record.source_ip,
        "request_id": record.request_id,
        "changes": record.changes,
        "hash": record.hash,
        "event_sha256": record.event_sha256,
    }


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def jsonl_lines(records: Iterable[LinkedAuditEntry]) -> Iterator[str]:
    for record in records:
        yield _compact(audit_item(record)) + "\n"


def csv_lines(records: Iterable[LinkedAuditEntry]) -> Iterator[str]:
    """A header row, then one RFC 4180 row per item; ``changes`` is JSON text
    and a null is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ITEM_FIELDS)
    for record in records:
        item = audit_item(record)
        item["changes"] = _compact(item["changes"])
        writer.writerow(item[name] for name in ITEM_FIELDS)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    header_only = buffer.getvalue()  # when nothing was selected
    if header_only:
        yield header_only


@dataclass(frozen=True)
class ExportFormat:
    name: str
    media_type: str
    render: Callable[[Iterable[LinkedAuditEntry]], Iterator[str]]

    def filename(self, moment: datetime) -> str:
        return f"keyledger-audit-{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}.{self.name}"


EXPORT_FORMATS = {
    "jsonl": ExportFormat("jsonl", "application/x-ndjson", jsonl_lines),
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", csv_lines),
}


def chunked(lines: Iterable[str], size: int = CHUNK_CHARACTERS) -> Iterator[str]:
    """Joins lines into chunks of about ``size`` characters."""
    pending: list[str] = []
    length = 0
    for line in lines:
        pending.append(line)
        length += len(line)
        if length >= size:
            yield "".join(pending)
            pending.clear()
            length = 0
    if pending:
        yield "".join(pending)


def recorded_so_far(
    queries: ReadModelQueries, selection: AuditFilter, *, upto: int, after: int = 0
) -> Iterator[LinkedAuditEntry]:
    """The selection up to notification ``upto``: an export shows the log as
    it stood when it was asked for, even while new events keep arriving."""
    return takewhile(
        lambda record: record.notification_id <= upto,
        queries.audit_stream(selection, after=after),
    )


@dataclass(frozen=True)
class Export:
    """An export's text chunks and the log position it runs through.

    ``through`` is fixed when the export is asked for: every selected event
    at or before it is in the export, none after it. A reader that was cut
    off resumes with ``after`` = the last ``position`` it received.
    """

    chunks: Iterator[str]
    through: int


def export(
    ledger: KeyLedger, selection: AuditFilter, form: ExportFormat, *, after: int = 0
) -> Export:
    """The export; the end of the log is fixed now, not when the caller
    starts reading."""
    upto = int(ledger.recorder.max_notification_id() or 0)
    records = recorded_so_far(ledger.read_model, selection, upto=upto, after=after)
    return Export(chunked(form.render(records)), upto)
