"""Slow and idle clients must not starve the workers (docs/serving.md).

Against a real gunicorn with the shipped default (gthread, 4 threads; two
workers here: 8 threads in all), and through the shipped buffering nginx
(deploy/nginx-keyledger.conf), many more slow connections than threads are
opened, and then an ordinary /v1/auth caller must still get its answers.
No duration is asserted: the only bound is the caller's generous socket
timeout, which turns a starved server into a failure instead of a hang.

gthread alone holds idle connections in its poller, not in threads, so they
cannot starve it; a client that dribbles its request holds a thread until
the request is complete, which only a buffering proxy in front prevents:
that case is tested through nginx.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.credentials import ADMIN_TOKEN
from tests.support.gunicorn import GunicornServer, service_env
from tests.support.http import basic, bearer
from tests.support.nginx import nginx_binary
from tests.support.nginx_proxy import KeyledgerProxy
from tests.support.slow_clients import SlowClients, dribbling

pytestmark = pytest.mark.slow

WORKERS = 2
THREADS = 4  # the shipped default (service/serving.py)
CALLER_TIMEOUT = 120.0  # a bound against hanging, not a speed goal


@pytest.fixture(scope="module")
def keyledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    root = tmp_path_factory.mktemp("slowloris")
    env = service_env(f"sqlite:///{root / 'keyledger.db'}", trusted_proxy_hops="1")
    server = GunicornServer(env, workers=WORKERS, log_path=root / "gunicorn.log")
    with server:
        yield server


@pytest.fixture(scope="module")
def key(keyledger: GunicornServer) -> dict[str, Any]:
    response = keyledger.request(
        "POST", "/v1/keys", {"permissions": ["send"]}, bearer(ADMIN_TOKEN)
    )
    assert response.status == 201, response.body
    return dict(response.json())


def auth_calls(port: int, key: dict[str, Any], calls: int) -> list[tuple[int, Any]]:
    """``calls`` POST /v1/auth on one kept-alive connection, then one more on
    a fresh connection: what an OTP service does."""
    headers = {
        **basic(key["dev_key"], key["dev_secret"]),
        "Content-Type": "application/json",
    }
    body = json.dumps({"api": "send", "client_ip": "203.0.113.7"})
    answers = []
    for connection_calls in (calls, 1):
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=CALLER_TIMEOUT
        )
        try:
            for _ in range(connection_calls):
                connection.request("POST", "/v1/auth", body=body, headers=headers)
                response = connection.getresponse()
                answers.append((response.status, json.loads(response.read())))
        finally:
            connection.close()
    return answers


def assert_all_allowed(answers: list[tuple[int, Any]], calls: int) -> None:
    assert len(answers) == calls + 1
    assert all(status == 200 and body["allowed"] for status, body in answers), answers


def test_the_default_keeps_an_auth_callers_connection_alive(
    keyledger: GunicornServer, key: dict[str, Any]
) -> None:
    # The point of gthread: an OTP service's next call reuses its connection.
    headers = {
        **basic(key["dev_key"], key["dev_secret"]),
        "Content-Type": "application/json",
    }
    body = json.dumps({"api": "send", "client_ip": "203.0.113.7"})
    connection = http.client.HTTPConnection("127.0.0.1", keyledger.port, timeout=30)
    try:
        sockets = []
        for _ in range(3):
            connection.request("POST", "/v1/auth", body=body, headers=headers)
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Connection") != "close"
            assert not response.will_close
            response.read()
            sockets.append(connection.sock)
        assert sockets[0] is not None
        assert sockets[1] is sockets[0]
        assert sockets[2] is sockets[0]
    finally:
        connection.close()


def test_the_default_serves_a_caller_past_idle_connections(
    keyledger: GunicornServer, key: dict[str, Any]
) -> None:
    # The default really is gthread with 4 threads per worker.
    assert len(keyledger.worker_pids()) == WORKERS
    slow = SlowClients(keyledger.port)
    try:
        slow.open_idle_kept_alive(5 * WORKERS * THREADS)
        # Each of these holds a thread until gunicorn gives up waiting for
        # its first byte and parks it in the poller: they delay the caller,
        # and must not stop it.
        slow.open_silent(2 * WORKERS * THREADS)
        assert slow.count == 7 * WORKERS * THREADS
        assert_all_allowed(auth_calls(keyledger.port, key, 10), 10)
    finally:
        slow.close()


@pytest.fixture(scope="module")
def proxy(
    keyledger: GunicornServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KeyledgerProxy]:
    nginx_binary()  # skip (or fail, with KEYLEDGER_REQUIRE_NGINX=1) first
    prefix: Path = tmp_path_factory.mktemp("proxy")
    nginx = KeyledgerProxy(prefix, keyledger.port)
    nginx.start()
    try:
        yield nginx
    finally:
        nginx.stop()


def test_the_caller_is_served_past_slow_clients_through_nginx(
    proxy: KeyledgerProxy, key: dict[str, Any]
) -> None:
    # The proxy works as a plain reverse proxy first.
    assert_all_allowed(auth_calls(proxy.port, key, 3), 3)
    many = 5 * WORKERS * THREADS
    slow = SlowClients(proxy.port)
    with dribbling(slow):
        slow.open_silent(many)
        slow.open_idle_kept_alive(many)
        slow.open_dribbling_headers(many)
        slow.open_dribbling_bodies(many)
        assert slow.count == 20 * WORKERS * THREADS
        assert_all_allowed(auth_calls(proxy.port, key, 10), 10)
