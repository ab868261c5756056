"""CPU per POST /v1/auth in-process: this tree against another (e.g. main),
same store, rounds interleaved, each round a fresh process per tree (see
bench/README.md, "Auth path at the limit").

The WSGI app (access layer, endpoint, lookup, decision, metrics, usage
counting) is called directly, no network: what a worker spends on keyledger
beyond what gunicorn spends on any app. A loaded machine blurs this far less
than a throughput run.

    git archive main | (mkdir -p /tmp/kl-main && tar -x -C /tmp/kl-main)
    .venv/bin/python bench/auth_cost.py --baseline /tmp/kl-main
    .venv/bin/python bench/auth_cost.py --baseline /tmp/kl-main --pause-us 300
    .venv/bin/python bench/auth_cost.py --baseline /tmp/kl-main --pause-us 300 \
        --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fill_store import BOOTSTRAP_TOKEN, CLIENT_IP, SECRET_KEY, open_store, timed_fill

from service.audit_signing import SETTING as SIGNING_KEY_SETTING
from service.audit_signing import rotate_signing_key

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter inside the tree measured: argv = store url,
# credentials file, calls, settings (JSON).
CHILD = """
import base64, io, json, os, sys, tempfile, time
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kl-cost-")
from service.app import create_app
url, pairs, calls = sys.argv[1], json.loads(open(sys.argv[2]).read()), int(sys.argv[3])
settings = json.loads(sys.argv[4])
client_ip = settings.pop("client_ip")
settings_pause = settings.pop("pause_us") / 1e6
app = create_app({"database_url": url, **settings})
body = json.dumps({"api": "send", "client_ip": client_ip}).encode()
headers = ["Basic " + base64.b64encode(f"{k}:{s}".encode()).decode() for k, s in pairs]
def start_response(status, headers, exc_info=None):
    if not status.startswith("200"):
        raise RuntimeError(status)
def call(header):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/auth",
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
               "HTTP_AUTHORIZATION": header, "REMOTE_ADDR": "127.0.0.1",
               "wsgi.input": io.BytesIO(body)}
    for _ in app(environ, start_response):
        pass
for header in headers:  # every key once: connections, parse caches
    call(header)
n = len(headers)
pause = settings_pause
if pause:
    # A pause before each call lets the processor's caches go cold, as
    # between requests in a served worker; only the calls are counted.
    cpu = wall = 0.0
    for i in range(calls):
        time.sleep(pause)
        c, w = time.thread_time(), time.perf_counter()
        call(headers[i % n])
        cpu += time.thread_time() - c
        wall += time.perf_counter() - w
    print(json.dumps({"cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6}))
    sys.exit(0)
cpu, wall = time.process_time(), time.perf_counter()
for i in range(calls):
    call(headers[i % n])
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(json.dumps({"cpu_us": cpu / calls * 1e6, "wall_us": wall / calls * 1e6}))
"""
SETTINGS = {
    "secret_key": SECRET_KEY,
    "bootstrap_token": BOOTSTRAP_TOKEN,
    "log_level": "WARNING",
    "client_ip": CLIENT_IP,
}


def measure(
    tree: Path, url: str, pairs: Path, calls: int, pause_us: int = 0
) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "KEYLEDGER_METRICS": "on"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            url,
            str(pairs),
            str(calls),
            json.dumps({**SETTINGS, "pause_us": pause_us}),
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another tree")
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=2_000, help="keys called")
    parser.add_argument("--calls", type=int, default=40_000, help="per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--pause-us",
        type=int,
        default=0,
        help="sleep before each call (caches go cold, as in a served worker)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL database to fill a fresh schema of (default: SQLite)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "auth_cost.json"
    )
    args = parser.parse_args(argv)
    store = Path(tempfile.mkdtemp(prefix="keyledger-auth-cost-"))
    try:
        url = f"sqlite:///{store / 'keyledger.db'}"
        if args.postgres:
            # Every PostgreSQL store signs its checkpoints with a key file.
            rotate_signing_key(store / "signing.pem")
            os.environ[SIGNING_KEY_SETTING] = str(store / "signing.pem")
            schema = f"kl_bench_cost_{os.getpid()}"
            url = f"{args.postgres}?schema={schema}"
        services = open_store(url)
        try:
            kept, _ = timed_fill(
                services, args.keys, keep_every=max(1, args.keys // args.sample)
            )
        finally:
            services.close()
        pairs = store / "pairs.json"
        pairs.write_text(json.dumps(kept))
        trees = {"this": ROOT, "baseline": args.baseline.resolve()}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        loads: list[float] = []
        for round_ in range(args.rounds):
            order = list(trees.items())
            if round_ % 2:
                order.reverse()
            for name, tree in order:
                result = measure(tree, url, pairs, args.calls, args.pause_us)
                runs[name].append(result)
                loads.append(round(os.getloadavg()[0], 2))
                print(
                    f"round {round_ + 1} {name:8} cpu {result['cpu_us']:6.1f} us/call"
                    f"  wall {result['wall_us']:6.1f} us/call  load {loads[-1]}"
                )
    finally:
        shutil.rmtree(store, ignore_errors=True)
        if args.postgres:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    medians = {
        name: {
            kind: round(statistics.median(r[kind] for r in rs), 2)
            for kind in ("cpu_us", "wall_us")
        }
        for name, rs in runs.items()
    }
    per_round = [
        round(b["cpu_us"] / t["cpu_us"], 3)
        for t, b in zip(runs["this"], runs["baseline"], strict=True)
    ]
    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "keys": args.keys,
            "keys_called": args.sample,
            "calls_per_round": args.calls,
            "rounds": args.rounds,
            "baseline": str(args.baseline),
            "pause_us": args.pause_us,
            "store": "postgresql" if args.postgres else "sqlite",
        },
        "runs": runs,
        "medians_us_per_call": medians,
        "baseline_over_this_cpu_per_round": per_round,
        "load_average_1min_range": [min(loads), max(loads)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(medians), "baseline/this per round", per_round)
    return 0


if __name__ == "__main__":
    sys.exit(main())
