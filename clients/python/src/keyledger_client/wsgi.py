"""``KeyledgerMiddleware``: the same gate for any WSGI application.

app = KeyledgerMiddleware(app, client, api_for=lambda environ: (
    "send" if environ["PATH_INFO"].startswith("/send") else
    "verify" if environ["PATH_INFO"].startswith("/verify") else None))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from keyledger_client._decision import APIS, KeyledgerError
from keyledger_client._gate import (
    RETRY_AFTER,
    UNAVAILABLE_BODY,
    decide,
    denial_body,
    denial_headers,
)
from keyledger_client.client import Client

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
DECISION_KEY = "keyledger.decision"
_STATUS = {
    401: "401 Unauthorized",
    403: "403 Forbidden",
    503: "503 Service Unavailable",
}


class KeyledgerMiddleware:
    """Asks keyledger before ``app`` runs, for every request ``api_for``
    names an API for (``"send"``, ``"verify"``; ``None``: no check).

    The client address is ``REMOTE_ADDR`` (wrap a ProxyFix outside this
    middleware to take it from ``X-Forwarded-For``). An allowed request
    reaches ``app`` with the Decision in ``environ["keyledger.decision"]``;
    a denial answers ``401``/``403`` with keyledger's body; when keyledger
    cannot answer, ``503`` with ``Retry-After``, and ``app`` never runs.
    """

    def __init__(
        self,
        app: WSGIApp,
        client: Client,
        api_for: Callable[[Environ], str | None],
    ) -> None:
        self.app = app
        self.client = client
        self.api_for = api_for

    def __call__(
        self, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        api = self.api_for(environ)
        if api is None:
            return self.app(environ, start_response)
        if api not in APIS:
            raise ValueError(f"api_for returned {api!r}: not 'send', 'verify' or None")
        try:
            decision = decide(
                self.client,
                environ.get("HTTP_AUTHORIZATION", ""),
                api,
                environ.get("REMOTE_ADDR") or "",
            )
        except KeyledgerError:
            return _answer(
                start_response,
                503,
                UNAVAILABLE_BODY,
                [("Content-Type", "application/json"), ("Retry-After", RETRY_AFTER)],
            )
        if not decision.allowed:
            return _answer(
                start_response,
                decision.status,
                denial_body(decision),
                denial_headers(decision),
            )
        environ[DECISION_KEY] = decision
        return self.app(environ, start_response)


def _answer(
    start_response: StartResponse,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]],
) -> list[bytes]:
    start_response(_STATUS[status], [*headers, ("Content-Length", str(len(body)))])
    return [body]
