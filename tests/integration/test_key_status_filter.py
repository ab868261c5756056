"""Listing by status filters in SQL with the domain's status rule
(``domain.values.key_status``): both run over the same keys and moments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import AuditContext, KeyStatus, recording_as
from domain.values import key_status
from projections.queries import KeyFilter
from service.wiring import Services


@pytest.mark.parametrize("status", list(KeyStatus))
def test_sql_status_filter_agrees_with_the_domain_rule(
    services: Services, status: KeyStatus
) -> None:
    ledger = services.ledger
    start = ledger.clock().replace(microsecond=0)
    expiries = [None, start + timedelta(seconds=10), start + timedelta(seconds=20)]
    with recording_as(AuditContext("alice")):
        for expires_at in expiries:
            for enabled in (True, False):
                key = ledger.create_key(
                    permissions=["send"],
                    expires_at=None if expires_at is None else expires_at.isoformat(),
                ).key
                if not enabled:
                    ledger.disable_key(key.id)
    moments = [
        start,
        start + timedelta(seconds=10),  # the last valid second of one key
        start + timedelta(seconds=10, microseconds=999_999),
        start + timedelta(seconds=11),
        start + timedelta(seconds=30),
    ]
    everything = ledger.read_model.list_keys(KeyFilter(), now=start, limit=100)
    assert len(everything) == 6
    for now in moments:
        listed = ledger.read_model.list_keys(
            KeyFilter(status=status.value), now=now, limit=100
        )
        expected = {
            row.key_id
            for row in everything
            if key_status(row.enabled, row.expires_at, now) is status
        }
        assert {row.key_id for row in listed} == expected, now
