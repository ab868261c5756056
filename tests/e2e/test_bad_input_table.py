"""Every kind of bad input probing found, sent to every endpoint it can
reach, on both stores: each answer is a 4xx in the contract's error shape,
and nothing is recorded (the audit feed holds the same events after)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from tests.support.http import ApiClient, basic

OVERFLOW = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00"]
BAD_TEXT = ["a\ud800b", "a\u202eb", "a\u200db", "nul\x00byte", "tab\tx"]
BAD_IF_MATCH = ['"\u00b2"', "9" * 5000, '"1\u0663"', "garbage", '"1", "2"']
BAD_NETWORKS = ["fe80::1%eth0", "10.0.0.1/8", "not-an-ip", "1.2.3.4\x00"]
GARBLED_JSON = ["{", "not json", '{"a": 1}}', "\u00ff\u00fe"]
KEY_ACTIONS = ["disable", "enable", "reset-secret"]


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def id_spellings(key_id: str) -> list[str]:
    return [
        f"urn:uuid:{key_id}",
        "%7B" + key_id + "%7D",
        key_id.replace("-", ""),
        "\uff10" + key_id[1:],  # a full-width digit first
        "%00",
        "not-a-key",
    ]


def cases(key: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(label, method, path, request arguments) for each bad request."""
    kid = key["id"]
    for moment in OVERFLOW:
        quoted = moment.replace("+", "%2B")
        yield (
            "expiry-overflow",
            "POST",
            "/v1/keys",
            {"json": {"permissions": ["send"], "expires_at": moment}},
        )
        yield (
            "expiry-overflow",
            "PATCH",
            f"/v1/keys/{kid}",
            {"json": {"expires_at": moment}},
        )
        yield "as_of-overflow", "GET", f"/v1/keys/{kid}?as_of={quoted}", {}
        yield "since-overflow", "GET", f"/v1/audit?since={quoted}", {}
        yield "until-overflow", "GET", f"/v1/audit?until={quoted}", {}
    for text in BAD_TEXT:
        yield (
            "description",
            "POST",
            "/v1/keys",
            {"json": {"permissions": ["send"], "description": text}},
        )
        yield "description", "PATCH", f"/v1/keys/{kid}", {"json": {"description": text}}
    for text in ["%00", "a%00b", "%1b%5B31m"]:
        yield "q-control", "GET", f"/v1/keys?q={text}", {}
        yield "actor-control", "GET", f"/v1/audit?actor={text}", {}
    for tag in BAD_IF_MATCH:
        headers = {"If-Match": tag}
        yield (
            "if-match",
            "PATCH",
            f"/v1/keys/{kid}",
            {"json": {"description": "x"}, "headers": headers},
        )
        yield "if-match", "DELETE", f"/v1/keys/{kid}", {"headers": headers}
        for action in KEY_ACTIONS:
            yield "if-match", "POST", f"/v1/keys/{kid}/{action}", {"headers": headers}
    for micros in [str(10**30), str(-(10**30)), "9" * 5000, "x"]:
        yield "key-cursor", "GET", f"/v1/keys?after={cursor(f'{micros}:{kid}')}", {}
    for raw in ["audit:0", "audit:" + "9" * 40, "audit:-1", "other:5"]:
        yield "audit-cursor", "GET", f"/v1/audit?after={cursor(raw)}", {}
    for network in BAD_NETWORKS:
        yield (
            "whitelist",
            "POST",
            "/v1/keys",
            {"json": {"permissions": ["send"], "ip_whitelist": [network]}},
        )
        yield (
            "whitelist",
            "PATCH",
            f"/v1/keys/{kid}",
            {"json": {"ip_whitelist": [network]}},
        )
    for spelling in id_spellings(kid):
        for method, suffix in [
            ("GET", ""),
            ("PATCH", ""),
            ("DELETE", ""),
            ("GET", "/secret"),
            ("GET", "/history"),
        ] + [("POST", f"/{a}") for a in KEY_ACTIONS]:
            body = {"json": {"description": "x"}} if method == "PATCH" else {}
            yield "id-spelling", method, f"/v1/keys/{spelling}{suffix}", body
        yield "id-spelling", "GET", f"/v1/audit?key_id={spelling}", {}
    for limit in ["%EF%BC%95", "0", "501", "-1", "9" * 5000, "five"]:
        yield "limit", "GET", f"/v1/keys?limit={limit}", {}
        yield "limit", "GET", f"/v1/audit?limit={limit}", {}
    for body in GARBLED_JSON:
        raw = {"data": body.encode("latin-1"), "content_type": "application/json"}
        yield "garbled-json", "POST", "/v1/keys", raw
        yield "garbled-json", "PATCH", f"/v1/keys/{kid}", raw
        for action in KEY_ACTIONS:
            yield "garbled-json", "POST", f"/v1/keys/{kid}/{action}", raw
    not_json = {"data": "permissions=send", "content_type": "text/plain"}
    yield "not-json", "POST", "/v1/keys", not_json
    yield "not-json", "PATCH", f"/v1/keys/{kid}", not_json
    huge = {"json": {"permissions": ["send"], "description": "x" * 70_000}}
    yield "too-large", "POST", "/v1/keys", huge
    yield (
        "too-large",
        "PATCH",
        f"/v1/keys/{kid}",
        {"json": {"description": "x" * 70_000}},
    )
    for path in ["/v1/keys", f"/v1/keys/{kid}", f"/v1/keys/{kid}/secret", "/v1/audit"]:
        yield "unknown-method", "PUT", path, {}
    yield "unknown-query", "GET", "/v1/keys?sort=asc", {}
    yield "unknown-query", "GET", f"/v1/keys/{kid}?verbose=1", {}
    yield "unknown-query", "GET", "/v1/audit?page=2", {}
    yield (
        "unknown-field",
        "POST",
        "/v1/keys",
        {"json": {"permissions": ["send"], "owner": "x"}},
    )
    yield "unknown-field", "PATCH", f"/v1/keys/{kid}", {"json": {"status": "disabled"}}


def auth_cases(key: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    good = basic(key["dev_key"], key["dev_secret"])
    for client_ip in ["fe80::1%eth0", "1.2.3.4\x00", "999.1.1.1", "", "\ud800"]:
        yield (
            "client_ip",
            {"json": {"api": "send", "client_ip": client_ip}, "headers": good},
        )
    yield "api", {"json": {"api": "admin", "client_ip": "1.2.3.4"}, "headers": good}
    nul = "Basic " + base64.b64encode(b"dev\x00key:secret").decode()
    for header in [nul, "Basic \u00e9\u00e9", "Basic !!!", "Bearer x", ""]:
        yield (
            "credentials",
            {
                "json": {"api": "send", "client_ip": "1.2.3.4"},
                "headers": {"Authorization": header},
            },
        )
    for body in GARBLED_JSON:
        yield (
            "garbled-json",
            {
                "data": body.encode("latin-1"),
                "content_type": "application/json",
                "headers": good,
            },
        )
    yield (
        "not-json",
        {"data": "api=send", "content_type": "text/plain", "headers": good},
    )
    yield (
        "too-large",
        {
            "json": {"api": "send", "client_ip": "1.2.3.4", "p": "x" * 5000},
            "headers": good,
        },
    )


def event_count(api: ApiClient) -> int:
    feed = api.get("/v1/audit?format=jsonl")
    return len(feed.get_data(as_text=True).splitlines())


def test_every_bad_input_on_every_endpoint_is_a_4xx_and_records_nothing(
    api: ApiClient,
) -> None:
    key = api.create_key(description="kept", ip_whitelist=["203.0.113.0/24"])
    before_events = event_count(api)
    before_key = api.get(f"/v1/keys/{key['id']}").json
    wrong: list[str] = []
    sent = 0

    for label, method, path, kwargs in cases(key):
        headers = {**api.headers, **kwargs.pop("headers", {})}
        response = api.client.open(path, method=method, headers=headers, **kwargs)
        sent += 1
        body = response.get_json(silent=True) or {}
        shaped = (
            body.get("code") == response.status_code
            and isinstance(body.get("status"), str)
            and isinstance(body.get("message"), str)
        )
        if not (400 <= response.status_code < 500 and shaped):
            wrong.append(
                f"{label} {method} {path[:80]} -> {response.status_code} {body}"
            )

    for label, kwargs in auth_cases(key):
        response = api.client.post("/v1/auth", **kwargs)
        sent += 1
        body = response.get_json(silent=True) or {}
        if not (400 <= response.status_code < 500 and body.get("allowed") is False):
            wrong.append(f"auth {label} -> {response.status_code} {body}")

    assert wrong == [], f"{len(wrong)} of {sent} answers:\n" + "\n".join(wrong)
    assert sent > 150
    assert event_count(api) == before_events
    assert api.get(f"/v1/keys/{key['id']}").json == before_key
