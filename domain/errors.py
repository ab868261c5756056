"""Domain errors: what the ApiKey aggregate refuses, and why."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for every rule the domain enforces."""


class InvalidValue(DomainError):
    """A value breaks a rule; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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
