"""The read model's column lists against their row types and encoders."""

from __future__ import annotations

import inspect
import json
from dataclasses import FrozenInstanceError, fields, replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from projections.audit_trail import AuditEntry
from projections.key_state import KeyRow, UpdateKey
from projections.tables import (
    AUDIT_COLUMNS,
    KEY_COLUMNS,
    decode_audit_entry,
    decode_key_row,
    encode_audit_entry,
    encode_key_row,
)

MOMENT = datetime(2027, 1, 31, 12, 30, 45, 123456, tzinfo=UTC)


def _entry() -> AuditEntry:
    return AuditEntry(
        notification_id=42,
        key_id=uuid4(),
        version=3,
        type="ip_whitelist_changed",
        occurred_at=MOMENT,
        actor="alice",
        source_ip="192.0.2.1",
        request_id=None,
        changes={"ip_whitelist": {"from": [], "to": ["192.0.2.0/24"]}},
    )


def _row() -> KeyRow:
    return KeyRow(
        key_id=uuid4(),
        dev_key="dk",
        secret_hash="ab" * 32,
        previous_secret_hash="cd" * 32,
        previous_secret_expires_at=MOMENT.replace(microsecond=0),
        description="one key",
        expires_at=MOMENT.replace(microsecond=0),
        ip_whitelist=("192.0.2.0/24",),
        permissions=("send",),
        enabled=False,
        created_at=MOMENT,
        updated_at=MOMENT,
        version=5,
    )


def test_each_row_type_has_exactly_its_columns() -> None:
    assert [f.name for f in fields(KeyRow)] == [c.name for c in KEY_COLUMNS]
    assert [f.name for f in fields(AuditEntry)] == [c.name for c in AUDIT_COLUMNS]


@pytest.mark.parametrize("row_type", [AuditEntry, KeyRow, UpdateKey])
def test_the_written_out_constructors_take_exactly_the_fields(
    row_type: type,
) -> None:
    parameters = list(inspect.signature(row_type).parameters.values())
    assert [p.name for p in parameters] == [f.name for f in fields(row_type)]
    assert all(p.default is inspect.Parameter.empty for p in parameters)
    assert [p.annotation for p in parameters] == [f.type for f in fields(row_type)]


def test_written_out_constructors_keep_the_rows_frozen_and_comparable() -> None:
    entry = _entry()
    assert entry == replace(entry)
    assert entry != replace(entry, version=4)
    row = _row()
    assert hash(row) == hash(replace(row))
    assert replace(row, version=6).version == 6
    with pytest.raises(FrozenInstanceError):
        entry.version = 4  # type: ignore[misc]


def test_the_spelled_out_audit_encoder_follows_the_column_list() -> None:
    entry = _entry()
    by_columns = tuple(c.encode(getattr(entry, c.name)) for c in AUDIT_COLUMNS)
    assert encode_audit_entry(entry) == by_columns


@pytest.mark.parametrize("enabled", [True, False])
def test_the_spelled_out_key_row_encoder_follows_the_column_list(
    enabled: bool,
) -> None:
    rows = [
        _row(),
        replace(
            _row(),
            previous_secret_hash=None,
            previous_secret_expires_at=None,
            expires_at=None,
            ip_whitelist=(),
            permissions=("send", "verify"),
            enabled=enabled,
        ),
    ]
    for row in rows:
        by_columns = [c.encode(getattr(row, c.name)) for c in KEY_COLUMNS]
        assert encode_key_row(row) == by_columns


@pytest.mark.parametrize(
    "items",
    [
        (),
        ("send",),
        ("198.51.100.0/24", "2001:db8::/32"),
        ("café ☕ 🔑", 'quote " \\ \u2028', "".join(chr(c) for c in range(128))),
    ],
)
def test_lists_are_stored_as_the_json_module_spells_them(
    items: tuple[str, ...],
) -> None:
    encode = next(c for c in KEY_COLUMNS if c.name == "permissions").encode
    assert encode(items) == json.dumps(list(items))
    assert encode([1, None, "x"]) == json.dumps([1, None, "x"])


def test_audit_entries_read_back_as_written() -> None:
    entry = _entry()
    stored = dict(
        zip([c.name for c in AUDIT_COLUMNS], encode_audit_entry(entry), strict=True)
    )
    assert decode_audit_entry(stored) == entry


def test_key_rows_read_back_as_written() -> None:
    row = _row()
    stored = dict(zip([c.name for c in KEY_COLUMNS], encode_key_row(row), strict=True))
    assert decode_key_row(stored) == row


@pytest.mark.parametrize(
    "text",
    [
        "".join(chr(c) for c in range(128)),  # every ASCII character, DEL too
        "payments, prod",
        "café ☕ 🔑",  # stored escaped, as the json module always wrote it
        "\u2028 and \u2029",
    ],
)
def test_changes_are_stored_as_the_json_module_spells_them(text: str) -> None:
    encode = AUDIT_COLUMNS[-1].encode
    changes = {"description": {"from": text, "to": None}, "list": [text, "x"]}
    assert encode(changes) == json.dumps(changes, separators=(",", ":"))
    assert encode({"n": 2**70}) == json.dumps({"n": 2**70}, separators=(",", ":"))
