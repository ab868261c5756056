"""Domain errors: what the ApiKey aggregate refuses, and why."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DomainError(Exception):
    """Base class for every rule the domain enforces."""


class InvalidValue(DomainError):
    """A value breaks a rule; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @property
    def errors(self) -> dict[str, list[str]]:
        """Every offending field with its messages."""
        return {self.field: [self.message]}


class InvalidValues(InvalidValue):
    """Several values break rules at once; ``errors`` names each field, so
    a caller can fix them all in one go."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        field, messages = next(iter(errors.items()))
        super().__init__(field, " ".join(messages))
        self._errors = errors
        self.args = ("; ".join(f"{f}: {' '.join(m)}" for f, m in errors.items()),)

    @property
    def errors(self) -> dict[str, list[str]]:
        return self._errors


def check_all(checks: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Runs every check, collecting each :class:`InvalidValue` rather than
    stopping at the first; the results by name when all passed."""
    results: dict[str, T] = {}
    problems: dict[str, list[str]] = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except InvalidValue as invalid:
            for field, messages in invalid.errors.items():
                problems.setdefault(field, []).extend(messages)
    if problems:
        raise InvalidValues(problems)
    return results


class KeyDeleted(DomainError):
    """The key was deleted; it accepts no further change."""

    def __init__(self) -> None:
        super().__init__("the key was deleted")


class KeyNotDeleted(DomainError):
    """Only a deleted key can be restored."""

    def __init__(self) -> None:
        super().__init__("the key is not deleted; only a deleted key can be restored")


class MissingActor(DomainError):
    """An event was about to be recorded without saying who caused it."""

    def __init__(self) -> None:
        super().__init__("no actor is set for this change")
