"""A short coverage-guided run of every fuzz target (fuzz/targets.py), and every crash found so far replayed.

Each target runs in a child process (atheris instruments and owns it) for a
few seconds; a crash, an exception that is not the project's BadRequest or a
broken promise checked by the target, fails the test with the fuzzer's report.
The long run is ``fuzz/run.sh``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGRESSIONS = ROOT / "fuzz" / "regressions"
TARGETS = ["body_json", "bearer_token", "cookies", "forwarded_headers", "origin_header", "webauthn_assertion", "webauthn_registration"]
SECONDS = 2


def _fuzz(target: str, *options: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fuzz", target, *options], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_target_is_listed() -> None:
    from fuzz.targets import TARGETS as DEFINED

    assert sorted(DEFINED) == sorted(TARGETS)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_a_short_fuzz_run_finds_no_crash(target: str, tmp_path: Path) -> None:
    done = _fuzz(target, f"-max_total_time={SECONDS}", "-runs=200000", f"-artifact_prefix={tmp_path}/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Done" in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("crash", sorted(REGRESSIONS.glob("*/*")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_crash_found_stays_fixed(crash: Path, tmp_path: Path) -> None:
    done = _fuzz(crash.parent.name, str(crash), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
