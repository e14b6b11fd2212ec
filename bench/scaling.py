"""Throughput across server workers: the demo on uvicorn with 1 and with 2 worker processes, under concurrent clients.

Both servers run at once on the same data directory (the SQLite store and the
access log are shared by processes, as in production); rounds alternate in a
shuffled order between (workers, protected or unprotected), each round
``--concurrency`` keep-alive clients reading single patients for ``--round``
seconds. It shows whether the guard's per-request cost scales across processes
(each worker holds its own engine instances) or serialises somewhere (the
store's or the access log's write lock).

``--json`` prints the figures as one JSON line last: requests per second for each
(workers, variant), ``ratio_1w`` / ``ratio_2w`` (protected over unprotected) and
``scaling_protected`` / ``scaling_unprotected`` (2 workers over 1).

    .venv/bin/python -m bench.scaling [--rounds 6] [--round 3] [--concurrency 8] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp

from accessguard.demo.app import PatientDirectory, build
from bench.decision import CAEN
from bench.timing import report

REPO = Path(__file__).resolve().parents[1]
DATA_DIR_VARIABLE = "ACCESSGUARD_BENCH_DATA"
WORKERS = (1, 2)


def app() -> Any:
    """The uvicorn factory: each worker builds its own guard on the shared data directory; ``/open`` is unprotected."""
    data_dir = Path(os.environ[DATA_DIR_VARIABLE])
    protected, _ = build(data_dir)
    unprotected = PatientDirectory(data_dir / "patients.db").app()

    async def both(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/open/"):
            await unprotected(dict(scope, path=scope["path"].removeprefix("/open")), receive, send)
        else:
            await protected(scope, receive, send)

    return both


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(data_dir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "bench.scaling:app", "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, cwd=REPO, env={**os.environ, DATA_DIR_VARIABLE: str(data_dir)})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"the {workers}-worker server did not start")


def session_cookie(url: str, data_dir: Path) -> str:
    """Log dr.martin in with password and TOTP once; the session lives in the shared store, so every server takes it."""
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "dr.martin")
    with httpx.Client(base_url=url, headers={"x-forwarded-for": CAEN.decode()}) as client:
        assert client.post("/login", json={"username": "dr.martin", "password": account["password"]}).status_code == 200
        response = client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(account["totp_secret"]).now()})
        assert response.status_code == 200, response.text
        return str(client.cookies["accessguard_session"])


async def load(url: str, prefix: str, cookie: str, concurrency: int, seconds: float) -> int:
    """Requests answered 200 by ``concurrency`` keep-alive clients in ``seconds``; any other answer stops the run."""
    deadline = time.perf_counter() + seconds
    headers = {"x-forwarded-for": CAEN.decode(), "cookie": f"accessguard_session={cookie}"}

    async def client(number: int) -> int:
        served = 0
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            while time.perf_counter() < deadline:
                response = await http.get(f"{prefix}/patients/pat-{1 + (number * 7 + served) % 40:04d}")
                if response.status_code != 200:
                    raise SystemExit(f"{url}{prefix}: {response.status_code} {response.text[:200]}")
                served += 1
        return served

    return sum(await asyncio.gather(*(client(n) for n in range(concurrency))))


def measure(data_dir: Path, rounds: int, seconds: float, concurrency: int) -> dict[str, float]:
    _, guard = build(data_dir)  # make the demo's data once, before the workers race for it
    guard.close()
    servers = {workers: start(data_dir, workers) for workers in WORKERS}
    try:
        cookie = session_cookie(servers[WORKERS[0]][1], data_dir)
        variants = [(workers, name) for workers in WORKERS for name in ("protected", "unprotected")]
        served = dict.fromkeys(variants, 0)
        spent = dict.fromkeys(variants, 0.0)
        shuffle = random.Random(4).shuffle
        for round_number in range(rounds + 1):  # the first round warms every worker up and is not counted
            shuffle(variants)
            for workers, name in variants:
                started = time.perf_counter()
                count = asyncio.run(load(servers[workers][1], "" if name == "protected" else "/open", cookie, concurrency, seconds))
                if round_number:
                    served[workers, name] += count
                    spent[workers, name] += time.perf_counter() - started
        rps = {key: served[key] / spent[key] for key in served}
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(10)
    figures: dict[str, float] = {f"{name}_{workers}w_rps": round(rps[workers, name], 1) for workers, name in sorted(rps)}
    for workers in WORKERS:
        figures[f"ratio_{workers}w"] = round(rps[workers, "protected"] / rps[workers, "unprotected"], 3)
    for name in ("protected", "unprotected"):
        figures[f"scaling_{name}"] = round(rps[2, name] / rps[1, name], 3)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="counted rounds per variant")
    parser.add_argument("--round", type=float, default=3.0, help="seconds per round")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent keep-alive clients")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report(measure(Path(tmp), args.rounds, args.round, args.concurrency), args.json)


if __name__ == "__main__":
    main()
