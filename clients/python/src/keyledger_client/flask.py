"""``require_key``: a Flask view decorator that lets only allowed calls in.

from keyledger_client.flask import require_key

app.config["KEYLEDGER_CLIENT"] = Client("http://keyledger:8000")

@app.post("/v1/otp/send")
@require_key("send")
def send(): ...  # flask.g.keyledger is the Decision
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, request

from keyledger_client._decision import APIS, KeyledgerError
from keyledger_client._gate import (
    RETRY_AFTER,
    UNAVAILABLE_BODY,
    decide,
    denial_body,
    denial_headers,
)
from keyledger_client.client import Client

F = TypeVar("F", bound=Callable[..., Any])


def require_key(api: str, client: Client | None = None) -> Callable[[F], F]:
    """Runs the view only when the request's Basic credentials may call
    ``api`` from ``request.remote_addr`` (after any ProxyFix the app applies).

    Denials answer ``401``/``403`` with keyledger's bodies; when keyledger
    cannot answer, ``503`` with ``Retry-After`` and the view does not run.
    Without ``client``, ``current_app.config["KEYLEDGER_CLIENT"]`` is used.
    """
    if api not in APIS:
        raise ValueError("api must be 'send' or 'verify'")

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            chosen = client or current_app.config["KEYLEDGER_CLIENT"]
            try:
                decision = decide(
                    chosen,
                    request.headers.get("Authorization", ""),
                    api,
                    request.remote_addr or "",
                )
            except KeyledgerError:
                return Response(
                    UNAVAILABLE_BODY,
                    status=503,
                    headers={"Retry-After": RETRY_AFTER},
                    content_type="application/json",
                )
            if not decision.allowed:
                return Response(
                    denial_body(decision),
                    status=decision.status,
                    headers=denial_headers(decision),
                )
            g.keyledger = decision
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate
