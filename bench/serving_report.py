"""The serving benchmark's summary: medians per cell, ratios to sync and
to the raw constant, and the table bench/README.md shows."""

from __future__ import annotations

import statistics
from typing import Any

SERVINGS = (
    "sync",
    "gthread4",
    "gthread8",
    "gevent",
    "nginx>sync",
    "nginx>sync, no upstream keepalive",
    "nginx>gthread4",
    "nginx>gthread4, no upstream keepalive",
)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cells: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        key = (run["serving"], run["app"], run["client"], run["connections"])
        cells.setdefault(key, []).append(run)
    rows = []
    for (serving, app, client, connections), rs in cells.items():
        rows.append(
            {
                "serving": serving,
                "app": app,
                "client": client,
                "connections": connections,
                "rounds": len(rs),
                "requests_per_s": statistics.median(r["requests_per_s"] for r in rs),
                "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                "server_cpu_ms_per_request": statistics.median(
                    r["server_cpu_ms_per_request"] for r in rs
                ),
                "non_2xx": sum(r["non_2xx"] for r in rs),
            }
        )
    by_key = {(r["serving"], r["app"], r["client"], r["connections"]): r for r in rows}
    for row in rows:
        same = (row["client"], row["connections"])
        sync = by_key.get(("sync", row["app"], *same))
        raw = by_key.get((row["serving"], "raw_wsgi", *same))
        if sync is not None:
            row["over_sync"] = round(row["requests_per_s"] / sync["requests_per_s"], 2)
        if row["app"] == "keyledger" and raw is not None:
            row["over_raw"] = round(row["requests_per_s"] / raw["requests_per_s"], 2)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The summary as bench/README.md shows it: one line per client kind,
    connections and serving, keyledger beside the raw constant."""
    by_key = {(r["serving"], r["app"], r["client"], r["connections"]): r for r in rows}
    servings = SERVINGS
    lines = [
        "| clients | c | serving | auth req/s | auth p50 / p99 ms | x sync "
        "| raw req/s | raw p50 / p99 ms | auth / raw |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cells = sorted({(r["client"], r["connections"]) for r in rows})
    for client, connections in sorted(cells, key=lambda c: (c[0] != "keepalive", c[1])):
        for serving in servings:
            auth = by_key.get((serving, "keyledger", client, connections))
            raw = by_key.get((serving, "raw_wsgi", client, connections))
            if auth is None or raw is None:
                continue
            lines.append(
                f"| {client} | {connections} | {serving} "
                f"| {auth['requests_per_s']:,.0f} "
                f"| {auth['p50_ms']:.1f} / {auth['p99_ms']:.1f} "
                f"| {auth.get('over_sync', 0):.2f} "
                f"| {raw['requests_per_s']:,.0f} "
                f"| {raw['p50_ms']:.1f} / {raw['p99_ms']:.1f} "
                f"| {auth.get('over_raw', 0):.2f} |"
            )
    return "\n".join(lines) + "\n"
