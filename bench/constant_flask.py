"""A Flask app answering POST /v1/auth with a constant JSON body: what the
auth endpoint would cost if it were an ordinary Flask view doing nothing.

Served as ``bench.constant_flask:create_app()``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app() -> Flask:
    app = Flask("constant_flask")

    @app.post("/v1/auth")
    def authorize() -> tuple[dict[str, Any], int]:
        return {
            "allowed": True,
            "key_id": "5b0f6c1e-2d0a-4b7e-9a55-0d3c2f1e9b10",
            "dev_key": "Zm9vYmFyYmF6cXV4cXV1eDEy",
            "permissions": ["send", "verify"],
        }, 200

    return app
