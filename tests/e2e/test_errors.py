"""Every error status of api.md, with the contract's body: a status, a message,
``errors`` naming each offending field for a 422, never a stack trace or a
secret."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.credentials import ADMIN_TOKEN
from tests.support.http import ApiClient, bearer

# Every management call on one key, as (method, path under /v1/keys/{id}).
KEY_CALLS = [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("GET", "/secret"),
    ("POST", "/reset-secret"),
    ("POST", "/disable"),
    ("POST", "/enable"),
]
# The calls that honour If-Match.
GUARDED_CALLS = [call for call in KEY_CALLS if call[0] != "GET"]


def call(
    client: FlaskClient,
    method: str,
    path: str,
    token: str | None = ADMIN_TOKEN,
    **kwargs: Any,
) -> Any:
    headers = {**(bearer(token) if token else {}), **kwargs.pop("headers", {})}
    if method == "PATCH" and "data" not in kwargs:
        kwargs.setdefault("json", {"description": "changed"})
    return client.open(path, method=method, headers=headers, **kwargs)


@pytest.fixture
def key(api: ApiClient) -> dict[str, Any]:
    return api.create_key(description="target")


@pytest.fixture
def responses(client: FlaskClient) -> Iterator[list[Any]]:
    """Every response the test received, checked for leaks at the end."""
    seen: list[Any] = []
    original = client.open

    def recording_open(*args: Any, **kwargs: Any) -> Any:
        response = original(*args, **kwargs)
        seen.append(response)
        return response

    client.open = recording_open  # type: ignore[method-assign]
    yield seen
    client.open = original  # type: ignore[method-assign]


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert body["code"] == status
    assert body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return dict(body)


# 400


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/keys"), ("PATCH", "/v1/keys/{id}")]
)
@pytest.mark.parametrize("raw", ['{"permissions": ["send"]', "{'a': 1}", "nul"])
def test_malformed_json_is_400(
    client: FlaskClient, key: dict[str, Any], method: str, path: str, raw: str
) -> None:
    response = call(
        client,
        method,
        path.format(id=key["id"]),
        data=raw,
        content_type="application/json",
    )
    assert_error(response, 400)


# 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("klo_not-a-real-token"),
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": ADMIN_TOKEN},
    ],
    ids=["missing", "unknown", "empty", "wrong-scheme", "no-scheme"],
)
@pytest.mark.parametrize(("method", "path"), [("GET", ""), *GUARDED_CALLS])
def test_missing_or_unknown_token_is_401_with_a_bearer_challenge(
    client: FlaskClient,
    key: dict[str, Any],
    headers: dict[str, str],
    method: str,
    path: str,
) -> None:
    response = call(
        client, method, f"/v1/keys/{key['id']}{path}", token=None, headers=headers
    )
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/v1/keys", None), ("POST", "/v1/keys", {"permissions": ["send"]})],
)
def test_collection_calls_without_a_token_are_401(
    client: FlaskClient, method: str, path: str, body: Any
) -> None:
    response = call(client, method, path, token=None, json=body)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# 403


def test_a_role_that_may_not_do_this_is_403(api: ApiClient, app: Any) -> None:
    token = app.extensions["keyledger"].operators.create("audrey", "auditor")
    response = api.as_token(token).create()
    assert_error(response, 403)
    assert "auditor" in response.json["message"]


# 404


@pytest.fixture(params=["unknown", "malformed", "deleted", "upper-case-garbage"])
def missing_id(request: pytest.FixtureRequest, api: ApiClient) -> str:
    if request.param == "unknown":
        return str(uuid.uuid4())
    if request.param == "malformed":
        return "not-a-uuid"
    if request.param == "upper-case-garbage":
        return "ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ"
    deleted = api.create_key()["id"]
    assert api.delete(deleted).status_code == 204
    return str(deleted)


@pytest.mark.parametrize(("method", "path"), KEY_CALLS)
def test_unknown_malformed_or_deleted_id_is_404(
    client: FlaskClient, missing_id: str, method: str, path: str
) -> None:
    response = call(client, method, f"/v1/keys/{missing_id}{path}")
    assert assert_error(response, 404)["message"] == "no such key"


# 412


@pytest.mark.parametrize(("method", "path"), GUARDED_CALLS)
@pytest.mark.parametrize("if_match", ['"2"', '"0"', "2", "garbage"])
def test_stale_if_match_is_412_and_records_nothing(
    client: FlaskClient,
    api: ApiClient,
    key: dict[str, Any],
    method: str,
    path: str,
    if_match: str,
) -> None:
    response = call(
        client, method, f"/v1/keys/{key['id']}{path}", headers={"If-Match": if_match}
    )
    assert_error(response, 412)
    assert response.headers["ETag"] == '"1"'
    assert api.get(f"/v1/keys/{key['id']}").json == {
        k: v for k, v in key.items() if k != "dev_secret"
    }


# 415


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/keys"), ("PATCH", "/v1/keys/{id}")]
)
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"permissions": ["send"]}', "text/plain"),
        ("permissions=send", "application/x-www-form-urlencoded"),
        ("<key/>", "application/xml"),
        (None, None),
    ],
    ids=["text", "form", "xml", "no-body"],
)
def test_a_body_that_is_not_json_is_415(
    client: FlaskClient,
    key: dict[str, Any],
    method: str,
    path: str,
    data: str | None,
    content_type: str | None,
) -> None:
    response = call(
        client,
        method,
        path.format(id=key["id"]),
        data=data if data is not None else b"",
        content_type=content_type,
    )
    assert_error(response, 415)


# 422


TOO_LONG = "x" * 256

CREATE_422 = [
    ({"description": TOO_LONG}, "description", None),
    ({"description": "two\nlines"}, "description", None),
    ({"description": "tab\there"}, "description", None),
    ({"description": 7}, "description", None),
    ({"permissions": []}, "permissions", None),
    ({"permissions": ["send", "fly"]}, "permissions", "fly"),
    ({"permissions": "send"}, "permissions", None),
    ({"permissions": None}, "permissions", None),
    ({"ip_whitelist": ["10.0.0.0/8", "300.1.2.3"]}, "ip_whitelist", "300.1.2.3"),
    ({"ip_whitelist": ["example.com"]}, "ip_whitelist", "example.com"),
    ({"ip_whitelist": ["10.0.0.1/8"]}, "ip_whitelist", "10.0.0.1/8"),
    ({"ip_whitelist": "10.0.0.0/8"}, "ip_whitelist", None),
    ({"expires_at": "2001-01-01"}, "expires_at", None),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at", None),
    ({"expires_at": "next tuesday"}, "expires_at", None),
    ({"expires_at": "2027-02-30"}, "expires_at", None),
    ({"expires_at": "2099-01-01T00:00:00"}, "expires_at", None),
    ({"expires_at": 1234567890}, "expires_at", None),
    ({"colour": "red"}, "colour", None),
]


@pytest.mark.parametrize(("fields", "field", "named"), CREATE_422)
def test_invalid_create_body_is_422_naming_the_field(
    api: ApiClient, fields: dict[str, Any], field: str, named: str | None
) -> None:
    body = assert_error(api.create(**fields), 422)
    assert field in body["errors"]
    assert field in body["message"]
    if named is not None:
        assert named in " ".join(body["errors"][field])


def test_create_without_permissions_is_422(client: FlaskClient) -> None:
    response = call(client, "POST", "/v1/keys", json={"description": "no perms"})
    assert "permissions" in assert_error(response, 422)["errors"]


@pytest.mark.parametrize(("fields", "field", "named"), CREATE_422)
def test_invalid_patch_body_is_422_and_changes_nothing(
    api: ApiClient,
    key: dict[str, Any],
    fields: dict[str, Any],
    field: str,
    named: str | None,
) -> None:
    body = assert_error(api.patch(key["id"], fields), 422)
    assert field in body["errors"]
    if named is not None:
        assert named in " ".join(body["errors"][field])
    assert api.get(f"/v1/keys/{key['id']}").json["version"] == 1


def test_patch_naming_no_field_is_422(api: ApiClient, key: dict[str, Any]) -> None:
    assert assert_error(api.patch(key["id"], {}), 422)["errors"]


def test_a_body_that_is_not_an_object_is_422(api: ApiClient) -> None:
    response = api.client.post("/v1/keys", json=["send"], headers=api.headers)
    assert assert_error(response, 422)["errors"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("status=bogus", "status"),
        ("after=not-a-cursor", "after"),
        ("after=%21%21%21", "after"),
        ("after=MTIzOm5vdC1hLXV1aWQ", "after"),  # base64 of "123:not-a-uuid"
        (f"q={TOO_LONG}", "q"),
        ("stauts=enabled", "stauts"),  # a typo is refused, not ignored
    ],
)
def test_invalid_list_query_is_422_naming_the_parameter(
    api: ApiClient, query: str, field: str
) -> None:
    body = assert_error(api.get(f"/v1/keys?{query}"), 422)
    assert field in body["errors"]


@pytest.mark.parametrize("limit", ["1", "500"])
def test_limit_bounds_are_accepted(api: ApiClient, limit: str) -> None:
    assert api.get(f"/v1/keys?limit={limit}").status_code == 200


# No leaks.


def test_no_error_body_echoes_a_secret_or_a_token(
    client: FlaskClient, api: ApiClient, responses: list[Any]
) -> None:
    issued = api.create_key()
    secret = issued["dev_secret"]
    path = f"/v1/keys/{issued['id']}"
    # A DevSecret pasted where it does not belong. (A whitelist entry or
    # permission is echoed on purpose: the contract asks to name it.)
    call(client, "GET", "/v1/keys", token=secret)
    call(client, "PATCH", path, json={"description": secret + "\n"})
    call(client, "GET", f"/v1/keys?after={secret}&status={secret}")
    call(client, "PATCH", path, data=f'{{"{secret}', content_type="application/json")
    call(client, "GET", f"/v1/keys/{secret}")
    call(client, "PATCH", path, json={"description": "x"}, headers={"If-Match": secret})
    errors = [r for r in responses if r.status_code >= 400]
    assert [r.status_code for r in errors] == [401, 422, 422, 400, 404, 412]
    for response in errors:
        text = response.get_data(as_text=True)
        assert secret not in text
        assert ADMIN_TOKEN not in text
        assert "Traceback" not in text
