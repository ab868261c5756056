"""Debian's nginx running the shipped reverse-proxy configuration
(deploy/nginx-keyledger.conf) in front of a test's keyledger, on a free
port with its own prefix.

Only the listening port and the upstream address are replaced; everything
else runs as shipped.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.gunicorn import ROOT
from tests.support.nginx import Nginx

SHIPPED = ROOT / "deploy" / "nginx-keyledger.conf"
SHIPPED_UPSTREAM = "keyledger.internal:8000"
SHIPPED_LISTEN = "listen 80;"


def shipped_configuration() -> str:
    return SHIPPED.read_text()


class KeyledgerProxy(Nginx):
    """The shipped configuration in front of keyledger at ``keyledger_port``."""

    def __init__(self, prefix: Path, keyledger_port: int) -> None:
        super().__init__(prefix, keyledger_port, upstream_port=0)

    def write_configuration(self) -> Path:
        text = shipped_configuration()
        for old, new in (
            (SHIPPED_UPSTREAM, f"127.0.0.1:{self.keyledger_port}"),
            (SHIPPED_LISTEN, f"listen 127.0.0.1:{self.port};"),
        ):
            assert old in text, f"the shipped configuration no longer says {old!r}"
            text = text.replace(old, new)
        temp = self.prefix / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        (self.prefix / "keyledger.conf").write_text(text)
        main = self.prefix / "nginx.conf"
        main.write_text(
            "daemon off;\n"
            "worker_processes 1;\n"
            f"pid {self.prefix}/nginx.pid;\n"
            f"error_log {self.prefix}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"    access_log {self.prefix}/access.log;\n"
            + "".join(
                f"    {kind}_temp_path {temp}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"    include {self.prefix}/keyledger.conf;\n"
            "}\n"
        )
        return main
