"""The DevSecret format: a fixed prefix, random base62 text, a checksum.

``kls_`` + 43 base62 characters (256 bits of randomness) + 6 base62
characters of CRC32 over everything before them. The prefix lets secret
scanners find a leaked secret with one regular expression; the checksum lets
them (and ``keyledger secrets check``) drop look-alikes offline, without
asking the service. The checksum is no protection: anyone can compute it.
Secrets issued before this format (plain URL-safe base64) keep working.
"""

from __future__ import annotations

import re
import string
import zlib
from typing import Final

PREFIX: Final = "kls_"
ALPHABET: Final = string.digits + string.ascii_uppercase + string.ascii_lowercase
# 62**43 > 2**256: the random part alone carries at least 256 bits.
RANDOM_LENGTH: Final = 43
CHECKSUM_LENGTH: Final = 6  # 62**6 > 2**32: every CRC32 value fits
LENGTH: Final = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH

# For secret scanners (documented in docs/secrets.md): the whole token, not
# part of a longer word.
SCANNER_PATTERN: Final = (
    r"\bkls_[0-9A-Za-z]{" + str(RANDOM_LENGTH + CHECKSUM_LENGTH) + r"}\b"
)
_WELL_FORMED = re.compile(
    re.escape(PREFIX) + "[0-9A-Za-z]{" + str(RANDOM_LENGTH + CHECKSUM_LENGTH) + "}"
)


def checksum(text: str) -> str:
    """CRC32 of ``text``, as fixed-width base62."""
    value = zlib.crc32(text.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def dev_secret_from(random_text: str) -> str:
    """The full secret for ``random_text`` (RANDOM_LENGTH base62 characters)."""
    if len(random_text) != RANDOM_LENGTH or any(c not in ALPHABET for c in random_text):
        msg = f"expected {RANDOM_LENGTH} base62 characters"
        raise ValueError(msg)
    body = PREFIX + random_text
    return body + checksum(body)


def problem_with(text: str) -> str | None:
    """Why ``text`` is not a well-formed keyledger DevSecret, or None if it is."""
    if not text.startswith(PREFIX):
        return f"does not start with {PREFIX!r}"
    if len(text) != LENGTH:
        return f"has {len(text)} characters; a DevSecret has {LENGTH}"
    if not _WELL_FORMED.fullmatch(text):
        return "has characters outside 0-9, A-Z, a-z after the prefix"
    body, check = text[:-CHECKSUM_LENGTH], text[-CHECKSUM_LENGTH:]
    if checksum(body) != check:
        return "checksum does not match (mistyped, truncated or not a DevSecret)"
    return None
