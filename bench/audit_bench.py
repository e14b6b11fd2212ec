"""Audit benchmarks: access-log cost on the request path, and ``audit scope`` / ``audit verify`` on millions of entries.

    .venv/bin/python bench/audit_bench.py request-path [--requests 20000]
    .venv/bin/python bench/audit_bench.py scope [--entries 5000000]

Results go to docs/benchmarks.md, section "Audit". Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from accessguard.audit.access_log import AccessLog, DecisionRecord, Declaration
from accessguard.audit.chain import CheckpointSigner
from accessguard.audit.scope import breach_scope
from accessguard.audit.sealed_ids import PatientIdSealer
from accessguard.audit.settings import AuditSettings
from accessguard.audit.verify import verify
from accessguard.decision import Decision, Outcome
from accessguard.demo.app import build
from accessguard.facts import RequestFacts

DAY = 86400.0


class NullAccessLog:
    """The access log taken out of the request path, for the comparison."""

    def write(self, record: DecisionRecord) -> None:
        pass

    def served(self, decision_id: str | None, subject: str, route: str, patients: list[str], now: float) -> None:
        pass

    def emergency(self, subject: str, patient: str) -> Declaration | None:
        return None

    def flush(self, timeout: float = 10.0) -> None:
        pass

    def close(self) -> None:
        pass


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": round(ordered[len(ordered) // 2] * 1e6, 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 1),
        "mean_us": round(statistics.fmean(ordered) * 1e6, 1),
    }


def _request_loop(guard: Any, cookie: str, requests: int) -> list[float]:
    """check + app stand-in + settle for one professional reading 150 patients in turn."""
    samples = []
    for n in range(requests):
        patient = f"pat-{n % 150 + 1:04d}"
        facts = RequestFacts("GET", f"/patients/{patient}", "", {"cookie": cookie, "x-forwarded-for": "192.0.2.10"}, "127.0.0.1")
        body = json.dumps({"id": patient, "last_name": "Martin"}).encode()
        started = time.perf_counter()
        verdict = guard.check(facts)
        if verdict.response is not None:
            raise SystemExit(f"request {n} refused: {verdict.response.body[:200]!r}")
        guard.settle(verdict, 200, body)
        samples.append(time.perf_counter() - started)
    return samples


def _guard(data_dir: Path) -> tuple[Any, str]:
    """The demo guard and the cookie of a doctor's session with TOTP and WebAuthn (no bulk step-up in the way)."""
    _, guard = build(data_dir)
    session, cookie = guard.sessions.start("dr.martin", "pwd", int(time.time()))
    for factor in ("otp", "webauthn"):
        guard.store.record_factor(session.id, factor, int(time.time()))
    return guard, f"accessguard_session={cookie}"


def request_path(args: argparse.Namespace) -> None:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rounds in range(args.rounds):
            for mode in ("access log", "no access log"):
                data_dir = Path(tmp) / f"{mode.replace(' ', '-')}-{rounds}"
                guard, cookie = _guard(data_dir)
                if mode == "no access log":
                    guard.access_log.close()
                    guard.access_log = NullAccessLog()
                _request_loop(guard, cookie, 500)  # warm up: interpreters, connections
                guard.access_log.flush(timeout=120)
                cpu_started = time.process_time()
                samples = _request_loop(guard, cookie, args.requests)
                guard.access_log.flush(timeout=120)  # the writer's work counts too
                cpu_per_request = (time.process_time() - cpu_started) / args.requests
                guard.close()
                results.setdefault(mode, []).append({**_percentiles(samples), "cpu_us_per_request": round(cpu_per_request * 1e6, 1)})
        log = AccessLog(Path(tmp) / "enqueue.db", AuditSettings(key="k" * 40), "p" * 40)
        decision = Decision(Outcome.ALLOW, (), "sha256:" + "0" * 64)
        enqueue = []
        for n in range(args.requests):
            started = time.perf_counter()
            log.write(DecisionRecord(f"{n:032x}", time.time(), "dr.martin", "patients.read", "192.0.2.10", ("p_x",), decision, 80))
            log.served(f"{n:032x}", "dr.martin", "patients.read", [f"pat-{n % 150:04d}"], time.time())
            enqueue.append(time.perf_counter() - started)
        log.flush(timeout=120)
        log.close()
        results["enqueue decision + served (µs)"] = _percentiles(enqueue)
        burst = AccessLog(Path(tmp) / "burst.db", AuditSettings(key="k" * 40, max_backlog=10**7), "p" * 40)
        started = time.perf_counter()
        for n in range(100_000):
            burst.served(None, "dr.martin", "patients.search", [f"pat-{n % 1000:04d}"], time.time())
        burst.flush(timeout=600)
        results["writer capacity (served entries/s, synchronous=FULL)"] = round(100_000 / (time.perf_counter() - started))
        burst.close()
    print(json.dumps(results, indent=2))


def scope(args: argparse.Namespace) -> None:
    """Fill an access log with ``--entries`` served entries (2,000 professionals, 100,000 patients, 30 days), then query it."""
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="audit-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = {"pseudonym_key": "p" * 48, "audit_key": "a" * 48}
    (data_dir / "keys.json").write_text(json.dumps(keys))
    path = data_dir / "audit.db"
    random.seed(2025)
    start = 1_790_000_000.0
    results: dict[str, Any] = {"entries": args.entries}
    if not path.exists():
        log = AccessLog(path, AuditSettings(key=keys["audit_key"], max_backlog=10**7), keys["pseudonym_key"])
        started = time.perf_counter()
        written = 0
        batch = 50
        while written < args.entries:
            if written // batch % 100 == 0:  # 1 % of the log: one stolen account scraping for two days
                subject, at = "pro-stolen", start + 28 * DAY + random.random() * 2 * DAY
            else:
                subject, at = f"pro-{random.randrange(2000):04d}", start + random.random() * 30 * DAY
            patients = [f"pat-{random.randrange(100_000):06d}" for _ in range(batch)]
            log.served(None, subject, "patients.search", patients, at)
            written += batch
            if written % 100_000 == 0:
                log.flush(timeout=600)
        log.flush(timeout=600)
        log.close()
        results["fill_s"] = round(time.perf_counter() - started, 1)
    results["file_mb"] = round(sum(p.stat().st_size for p in data_dir.glob("audit.db*")) / 1e6)
    sealer = PatientIdSealer(keys["pseudonym_key"])

    def timed(subject: str, since: float, until: float) -> dict[str, Any]:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            exposures = breach_scope(path, sealer, subject, since, until)
            runs.append(time.perf_counter() - started)
        return {
            "patients": len(exposures),
            "records": sum(e.count for e in exposures),
            "median_ms": round(statistics.median(runs) * 1e3, 1),
        }

    results["scope typical professional, 30 days"] = timed("pro-0042", start, start + 30 * DAY)
    results["scope typical professional, 72 hours"] = timed("pro-0042", start + 27 * DAY, start + 30 * DAY)
    results["scope stolen account, 30 days"] = timed("pro-stolen", start, start + 30 * DAY)
    results["scope unknown account"] = timed("nobody", start, start + 30 * DAY)
    started = time.perf_counter()
    cli = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from accessguard.cli import main; sys.exit(main())",
            "audit",
            "scope",
            "--data-dir",
            str(data_dir),
            "--subject",
            "pro-stolen",
            "--since",
            str(int(start)),
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    results["`accessguard audit scope` stolen account, csv, whole command (s)"] = round(time.perf_counter() - started, 2)
    results["csv lines"] = len(cli.stdout.splitlines())
    if not args.skip_verify:
        started = time.perf_counter()
        outcome = verify(path, CheckpointSigner(keys["audit_key"], keys["pseudonym_key"]), now=time.time(), retention_s=3650 * DAY)
        results["verify_s"] = round(time.perf_counter() - started, 1)
        results["verify"] = outcome.describe()
    print(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    path_parser = commands.add_parser("request-path")
    path_parser.add_argument("--requests", type=int, default=20_000)
    path_parser.add_argument("--rounds", type=int, default=3)
    path_parser.set_defaults(run=request_path)
    scope_parser = commands.add_parser("scope")
    scope_parser.add_argument("--entries", type=int, default=5_000_000)
    scope_parser.add_argument("--data-dir", help="keep (and reuse) the filled log here")
    scope_parser.add_argument("--skip-verify", action="store_true")
    scope_parser.set_defaults(run=scope)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
