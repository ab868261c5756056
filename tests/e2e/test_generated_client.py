"""The served OpenAPI document is complete enough to build a client from.

The document validates (openapi-spec-validator); then openapi-python-client
generates a client from it, at test time, into ``tmp_path``, and that
client, with no hand-written HTTP, drives a real gunicorn through the whole
lifecycle, history, audit pages and both exports.
"""

from __future__ import annotations

import base64
import csv
import importlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer

PACKAGE = "keyledger_generated"


class Generated:
    """The generated package: ``gen.api("keys.post_v1_keys")`` etc."""

    def __init__(self, root: ModuleType, base_url: str) -> None:
        self.root = root
        self.base_url = base_url
        client_module = self.module("client")
        self.admin = client_module.AuthenticatedClient(
            base_url=base_url, token=ADMIN_TOKEN
        )
        self.client_module = client_module

    def module(self, name: str) -> Any:
        return importlib.import_module(f"{PACKAGE}.{name}")

    def api(self, name: str) -> Any:
        return self.module(f"api.{name}")

    def model(self, name: str) -> Any:
        return getattr(self.module("models"), name)

    def basic(self, dev_key: str, dev_secret: str) -> Any:
        token = base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()
        return self.client_module.AuthenticatedClient(
            base_url=self.base_url, token=token, prefix="Basic"
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    tmp = tmp_path_factory.mktemp("generated-client")
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{tmp / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
    }
    with GunicornServer(env, workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def document(server: GunicornServer) -> dict[str, Any]:
    response = server.request("GET", "/openapi.json")
    assert response.status == 200
    return dict(response.json())


@pytest.fixture(scope="module")
def gen(
    server: GunicornServer,
    document: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Generated]:
    tmp = tmp_path_factory.mktemp("generated")
    spec = tmp / "openapi.json"
    spec.write_text(json.dumps(document))
    config = tmp / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: nothing to fetch
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--output-path",
            str(tmp / PACKAGE),
            "--config",
            str(config),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(tmp))
    try:
        yield Generated(importlib.import_module(PACKAGE), server.base)
    finally:
        sys.path.remove(str(tmp))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_the_document_validates(document: dict[str, Any]) -> None:
    validate(document)


@pytest.mark.parametrize(
    "path",
    ["/v1/auth", "/v1/auth/forward", "/v1/changes", "/healthz", "/metrics", "/v1/keys"],
)
def test_the_document_describes_every_path(document: dict[str, Any], path: str) -> None:
    assert path in document["paths"]


def test_operator_operations_declare_the_bearer_scheme(
    document: dict[str, Any],
) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            expected = {
                "/v1/auth": [{"devKey": []}],
                "/v1/auth/forward": [{"devKey": []}],
                "/healthz": [],
                "/metrics": [],
            }.get(path, [{"operator": []}])
            assert operation.get("security") == expected, (method, path)
            if expected == [{"operator": []}]:
                assert {"401", "403", "503"} <= set(operation["responses"])


def test_forward_auth_is_declared_for_any_method_with_its_headers(
    document: dict[str, Any],
) -> None:
    forward = document["paths"]["/v1/auth/forward"]
    assert {"get", "post"} <= set(forward)
    for operation in forward.values():
        assert {"200", "401", "403", "422", "503"} == set(operation["responses"])
        (api_header,) = operation["parameters"]
        assert (api_header["in"], api_header["name"], api_header["required"]) == (
            "header",
            "X-Keyledger-Api",
            True,
        )
        assert api_header["schema"]["enum"] == ["send", "verify"]
        allowed = operation["responses"]["200"]
        assert {
            "X-Keyledger-Key-Id",
            "X-Keyledger-Dev-Key",
            "X-Keyledger-Permissions",
        } == set(allowed["headers"])
        assert "X-Keyledger-Reason" in operation["responses"]["403"]["headers"]
    allowed_schema = document["components"]["schemas"]["AuthAllowed"]
    assert "expires_at" in allowed_schema["required"]


def test_the_change_feed_is_declared_with_its_errors(document: dict[str, Any]) -> None:
    (operations,) = [document["paths"]["/v1/changes"]]
    assert set(operations) == {"get"}
    feed = operations["get"]
    assert {"200", "401", "403", "422", "503"} == set(feed["responses"])
    assert [parameter["name"] for parameter in feed["parameters"]] == ["after"]
    changes = document["components"]["schemas"]["Changes"]
    assert set(changes["required"]) == {"items", "position"}


def _create(gen: Generated, **fields: Any) -> Any:
    body = gen.model("KeyCreate")(
        permissions=[gen.model("KeyCreatePermissionsItem")("send")], **fields
    )
    answer = gen.api("keys.post_v1_keys").sync_detailed(client=gen.admin, body=body)
    assert answer.status_code == 201
    return answer


def _auth(gen: Generated, dev_key: str, dev_secret: str) -> Any:
    body = gen.model("AuthRequest")(
        api=gen.model("AuthRequestApi")("send"), client_ip="203.0.113.9"
    )
    return gen.api("auth.post_v1_auth").sync_detailed(
        client=gen.basic(dev_key, dev_secret), body=body
    )


def test_the_whole_lifecycle(gen: Generated) -> None:
    created = _create(gen, description="generated", expires_at="2099-01-31")
    key = created.parsed
    assert created.headers["Location"].endswith(str(key.id))
    assert isinstance(key.created_at, datetime)
    assert key.expires_at == datetime.fromisoformat("2099-01-31T23:59:59+00:00")
    assert _auth(gen, key.dev_key, key.dev_secret).parsed.allowed is True

    got = gen.api("keys.get_v1_keys_key_id").sync_detailed(
        str(key.id), client=gen.admin
    )
    assert got.headers["ETag"] == f'"{key.version}"'
    listed = gen.api("keys.get_v1_keys").sync(client=gen.admin, q="generated")
    assert [item.id for item in listed.items] == [key.id]

    patch = gen.api("keys.patch_v1_keys_key_id")
    body = gen.model("KeyPatch")(description="renamed")
    stale = patch.sync_detailed(
        str(key.id), client=gen.admin, body=body, if_match='"0"'
    )
    assert stale.status_code == 412
    assert stale.parsed.code == 412
    changed = patch.sync(
        str(key.id), client=gen.admin, body=body, if_match=got.headers["ETag"]
    )
    assert changed.description == "renamed"

    secret = gen.api("keys.get_v1_keys_key_id_secret").sync(
        str(key.id), client=gen.admin
    )
    assert secret.dev_secret == key.dev_secret
    reset = gen.api("keys.post_v1_keys_key_id_reset_secret").sync(
        str(key.id), client=gen.admin
    )
    assert _auth(gen, key.dev_key, key.dev_secret).status_code == 401
    disabled = gen.api("keys.post_v1_keys_key_id_disable").sync(
        str(key.id), client=gen.admin
    )
    assert disabled.status.value == "disabled"
    denied = _auth(gen, key.dev_key, reset.dev_secret)
    assert (denied.status_code, denied.parsed.reason.value) == (403, "key_disabled")
    gen.api("keys.post_v1_keys_key_id_enable").sync(str(key.id), client=gen.admin)
    assert _auth(gen, key.dev_key, reset.dev_secret).parsed.allowed is True

    deleted = gen.api("keys.delete_v1_keys_key_id").sync_detailed(
        str(key.id), client=gen.admin
    )
    assert deleted.status_code == 204
    gone = gen.api("keys.get_v1_keys_key_id").sync_detailed(
        str(key.id), client=gen.admin
    )
    assert (gone.status_code, gone.parsed.message) == (404, "no such key")


def test_a_422_names_every_offending_field(gen: Generated) -> None:
    body = gen.model("KeyCreate")(
        permissions=[], description="two\nlines", ip_whitelist=["nowhere"]
    )
    answer = gen.api("keys.post_v1_keys").sync_detailed(client=gen.admin, body=body)
    assert answer.status_code == 422
    fields = set(answer.parsed.errors.additional_properties)
    assert fields == {"permissions", "description", "ip_whitelist"}


def test_history_and_audit_pages(gen: Generated) -> None:
    key = _create(gen, description="paged").parsed
    for n in range(3):
        gen.api("keys.patch_v1_keys_key_id").sync(
            str(key.id),
            client=gen.admin,
            body=gen.model("KeyPatch")(description=f"{n}"),
        )
    history = gen.api("audit.get_v1_keys_key_id_history").sync(
        str(key.id), client=gen.admin
    )
    assert [item.type_.value for item in history.items] == [
        "created",
        *["description_changed"] * 3,
    ]
    feed = gen.api("audit.get_v1_audit")
    seen: list[int] = []
    page = feed.sync(client=gen.admin, key_id=key.id, limit=2)
    seen += [item.position for item in page.items]
    while page.next_:
        page = feed.sync(client=gen.admin, key_id=key.id, limit=2, after=page.next_)
        seen += [item.position for item in page.items]
    assert seen == [item.position for item in history.items]
    assert all(isinstance(item.occurred_at, datetime) for item in history.items)


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_both_exports(gen: Generated, form: str) -> None:
    key = _create(gen, description=f"export {form}").parsed
    export = gen.api("audit.get_v1_audit_export")
    answer = export.sync_detailed(
        client=gen.admin,
        format_=gen.model("GetV1AuditExportFormat")(form),
        key_id=key.id,
    )
    assert answer.status_code == 200
    assert int(answer.headers["X-Keyledger-Export-Through"]) >= 1
    text = answer.parsed
    assert isinstance(text, str)
    if form == "jsonl":
        items = [json.loads(line) for line in text.splitlines()]
    else:
        items = list(csv.DictReader(io.StringIO(text)))
    assert [(item["key_id"], item["type"]) for item in items] == [
        (str(key.id), "created")
    ]
