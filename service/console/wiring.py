"""How the console reaches the application services, and its own settings.

Every view goes through :func:`services`, so the way the console finds the
composition root is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app

from service.api.context import current_services
from service.config import ConfigurationError, Settings, load_master_key, parse_store
from service.wiring import Services

EXTENSION = "keyledger.console"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConsoleSettings:
    """Session lifetimes, and the clock they are measured with (tests move it)."""

    idle_timeout: timedelta
    absolute_timeout: timedelta
    clock: Callable[[], datetime] = field(default=_utc_now)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleSettings:
        for name, value in (
            ("KEYLEDGER_CONSOLE_IDLE_TIMEOUT", settings.console_idle_timeout),
            ("KEYLEDGER_CONSOLE_ABSOLUTE_TIMEOUT", settings.console_absolute_timeout),
        ):
            if value <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        return cls(
            idle_timeout=timedelta(seconds=settings.console_idle_timeout),
            absolute_timeout=timedelta(seconds=settings.console_absolute_timeout),
        )


def services() -> Services:
    return current_services()


def console_settings_of(app: Flask) -> ConsoleSettings:
    """The console's settings on ``app`` (tests move their clock)."""
    return cast(ConsoleSettings, app.extensions[EXTENSION])


def console_settings() -> ConsoleSettings:
    return console_settings_of(current_app)


def session_signing_key(settings: Settings) -> bytes:
    """Flask's session key, derived from the master key.

    Every worker and instance already shares the master key, so they agree on
    this one without a new setting; the HKDF label keeps it unrelated to the
    keys that seal and hash DevSecrets.
    """
    master = load_master_key(settings, parse_store(settings))
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"keyledger console session",
    ).derive(master)
