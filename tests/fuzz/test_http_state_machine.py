"""A hypothesis state machine over the HTTP API of a real gunicorn: any
sequence of creates, changes, secret resets and reveals, disables, enables,
deletes and /v1/auth calls, checked against a model after every step (the
key as served, its history, and what /v1/auth answers).

Bounded for `make test` (KEYLEDGER_STATEFUL_EXAMPLES, default 8 sequences of
up to 20 steps); `make fuzz` runs more."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer
from tests.support.http import basic, bearer

EXAMPLES = int(os.environ.get("KEYLEDGER_STATEFUL_EXAMPLES", "8"))
ADMIN = bearer(ADMIN_TOKEN)
APIS = ("send", "verify")


@dataclass
class ModelKey:
    id: str
    dev_key: str
    secret: str
    permissions: tuple[str, ...]
    description: str = ""
    enabled: bool = True
    version: int = 1
    history: list[str] = field(default_factory=lambda: ["created"])


descriptions = st.one_of(
    st.text(
        st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=30
    ),
    st.sampled_from(["a\nb", "a\u202eb", "x" * 256]),
)
permission_sets = st.sampled_from([["send"], ["verify"], ["send", "verify"]])


class KeyLifecycle(RuleBasedStateMachine):
    server: GunicornServer

    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, ModelKey] = {}

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        return self.server.request(method, path, body, {**ADMIN, **headers})

    @rule(target=keys, permissions=permission_sets, description=descriptions)
    def create(self, permissions: list[str], description: str) -> Any:
        response = self.call(
            "POST",
            "/v1/keys",
            {"permissions": permissions, "description": description},
        )
        if not _valid_description(description):
            assert response.status == 422, response.body
            assert "description" in response.json()["errors"]
            return multiple()  # nothing goes into the bundle
        assert response.status == 201, response.body
        body = response.json()
        key = ModelKey(
            body["id"],
            body["dev_key"],
            body["dev_secret"],
            tuple(sorted(permissions)),
            description,
        )
        self.model[key.id] = key
        return key.id

    @rule(key_id=keys, description=descriptions)
    def change_description(self, key_id: str, description: str) -> None:
        key = self.model[key_id]
        response = self.call(
            "PATCH", f"/v1/keys/{key_id}", {"description": description}
        )
        if not _valid_description(description):
            assert response.status == 422
            return
        assert response.status == 200, response.body
        if description != key.description:
            key.description = description
            self._recorded(key, "description_changed")

    @rule(key_id=keys, permissions=permission_sets)
    def change_permissions(self, key_id: str, permissions: list[str]) -> None:
        key = self.model[key_id]
        response = self.call(
            "PATCH", f"/v1/keys/{key_id}", {"permissions": permissions}
        )
        assert response.status == 200, response.body
        if tuple(sorted(permissions)) != key.permissions:
            key.permissions = tuple(sorted(permissions))
            self._recorded(key, "permissions_changed")

    @rule(key_id=keys, enable=st.booleans())
    def disable_or_enable(self, key_id: str, enable: bool) -> None:
        key = self.model[key_id]
        action = "enable" if enable else "disable"
        assert self.call("POST", f"/v1/keys/{key_id}/{action}").status == 200
        if key.enabled != enable:
            key.enabled = enable
            self._recorded(key, "enabled" if enable else "disabled")

    @rule(key_id=keys)
    def reset_secret(self, key_id: str) -> None:
        key = self.model[key_id]
        response = self.call("POST", f"/v1/keys/{key_id}/reset-secret")
        assert response.status == 200, response.body
        old, key.secret = key.secret, response.json()["dev_secret"]
        assert old != key.secret
        self._recorded(key, "secret_reset")
        refused = self._auth(key.dev_key, old, key.permissions[0])
        assert (refused.status, refused.json()["reason"]) == (
            401,
            "invalid_credentials",
        )

    @rule(key_id=keys)
    def reveal_secret(self, key_id: str) -> None:
        key = self.model[key_id]
        response = self.call("GET", f"/v1/keys/{key_id}/secret")
        assert response.status == 200
        assert response.json()["dev_secret"] == key.secret
        self._recorded(key, "secret_revealed")

    @rule(key_id=keys, stale=st.integers(min_value=0, max_value=3))
    def stale_if_match_changes_nothing(self, key_id: str, stale: int) -> None:
        key = self.model[key_id]
        version = key.version + 1 + stale
        response = self.call(
            "PATCH",
            f"/v1/keys/{key_id}",
            {"description": "stale"},
            **{"If-Match": f'"{version}"'},
        )
        assert response.status == 412
        assert response.headers["ETag"] == f'"{key.version}"'

    @rule(key_id=consumes(keys))
    def delete(self, key_id: str) -> None:
        key = self.model.pop(key_id)
        assert self.call("DELETE", f"/v1/keys/{key_id}").status == 204
        assert self.call("GET", f"/v1/keys/{key_id}").status == 404
        auth = self._auth(key.dev_key, key.secret, "send")
        assert auth.status == 401
        history = self.call("GET", f"/v1/keys/{key_id}/history").json()["items"]
        assert [item["type"] for item in history] == [*key.history, "deleted"]

    @rule(key_id=keys, api=st.sampled_from(APIS), right_secret=st.booleans())
    def authorize(self, key_id: str, api: str, right_secret: bool) -> None:
        key = self.model[key_id]
        secret = key.secret if right_secret else key.secret[::-1]
        response = self._auth(key.dev_key, secret, api)
        if not right_secret:
            expected = (401, "invalid_credentials")
        elif not key.enabled:
            expected = (403, "key_disabled")
        elif api not in key.permissions:
            expected = (403, "permission_denied")
        else:
            expected = (200, None)
        assert (response.status, response.json().get("reason")) == expected

    @invariant()
    def served_keys_match_the_model(self) -> None:
        for key in self.model.values():
            served = self.call("GET", f"/v1/keys/{key.id}")
            assert served.status == 200
            body = served.json()
            assert body["version"] == key.version
            assert served.headers["ETag"] == f'"{key.version}"'
            assert body["description"] == key.description
            assert tuple(body["permissions"]) == key.permissions
            assert body["status"] == ("enabled" if key.enabled else "disabled")
            history = self.call("GET", f"/v1/keys/{key.id}/history").json()
            assert [item["type"] for item in history["items"]] == key.history
            assert [item["version"] for item in history["items"]] == list(
                range(1, key.version + 1)
            )

    def _recorded(self, key: ModelKey, event_type: str) -> None:
        key.version += 1
        key.history.append(event_type)

    def _auth(self, dev_key: str, secret: str, api: str) -> Any:
        return self.server.request(
            "POST",
            "/v1/auth",
            {"api": api, "client_ip": "203.0.113.9"},
            basic(dev_key, secret),
        )


def _valid_description(text: str) -> bool:
    return len(text) <= 255 and not any(c in text for c in "\n\u202e")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    tmp: Path = tmp_path_factory.mktemp("stateful")
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{tmp / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }
    with GunicornServer(env, workers=2, log_path=tmp / "gunicorn.log") as running:
        yield running


@pytest.mark.slow
def test_any_sequence_of_http_calls_keeps_keys_history_and_auth_agreeing(
    server: GunicornServer,
) -> None:
    KeyLifecycle.server = server
    run_state_machine_as_test(
        KeyLifecycle,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
