"""Console sign-in: the session cookie, its lifetimes, revocation, sign-out
and CSRF, on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.api.context import services_of
from service.console.wiring import console_settings_of
from tests.conftest import open_app
from tests.support.console import ConsoleClient, MovableClock, movable_clock
from tests.support.credentials import ADMIN_TOKEN
from tests.support.http import ApiClient

COOKIE = "keyledger_console"


@pytest.fixture
def clock(app: Flask) -> MovableClock:
    moved = movable_clock()
    console_settings_of(app).clock = moved
    return moved


@pytest.fixture
def console(client: FlaskClient) -> ConsoleClient:
    return ConsoleClient(client)


@pytest.fixture
def signed_in(console: ConsoleClient) -> ConsoleClient:
    assert console.sign_in(ADMIN_TOKEN).status_code == 303
    return console


def set_cookie_header(response: Any) -> str:
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE)]
    assert found, "no session cookie was set"
    return str(found[-1])


def session_payload(app: Flask, cookie: str) -> dict[str, Any]:
    """The cookie's content: signed, not encrypted, so its holder can read it."""
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return dict(serializer.loads(value))


def test_pages_need_a_session(console: ConsoleClient) -> None:
    response = console.get("/console/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login")


def test_sign_in_page_names_its_controls(console: ConsoleClient) -> None:
    page = console.get("/console/login").get_data(as_text=True)
    assert '<label for="token">Operator token</label>' in page
    assert ">Sign in</button>" in page


def test_unknown_token_is_refused_beside_the_field(console: ConsoleClient) -> None:
    response = console.sign_in("klo_not-a-real-token")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="token-error"' in page
    assert "unknown or was revoked" in page
    assert console.get("/console/").status_code == 303


def test_cookie_is_httponly_strict_and_holds_no_token(
    app: Flask, console: ConsoleClient
) -> None:
    response = console.sign_in(ADMIN_TOKEN)
    cookie = set_cookie_header(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never return
    payload = session_payload(app, cookie)
    assert payload["operator"] == "admin"
    assert ADMIN_TOKEN not in json.dumps(payload)


def test_cookie_is_secure_over_https(console: ConsoleClient) -> None:
    https = {"base_url": "https://localhost"}
    form = console.get("/console/login", **https)
    response = console.client.post(
        "/console/login",
        data={"token": ADMIN_TOKEN, "csrf_token": _csrf(form)},
        headers={"Referer": "https://localhost/console/login"},
        **https,
    )
    assert response.status_code == 303
    assert "; Secure" in set_cookie_header(response)


@pytest.fixture
def proxied(config: dict[str, Any]) -> Iterator[Flask]:
    application = open_app({**config, "trusted_proxy_hops": 1})
    yield application
    services_of(application).close()


def test_cookie_is_secure_behind_a_trusted_https_proxy(proxied: Flask) -> None:
    client = proxied.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}
    form = client.get("/console/login", headers=forwarded)
    response = client.post(
        "/console/login",
        data={"token": ADMIN_TOKEN, "csrf_token": _csrf(form)},
        headers={**forwarded, "Referer": "https://localhost/console/login"},
    )
    assert response.status_code == 303
    assert "; Secure" in set_cookie_header(response)


def _csrf(page: Any) -> str:
    from tests.support.console import csrf_of

    return csrf_of(page)


def test_idle_session_ends(clock: MovableClock, console: ConsoleClient) -> None:
    signed_in = console
    signed_in.sign_in(ADMIN_TOKEN)
    clock.advance(minutes=29)
    assert signed_in.get("/console/").status_code == 200
    clock.advance(minutes=31)
    response = signed_in.get("/console/")
    assert response.status_code == 303
    assert "ended=expired" in response.headers["Location"]
    clock.advance(seconds=1)
    assert signed_in.get("/console/").status_code == 303  # it stays ended


def test_busy_session_still_ends_at_its_absolute_lifetime(
    clock: MovableClock, console: ConsoleClient
) -> None:
    console.sign_in(ADMIN_TOKEN)
    for _ in range(35):  # a request every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert console.get("/console/").status_code == 200
    clock.advance(minutes=21)
    response = console.get("/console/")
    assert response.status_code == 303
    assert "ended=expired" in response.headers["Location"]


def test_lifetimes_are_settings(config: dict[str, Any]) -> None:
    application = open_app({**config, "console_idle_timeout": 60})
    try:
        clock = movable_clock()
        console_settings_of(application).clock = clock
        console = ConsoleClient(application.test_client())
        console.sign_in(ADMIN_TOKEN)
        clock.advance(seconds=61)
        assert console.get("/console/").status_code == 303
    finally:
        services_of(application).close()


def test_revoking_the_token_ends_its_sessions(
    app: Flask, signed_in: ConsoleClient
) -> None:
    services_of(app).operators.create("bob", "admin", "klo_bob-token-xyz")
    bob = ConsoleClient(app.test_client())
    bob.sign_in("klo_bob-token-xyz")
    assert bob.get("/console/").status_code == 200
    services_of(app).operators.revoke("bob")
    response = bob.get("/console/")
    assert response.status_code == 303
    assert "ended=revoked" in response.headers["Location"]
    assert bob.sign_in("klo_bob-token-xyz").status_code == 422
    assert signed_in.get("/console/").status_code == 200  # others are untouched


def test_revoked_operator_cannot_post(app: Flask, api: ApiClient) -> None:
    services_of(app).operators.create("bob", "admin", "klo_bob-token-xyz")
    key = api.create_key(description="kept")
    bob = ConsoleClient(app.test_client())
    bob.sign_in("klo_bob-token-xyz")
    token = bob.csrf()
    services_of(app).operators.revoke("bob")
    response = bob.client.post(
        f"/console/keys/{key['id']}/disable", data={"csrf_token": token}
    )
    assert response.status_code == 303
    assert api.get(f"/v1/keys/{key['id']}").json["status"] == "enabled"


def test_sign_out_ends_the_session(signed_in: ConsoleClient) -> None:
    response = signed_in.post("/console/logout")
    assert response.status_code == 303
    assert "ended=signed_out" in response.headers["Location"]
    assert signed_in.get("/console/").status_code == 303


def _copy_of(app: Flask, console: ConsoleClient) -> ConsoleClient:
    """Another client holding the same session cookie (a copy of it)."""
    cookie = console.client.get_cookie(COOKIE, path="/console")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie(COOKIE, cookie.value, path="/console")
    return ConsoleClient(other)


def test_a_copy_of_the_cookie_stops_working_when_its_session_signs_out(
    app: Flask, signed_in: ConsoleClient, api: ApiClient
) -> None:
    key = api.create_key(description="kept")
    copy = _copy_of(app, signed_in)
    token = copy.csrf()  # the copy works until the sign-out
    assert copy.get("/console/").status_code == 200

    assert signed_in.post("/console/logout").status_code == 303

    page = copy.get("/console/")
    assert page.status_code == 303
    assert "ended=signed_out" in page.headers["Location"]
    refused = copy.client.post(
        f"/console/keys/{key['id']}/disable", data={"csrf_token": token}
    )
    assert refused.status_code == 303
    assert api.get(f"/v1/keys/{key['id']}").json["status"] == "enabled"


def test_signing_out_ends_only_that_session(
    app: Flask, signed_in: ConsoleClient
) -> None:
    other = ConsoleClient(app.test_client())
    assert other.sign_in(ADMIN_TOKEN).status_code == 303
    assert signed_in.post("/console/logout").status_code == 303
    assert other.get("/console/").status_code == 200


def test_a_session_made_without_an_id_ends(app: Flask, console: ConsoleClient) -> None:
    """Cookies from before sessions had ids cannot be signed out: they end."""
    response = console.sign_in(ADMIN_TOKEN)
    payload = session_payload(app, set_cookie_header(response))
    del payload["sid"]
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    old = app.test_client()
    old.set_cookie(COOKIE, serializer.dumps(payload), path="/console")
    page = old.get("/console/")
    assert page.status_code == 303
    assert "ended=expired" in page.headers["Location"]


def test_sign_outs_are_forgotten_once_their_sessions_would_have_ended(
    app: Flask, clock: MovableClock
) -> None:
    signouts = services_of(app).console_signouts
    lifetime = console_settings_of(app).absolute_timeout.total_seconds()
    first = ConsoleClient(app.test_client())
    first.sign_in(ADMIN_TOKEN)
    copy = _copy_of(app, first)
    first.post("/console/logout")
    first_session_id = session_payload(app, _cookie_of(copy))["sid"]
    assert signouts.ended(first_session_id)

    clock.advance(seconds=lifetime + 2)
    second = ConsoleClient(app.test_client())
    second.sign_in(ADMIN_TOKEN)
    second.post("/console/logout")  # removes the rows that can no longer matter

    assert not signouts.ended(first_session_id)
    # The copy ended anyway: its lifetime is over.
    page = copy.get("/console/")
    assert page.status_code == 303
    assert "ended=expired" in page.headers["Location"]


def _cookie_of(console: ConsoleClient) -> str:
    cookie = console.client.get_cookie(COOKIE, path="/console")
    assert cookie is not None
    return f"{COOKIE}={cookie.value}"


def test_post_without_csrf_token_is_refused(
    signed_in: ConsoleClient, api: ApiClient
) -> None:
    key = api.create_key()
    response = signed_in.post(f"/console/keys/{key['id']}/disable", csrf=False)
    assert response.status_code == 400
    assert "could not be accepted" in response.get_data(as_text=True)
    assert api.get(f"/v1/keys/{key['id']}").json["status"] == "enabled"


def test_csrf_token_of_another_session_is_refused(
    app: Flask, signed_in: ConsoleClient, api: ApiClient
) -> None:
    key = api.create_key()
    other = ConsoleClient(app.test_client())
    other.sign_in(ADMIN_TOKEN)
    response = signed_in.post(
        f"/console/keys/{key['id']}/disable", csrf=False
    ).status_code
    foreign = signed_in.client.post(
        f"/console/keys/{key['id']}/disable", data={"csrf_token": other.csrf()}
    )
    assert response == 400
    assert foreign.status_code == 400
    assert api.get(f"/v1/keys/{key['id']}").json["status"] == "enabled"


def test_sign_in_form_needs_its_csrf_token(console: ConsoleClient) -> None:
    response = console.client.post("/console/login", data={"token": ADMIN_TOKEN})
    assert response.status_code == 400
    assert console.get("/console/").status_code == 303


def test_json_api_needs_no_csrf_token(signed_in: ConsoleClient, api: ApiClient) -> None:
    assert api.create(description="by script").status_code == 201


def test_sign_in_redirects_only_inside_the_console(console: ConsoleClient) -> None:
    form = console.get("/console/login?next=https://evil.example/")
    response = console.client.post(
        "/console/login",
        data={
            "token": ADMIN_TOKEN,
            "csrf_token": _csrf(form),
            "next": "//evil.example",
        },
    )
    assert response.headers["Location"] == "/console/"


def test_pages_forbid_framing_and_foreign_assets(signed_in: ConsoleClient) -> None:
    response = signed_in.get("/console/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"
