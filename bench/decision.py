"""Decision overhead of the middleware, default (Wasm) engine + default SQLite store.

Two measurements of the demo's realistic endpoint (patient lookup in SQLite,
Starlette), protected and unprotected, interleaved in the same run:

- in process: the ASGI app called directly, so the difference of the
  latencies is the middleware's own overhead (p50, p99);
- over HTTP: one uvicorn server (a child process) serving both the protected
  app and the same app unprotected under ``/open``, loaded by one keep-alive
  client; the ratio of requests per second is the throughput ratio.

``--database postgresql://…`` (an empty database: the run upgrades it and makes
the demo accounts there) and ``--store redis://…`` measure a fleet host's set-up.

``--json`` prints ``{"p50_overhead_us", "p99_overhead_us", "throughput_ratio", ...}`` last.
``--engine regopy`` measures the same on rego-cpp.

    .venv/bin/python -m bench.decision [--requests 4000] [--engine wasm|regopy] [--database URL] [--store URL] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp

from accessguard.database import open_database
from accessguard.database.migrations import COMPONENTS, upgrade
from accessguard.demo.app import PatientDirectory, build
from accessguard.policy.engine import EMBEDDED_ENGINES
from bench.timing import percentile, report

REPO = Path(__file__).resolve().parents[1]
CAEN = b"192.0.2.10"


class Caller:
    """Calls an ASGI app directly: no sockets, so only the app's own cost is measured."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, bytes, list[Any]]:
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = sent[0]
        return start["status"], b"".join(m.get("body", b"") for m in sent[1:]), start.get("headers", [])


async def session_cookie(protected: Caller, data_dir: Path) -> bytes:
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.martin")
    json_type = (b"content-type", b"application/json")
    status, _, headers = await protected(
        "POST", "/login", [json_type], json.dumps({"username": "dr.martin", "password": account["password"]}).encode()
    )
    assert status == 200, status
    cookie = next(v for k, v in headers if k == b"set-cookie").split(b";")[0]
    code = pyotp.TOTP(account["totp_secret"]).now()
    status, body, headers = await protected(
        "POST", "/accessguard/step-up/totp", [json_type, (b"cookie", cookie)], json.dumps({"code": code}).encode()
    )
    assert status == 200, body
    return next(v for k, v in headers if k == b"set-cookie" and v.startswith(b"accessguard_session=")).split(b";")[0]


async def measure(data_dir: Path, requests: int, overrides: dict[str, str]) -> dict[str, float]:
    app, guard = build(data_dir, **overrides)
    protected = Caller(app)
    unprotected = Caller(PatientDirectory(data_dir / "patients.db").app())
    cookie = await session_cookie(protected, data_dir)
    headers = [(b"cookie", cookie), (b"x-forwarded-for", CAEN)]
    timings: dict[str, list[float]] = {"protected": [], "unprotected": []}
    # 40 distinct patients: below the doctor's soft limit, so every protected request is allowed.
    paths = [f"/patients/pat-{1 + i % 40:04d}" for i in range(requests)]
    for warmup in paths[:300]:
        await protected("GET", warmup, headers)
        await unprotected("GET", warmup, headers)
    for block in range(0, requests, 100):
        for name, caller in (("unprotected", unprotected), ("protected", protected)):
            for path in paths[block : block + 100]:
                started = time.perf_counter()
                status, _, _ = await caller("GET", path, headers)
                timings[name].append((time.perf_counter() - started) * 1e6)
                assert status == 200, (name, status)
    guard.close()
    p, u = timings["protected"], timings["unprotected"]
    return {
        "requests": requests,
        "unprotected_p50_us": round(statistics.median(u), 1),
        "unprotected_p99_us": round(percentile(u, 0.99), 1),
        "protected_p50_us": round(statistics.median(p), 1),
        "protected_p99_us": round(percentile(p, 0.99), 1),
        "p50_overhead_us": round(statistics.median(p) - statistics.median(u), 1),
        "p99_overhead_us": round(percentile(p, 0.99) - percentile(u, 0.99), 1),
        "throughput_ratio": round(statistics.fmean(u) / statistics.fmean(p), 3),
    }


def serve(data_dir: Path, port: int, overrides: dict[str, str]) -> None:
    """The HTTP server: protected app, and the same app unprotected under /open."""
    import uvicorn

    app, _ = build(data_dir, **overrides)
    open_app = PatientDirectory(data_dir / "patients.db").app()

    async def both(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/open/"):
            scope = dict(scope, path=scope["path"].removeprefix("/open"))
            await open_app(scope, receive, send)
        else:
            await app(scope, receive, send)

    uvicorn.run(both, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def measure_http(data_dir: Path, seconds: float, options: list[str]) -> dict[str, float]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "bench.decision", "--serve", str(data_dir), str(port), *options], cwd=REPO)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-forwarded-for": CAEN.decode()})
        for _ in range(100):
            try:
                client.get("/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.martin")
        assert client.post("/login", json={"username": "dr.martin", "password": account["password"]}).status_code == 200
        code = pyotp.TOTP(account["totp_secret"]).at(time.time() + 30)  # the in-process run used the current step
        time.sleep(0.01)
        response = client.post("/accessguard/step-up/totp", json={"code": code})
        assert response.status_code == 200, response.text
        served = {"protected": 0, "unprotected": 0}
        spent = {"protected": 0.0, "unprotected": 0.0}
        deadline = time.perf_counter() + seconds
        index = 0
        while time.perf_counter() < deadline:
            for name, prefix in (("unprotected", "/open"), ("protected", "")):
                started = time.perf_counter()
                for _ in range(50):
                    index += 1
                    response = client.get(f"{prefix}/patients/pat-{1 + index % 40:04d}")
                    assert response.status_code == 200, (name, response.text)
                spent[name] += time.perf_counter() - started
                served[name] += 50
        return {
            "http_unprotected_rps": round(served["unprotected"] / spent["unprotected"], 1),
            "http_protected_rps": round(served["protected"] / spent["protected"], 1),
            "throughput_ratio": round((served["protected"] / spent["protected"]) / (served["unprotected"] / spent["unprotected"]), 3),
        }
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="in-process requests per variant")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the HTTP run")
    parser.add_argument("--engine", choices=EMBEDDED_ENGINES, default=EMBEDDED_ENGINES[0], help="in-process engine (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    parser.add_argument("--database", metavar="URL", help="an empty PostgreSQL database for the records (default: SQLite)")
    parser.add_argument("--store", metavar="URL", help="the shared store, redis://… (default: SQLite)")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = {name: value for name, value in (("database", args.database), ("store_url", args.store)) if value}
    overrides["policy_engine"] = args.engine
    options = ["--engine", args.engine]
    options += [*(["--database", args.database] if args.database else []), *(["--store", args.store] if args.store else [])]
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), overrides)
        return
    if args.database:
        database = open_database(args.database)
        for component in COMPONENTS:
            upgrade(database, component)
        database.close()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(measure(Path(tmp), args.requests, overrides))
        figures["in_process_throughput_ratio"] = figures.pop("throughput_ratio")
        figures.update(measure_http(Path(tmp), args.seconds, options))
    report(figures, args.json)


if __name__ == "__main__":
    main()
