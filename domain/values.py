"""Value types of an API key: permissions, IP whitelist, expiry, description.

Each ``parse_*`` function takes what a caller typed and returns the
normalised value the aggregate stores, or raises :class:`InvalidValue`
naming the field.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Final

from domain.errors import InvalidValue

DESCRIPTION_MAX_LENGTH: Final = 255
IP_WHITELIST_MAX_ENTRIES: Final = 1000
# Control characters (Cc), line and paragraph separators (Zl, Zp), invisible
# format characters such as bidi overrides and joiners (Cf: U+202E, U+200D,
# U+2066-2069, U+FEFF) that can disguise text in a console, and unpaired
# UTF-16 surrogates (Cs), which JSON can carry but UTF-8 cannot store.
REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ONE_LINE = "must be one line without control characters (newline and tab included)"
_DESCRIPTION_REFUSALS: Final = {
    "Cc": _ONE_LINE,
    "Zl": _ONE_LINE,
    "Zp": _ONE_LINE,
    "Cf": "must not contain invisible formatting characters (bidi controls, "
    "zero-width joiners, byte order marks)",
    "Cs": "must not contain unpaired surrogates",
}

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Permission(enum.StrEnum):
    """An OTP API a key may call."""

    SEND = "send"
    VERIFY = "verify"


class KeyStatus(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    EXPIRED = "expired"


def parse_description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValue("description", "must be a string")
    if len(value) > DESCRIPTION_MAX_LENGTH:
        raise InvalidValue(
            "description", f"must be at most {DESCRIPTION_MAX_LENGTH} characters"
        )
    for character in value:
        category = unicodedata.category(character)
        if category in REFUSED_CATEGORIES:
            raise InvalidValue("description", _DESCRIPTION_REFUSALS[category])
    return value


def parse_permissions(values: object) -> tuple[str, ...]:
    """A non-empty subset of the APIs, sorted and without duplicates."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidValue("permissions", "must be a list of API names")
    chosen: set[str] = set()
    for value in values:
        try:
            chosen.add(Permission(value).value)
        except ValueError:
            allowed = ", ".join(p.value for p in Permission)
            raise InvalidValue(
                "permissions", f"unknown API {value!r}; allowed: {allowed}"
            ) from None
    if not chosen:
        raise InvalidValue("permissions", "must name at least one API")
    return tuple(sorted(chosen))


def parse_network(entry: object) -> IpNetwork:
    """One whitelist entry: an address or CIDR network, host bits refused."""
    if not isinstance(entry, str):
        raise InvalidValue("ip_whitelist", f"entry {entry!r} is not a string")
    text = entry.strip()
    if "%" in text:
        raise InvalidValue(
            "ip_whitelist", f"entry {entry!r} has a zone id; use the plain address"
        )
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise InvalidValue(
            "ip_whitelist",
            f"entry {entry!r} is not an IPv4/IPv6 address or CIDR network",
        ) from None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            # Stored as IPv4 so a mapped entry and its IPv4 form are one rule.
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def format_network(network: IpNetwork) -> str:
    """Single hosts are written as plain addresses, networks in CIDR form."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return network.with_prefixlen


def parse_ip_whitelist(values: object) -> tuple[str, ...]:
    """Normalised, de-duplicated, sorted entries; empty means any IP."""
    if values is None:
        return ()
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidValue("ip_whitelist", "must be a list of addresses or networks")
    entries = list(values)
    if len(entries) > IP_WHITELIST_MAX_ENTRIES:
        raise InvalidValue(
            "ip_whitelist", f"must have at most {IP_WHITELIST_MAX_ENTRIES} entries"
        )
    networks = {parse_network(entry) for entry in entries}
    ordered = sorted(
        networks, key=lambda n: (n.version, n.network_address, n.prefixlen)
    )
    return tuple(format_network(n) for n in ordered)


def parse_expiry(value: object, now: datetime) -> datetime | None:
    """``None`` never expires; a bare date means through the end of that day, UTC.

    The result is whole seconds in UTC and must lie in the future of ``now``.
    """
    if value is None or value == "":
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = _end_of_day(value)
    elif isinstance(value, str):
        moment = _parse_expiry_text(value)
    else:
        raise InvalidValue("expires_at", "must be an RFC 3339 time, a date, or null")
    if moment.tzinfo is None:
        raise InvalidValue("expires_at", "must include a time zone (use Z for UTC)")
    try:
        moment = moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        # An offset can carry a time near year 1 or 9999 out of range in UTC.
        raise InvalidValue(
            "expires_at", "must lie between years 1 and 9999 in UTC"
        ) from None
    if moment <= now:
        raise InvalidValue("expires_at", "must be in the future")
    return moment


def _parse_expiry_text(text: str) -> datetime:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return _end_of_day(date.fromisoformat(text))
        except ValueError:
            raise InvalidValue("expires_at", f"{text!r} is not a valid date") from None
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", text
    ):
        raise InvalidValue(
            "expires_at",
            "must be an RFC 3339 time (2027-01-31T23:59:59Z), a date (2027-01-31) "
            "or null",
        )
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValue("expires_at", f"{text!r} is not a valid time") from None


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """A key is valid through its ``expires_at`` second, and expired after it."""
    if expires_at is None:
        return False
    return expired_at_epoch(int(expires_at.timestamp()), now.timestamp())


def expired_at_epoch(expires_at: int | None, now: float) -> bool:
    """:func:`is_expired` on epoch seconds, for the auth path."""
    return expires_at is not None and now >= expires_at + 1


def key_status(enabled: bool, expires_at: datetime | None, now: datetime) -> KeyStatus:
    """The one status rule: disabled wins over expired.

    ``projections.queries`` filters listings with the same rule in SQL;
    a test runs both over the same keys and compares.
    """
    if not enabled:
        return KeyStatus.DISABLED
    if is_expired(expires_at, now):
        return KeyStatus.EXPIRED
    return KeyStatus.ENABLED


def networks_of(entries: Sequence[str]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(entry) for entry in entries)


def ip_allowed(networks: Sequence[IpNetwork], client_ip: str | IpAddress) -> bool:
    """True when the whitelist is empty or one entry contains ``client_ip``
    (text, or an address the caller parsed already: the auth path's case).

    An IPv4-mapped IPv6 address is checked in both forms, so it matches the
    IPv4 entries as well as IPv6 ones such as ``::/0``.
    """
    if not networks:
        return True
    address = (
        ipaddress.ip_address(client_ip) if isinstance(client_ip, str) else client_ip
    )
    candidates: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = (address,)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        candidates = (address, address.ipv4_mapped)
    return any(
        candidate in network
        for network in networks
        for candidate in candidates
        if candidate.version == network.version
    )
