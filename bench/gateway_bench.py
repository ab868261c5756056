"""Forward auth and change-feed polling, against one keyledger gunicorn.

- ``/v1/auth/forward`` throughput as a ratio of ``POST /v1/auth``, both
  served by the same gunicorn (hops 1, as behind nginx), alternating;
- what 50 decision caches polling ``GET /v1/changes`` twice a second (the
  real ``keyledger_client``, in a separate process at the lowest CPU
  priority) cost ``/v1/auth``: its throughput with the pollers running over
  without them, and a poll's server CPU counted in auth calls.

    .venv/bin/python bench/gateway_bench.py                 # ~3 minutes
    .venv/bin/python bench/gateway_bench.py --keys 1000 --duration 3 --runs 1
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auth_bench import GUNICORN_SETTINGS, prepare_store
from fill_store import BOOTSTRAP_TOKEN, CLIENT_IP, SECRET_KEY
from served_app import (
    Target,
    server_cpu_seconds,
    start,
    stop,
    write_gunicorn_config,
    wrk,
)

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
POLLER = """
import sys, time
from keyledger_client import Client
url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
clients = [Client(url, cache=True, service_token=token, refresh_interval=0.5)
           for _ in range(count)]
print("polling", flush=True)
sys.stdin.read()  # until the bench closes our stdin
reads = sum(client.cache_stats().feed_reads for client in clients)
failures = sum(client.cache_stats().feed_failures for client in clients)
for client in clients:
    client.close()
print(reads, failures, flush=True)
"""


def measure(
    target: Target, script: str, path: str, credentials: Path, args: argparse.Namespace
) -> dict[str, Any]:
    command = [
        "wrk",
        *("-t", str(args.threads), "-c", str(args.connections)),
        *("-d", f"{args.duration:g}s", "--timeout", "5s", "--latency"),
        *("-s", str(BENCH / script)),
        f"http://127.0.0.1:{target.port}{path}",
    ]
    env = {**os.environ, "KEYLEDGER_BENCH_CREDENTIALS": str(credentials)}
    cpu_before = server_cpu_seconds(target)
    report = wrk(command, env, args.duration)
    cpu = server_cpu_seconds(target) - cpu_before
    return {
        "requests_per_s": report.requests_per_s,
        "requests": report.requests,
        "server_cpu_ms_per_request": round(cpu * 1000 / report.requests, 4),
        "p50_ms": round(report.latency_ms["50"], 3),
        "p99_ms": round(report.latency_ms["99"], 3),
        "non_2xx": report.non_2xx,
        "socket_errors": report.socket_errors,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def service_token(env: dict[str, str]) -> str:
    keyledger = Path(sys.executable).with_name("keyledger")
    name = f"bench-cache-{os.getpid()}-{time.time_ns()}"
    out = subprocess.run(
        [str(keyledger), "operators", "create", name, "--role", "service"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[-1]


def start_pollers(url: str, token: str, count: int) -> subprocess.Popen[str]:
    # The caches live in the OTP services, on their own machines; here they
    # share the two CPUs, so they run at the lowest priority: what remains
    # is what their polls cost the server.
    process = subprocess.Popen(
        ["nice", "-n", "19", sys.executable, "-c", POLLER, url, token, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "polling":
        raise RuntimeError("the pollers did not start")
    return process


def stop_pollers(process: subprocess.Popen[str]) -> tuple[int, int]:
    """Stops the pollers; returns how many feed reads succeeded and failed."""
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.close()
    reads, failures = process.stdout.readline().split()
    process.wait(timeout=30)
    return int(reads), int(failures)


def sequential_cpu(
    target: Target, token: str, credentials: Path, count: int
) -> dict[str, float]:
    """Server CPU per request, one request at a time (a fresh connection
    each, as the sync workers want): a poll against an auth call."""
    header = re.search(r'"(Basic [^"]+)"', credentials.read_text())
    assert header is not None
    calls: dict[str, tuple[str, str, dict[str, str], bytes | None]] = {
        "auth": (
            "POST",
            "/v1/auth",
            {"Authorization": header.group(1), "Content-Type": "application/json"},
            json.dumps({"api": "send", "client_ip": CLIENT_IP}).encode(),
        ),
        "poll": (
            "GET",
            "/v1/changes?after=0",
            {"Authorization": f"Bearer {token}"},
            None,
        ),
    }
    cost: dict[str, float] = {}
    for name, (method, path, headers, body) in calls.items():
        if name == "poll":  # ask from the head, as a cache in its rhythm does
            path = f"/v1/changes?after={head(target, token)}"
        cpu_before = server_cpu_seconds(target)
        for _ in range(count):
            connection = http.client.HTTPConnection("127.0.0.1", target.port)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status != 200:
                raise RuntimeError(f"{name} answered {response.status}")
        cost[name] = (server_cpu_seconds(target) - cpu_before) * 1000 / count
    return cost


def idle_auth_rate() -> float | None:
    """/v1/auth's rate from the auth benchmark's last run, if any: measured
    on the same machine while idle, same gunicorn settings."""
    try:
        report = json.loads((BENCH / "results" / "auth.json").read_text())
        per_target = report["summary"]["per_target"]
        # auth_bench names targets app/worker-class (it used to be app alone).
        auth = per_target.get("keyledger/sync") or per_target["keyledger"]
        return float(auth["requests_per_s_median"])
    except (OSError, KeyError, ValueError):
        return None


def head(target: Target, token: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{target.port}/v1/changes",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(json.loads(response.read())["position"])


def polls_served(target: Target, token: str) -> None:
    """Sanity check: the feed answers the pollers' question."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{target.port}/v1/changes",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200, response.status
        json.loads(response.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--store", type=Path, default=Path("/tmp/keyledger-auth-bench"))
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "gateway.json")
    args = parser.parse_args(argv)

    credentials = prepare_store(args.store, args.keys, args.sample, args.fresh)
    config = write_gunicorn_config(args.store, GUNICORN_SETTINGS)
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{args.store / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        "KEYLEDGER_TRUSTED_PROXY_HOPS": "1",
    }
    target = Target("keyledger", "wsgi:app", env)
    token = service_token(env)
    runs: dict[str, list[dict[str, Any]]] = {
        "auth": [],
        "forward": [],
        "auth_while_polled": [],
    }
    kinds = {
        "auth": ("auth.lua", "/v1/auth"),
        "forward": ("forward.lua", "/v1/auth/forward"),
        "auth_while_polled": ("auth.lua", "/v1/auth"),
    }
    start(target, config, args.store / "gateway-bench.log")
    try:
        polls_served(target, token)
        saved = args.duration
        args.duration = 2.0
        measure(target, "auth.lua", "/v1/auth", credentials, args)  # warm-up
        measure(target, "forward.lua", "/v1/auth/forward", credentials, args)
        args.duration = saved
        for round_ in range(args.runs):
            for name, (script, path) in kinds.items():
                pollers = None
                if name == "auth_while_polled":
                    pollers = start_pollers(
                        f"http://127.0.0.1:{target.port}", token, args.pollers
                    )
                    time.sleep(1.0)  # let every cache settle into its rhythm
                try:
                    result = measure(target, script, path, credentials, args)
                finally:
                    if pollers is not None:
                        result_polls = stop_pollers(pollers)
                if pollers is not None:
                    result["feed_reads"], result["feed_failures"] = result_polls
                runs[name].append(result)
                print(
                    f"run {round_ + 1} {name:18} {result['requests_per_s']:9,.0f} "
                    f"req/s  p50 {result['p50_ms']:6.2f} ms  p99 "
                    f"{result['p99_ms']:6.2f} ms  cpu/req "
                    f"{result['server_cpu_ms_per_request']:.3f} ms  load "
                    f"{result['load_average_1min']:.1f}  non-2xx {result['non_2xx']}"
                )
        sequential = [
            sequential_cpu(target, token, credentials, args.sequential)
            for _ in range(args.runs)
        ]
        for cost in sequential:
            print(f"server CPU ms per request, one at a time: {cost}")
    finally:
        stop(target)

    median = {
        name: statistics.median(r["requests_per_s"] for r in rs)
        for name, rs in runs.items()
    }
    cpu = {
        name: statistics.median(r["server_cpu_ms_per_request"] for r in rs)
        for name, rs in runs.items()
    }
    per_round_forward = [
        f["requests_per_s"] / a["requests_per_s"]
        for f, a in zip(runs["forward"], runs["auth"], strict=True)
    ]
    per_round_polled = [
        p["requests_per_s"] / a["requests_per_s"]
        for p, a in zip(runs["auth_while_polled"], runs["auth"], strict=True)
    ]
    summary = {
        "requests_per_s_median": median,
        "server_cpu_ms_per_request_median": cpu,
        "forward_over_auth": round(median["forward"] / median["auth"], 3),
        "forward_over_auth_per_round": [round(r, 3) for r in per_round_forward],
        "forward_over_auth_by_cpu": round(cpu["auth"] / cpu["forward"], 3),
        "auth_polled_over_auth": round(median["auth_while_polled"] / median["auth"], 3),
        "auth_polled_over_auth_per_round": [round(r, 3) for r in per_round_polled],
        "sequential_server_cpu_ms": {
            name: round(statistics.median(c[name] for c in sequential), 4)
            for name in ("auth", "poll")
        },
    }
    # What the polls take from /v1/auth when the caches run on their own
    # machines (as they do: in the OTP services): their server CPU, in auth
    # calls (a poll costs `poll/auth` of one), against the auth rate.
    poll_over_auth = (
        summary["sequential_server_cpu_ms"]["poll"]
        / summary["sequential_server_cpu_ms"]["auth"]
    )
    polls_per_s = args.pollers / 0.5
    summary["poll_cost_in_auth_calls"] = round(poll_over_auth, 3)
    summary["polls_share_of_auth_capacity"] = round(
        polls_per_s * poll_over_auth / median["auth"], 4
    )
    idle = idle_auth_rate()
    if idle:
        summary["auth_rate_idle_machine"] = idle
        summary["polls_share_of_auth_capacity_idle_machine"] = round(
            polls_per_s * poll_over_auth / idle, 4
        )
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "keys": args.keys,
            "credentials_drawn_from": args.sample,
            "runs": args.runs,
            "seconds_per_run": args.duration,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "pollers": args.pollers,
            "poll_interval_s": 0.5,
            "gunicorn": GUNICORN_SETTINGS,
            "trusted_proxy_hops": 1,
            "order": "auth, forward, auth with pollers; repeated",
        },
        "runs": runs,
        "sequential_server_cpu_ms": sequential,
        "summary": summary,
        "targets": {"forward_over_auth_min": 0.95, "auth_polled_over_auth_min": 0.95},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    failed = sum(r["non_2xx"] for rs in runs.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
