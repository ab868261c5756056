"""What the Flask decorator and the WSGI middleware share: reading the
caller's Basic credentials, asking keyledger, and the answers they send."""

from __future__ import annotations

import base64
import binascii
import json
import logging

from keyledger_client._decision import Decision, KeyledgerError
from keyledger_client.client import Client

logger = logging.getLogger("keyledger_client")
RETRY_AFTER = "1"
UNAVAILABLE_BODY = json.dumps(
    {"allowed": False, "message": "authorization is unavailable; retry shortly"}
).encode()


def basic_credentials(header: str) -> tuple[str, str]:
    """``(dev_key, dev_secret)`` from an Authorization header, or empties."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "", ""
    dev_key, _, dev_secret = decoded.partition(":")
    return dev_key, dev_secret


def decide(client: Client, authorization: str, api: str, remote_addr: str) -> Decision:
    """The decision, or :class:`KeyledgerError` when none could be had
    (keyledger unavailable, or no usable client address)."""
    dev_key, dev_secret = basic_credentials(authorization)
    try:
        return client.authorize(dev_key, dev_secret, api=api, client_ip=remote_addr)
    except KeyledgerError as error:
        logger.warning("keyledger could not decide: %s", error)
        raise


def denial_body(decision: Decision) -> bytes:
    return json.dumps({"allowed": False, "reason": decision.reason}).encode()


def denial_headers(decision: Decision) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json")]
    if decision.status == 401:
        headers.append(("WWW-Authenticate", 'Basic realm="keyledger"'))
    return headers
