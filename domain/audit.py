"""Who caused a change: fed per request into every event the aggregate records.

The service sets the context once per request (``recording_as``); the
aggregate reads it when it triggers an event, so the command methods stay
about the key and not about HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from domain.errors import MissingActor


@dataclass(frozen=True)
class AuditContext:
    actor: str
    source_ip: str | None = None
    request_id: str | None = None


_current: ContextVar[AuditContext | None] = ContextVar("keyledger_audit", default=None)


@contextmanager
def recording_as(context: AuditContext) -> Iterator[AuditContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def current_audit() -> AuditContext:
    context = _current.get()
    if context is None:
        raise MissingActor
    return context
