"""The benchmark scripts still run and print their figures (tiny counts; no figure is judged: no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_bench(module: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python -m bench.<module> ... --json`` from the repository and return its last line, decoded."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--json"],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def test_engine_floor_prints_every_variant() -> None:
    figures = run_bench("engine_floor", "--decisions", "50")
    for variant in ("policies", "trivial", "trivial_empty"):
        assert figures[f"{variant}_p50_us"] > 0
        assert figures[f"{variant}_p99_us"] >= figures[f"{variant}_p50_us"]
    assert figures["decisions"] == 50


def test_decision_overhead_prints_the_documented_figures() -> None:
    figures = run_bench("decision", "--requests", "400", "--seconds", "1")
    assert {"p50_overhead_us", "p99_overhead_us", "throughput_ratio", "in_process_throughput_ratio"} <= figures.keys()
    assert figures["protected_p50_us"] > 0 and figures["unprotected_p50_us"] > 0


def test_path_profile_prints_every_stage() -> None:
    figures = run_bench("profile_path", "--requests", "50")
    for stage in ("middleware", "check/decide", "reserve/store", "decide/engine", "settle/store", "app"):
        assert figures[stage] > 0, stage
    assert figures["middleware"] >= figures["check/decide"] + figures["app"]


@pytest.mark.realpart
def test_opa_bench_runs_against_a_real_opa(opa_binary: str) -> None:
    figures = run_bench("opa", "--decisions", "50", env={"ACCESSGUARD_OPA": opa_binary})
    assert figures["ratio_p50"] > 0
    assert figures["opa_engine_p50_us"] > 0 and figures["bare_post_p50_us"] > 0


@pytest.mark.realpart
def test_signals_bench_counts_redis_round_trips(redis_server: Any) -> None:
    figures = run_bench("signals", "--requests", "100", "--redis", redis_server.url)
    assert 0 < figures["redis_round_trips_per_request"] <= figures["redis_commands_per_request"]  # a pipeline is one trip
    assert {"sqlite", "redis"} <= figures.keys()


@pytest.mark.realpart
def test_agreement_bench_compares_the_engines(opa_binary: str) -> None:
    figures = run_bench("agreement", "--inputs", "50", "--seed", "1", env={"ACCESSGUARD_OPA": opa_binary})
    assert figures["decided"] >= 50 and figures["disagreements"] == 0 and figures["policy_errors"] == 0


def test_scaling_bench_prints_both_worker_counts() -> None:
    figures = run_bench("scaling", "--rounds", "1", "--round", "0.5", "--concurrency", "2")
    for workers in (1, 2):
        assert figures[f"protected_{workers}w_rps"] > 0 and figures[f"unprotected_{workers}w_rps"] > 0
    assert figures["scaling_protected"] > 0 and figures["ratio_2w"] > 0
