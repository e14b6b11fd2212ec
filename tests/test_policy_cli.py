"""``accessguard policy``: check, test, eval --explain, fmt, bundle; and the Rego unit tests themselves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from accessguard.cli import main
from accessguard.policy import opa_tool
from accessguard.policy.cases import load_cases
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set

BROKEN = "package accessguard.policy\n\nimport rego.v1\n\nbroken := 1 +\n"
# Evaluating a rule under `with input as` that compares input aborts rego-cpp (design brief §6).
CRASHING = (
    "package accessguard.policy\n\nimport rego.v1\n\nsmall if input.n < 2\n\n"
    'deny contains "crash_probe" if {\n\tsmall with input as {"n": 1}\n}\n'
)
REVISION = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    return target


@pytest.fixture
def with_opa(opa_binary: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ACCESSGUARD_OPA", opa_binary)
    return opa_binary


@pytest.fixture
def without_opa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESSGUARD_OPA", "/nonexistent/opa")
    monkeypatch.setenv("PATH", "/nonexistent")


def test_check_accepts_the_default_policies(with_opa: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(DEFAULT_POLICY_DIR)]) == 0
    assert REVISION.search(capsys.readouterr().out)


@pytest.mark.realpart
def test_check_reports_syntax_errors_as_file_line_col(with_opa: str, policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (policies / "accessguard" / "broken.rego").write_text(BROKEN)
    assert main(["policy", "check", str(policies)]) == 1
    lines = capsys.readouterr().out.splitlines()
    where = str(policies / "accessguard" / "broken.rego")
    # Both the embedded compiler and opa check point at the file, with line and column.
    assert len(lines) == 2 and all(re.match(rf"{re.escape(where)}:[56]:\d+: \S", line) for line in lines), lines


# rego-cpp compiles this (the rule just never fires); OPA refuses it.
UNSAFE = 'package accessguard.policy\n\nimport rego.v1\n\ndeny contains "typo" if {\n\tblocked(input.request.ip)\n}\n'


@pytest.mark.realpart
def test_check_with_opa_reports_what_the_embedded_compiler_lets_through(
    with_opa: str, policies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policies / "accessguard" / "typo.rego").write_text(UNSAFE)
    assert main(["policy", "check", str(policies)]) == 1
    assert f"{policies / 'accessguard' / 'typo.rego'}:6:2: rego_type_error: undefined function blocked" in capsys.readouterr().out


def test_check_without_opa_says_what_it_could_not_check(without_opa: None, policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (policies / "accessguard" / "typo.rego").write_text(UNSAFE)
    assert main(["policy", "check", str(policies)]) == 0
    note = capsys.readouterr().err
    assert "embedded engine's compiler only" in note and "unknown functions" in note and "*_test.rego" in note


def test_check_survives_a_module_that_crashes_the_embedded_engine(policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (policies / "accessguard" / "crash.rego").write_text(CRASHING)
    assert main(["policy", "check", str(policies)]) == 1
    assert "the embedded policy engine crashed (SIG" in capsys.readouterr().out


@pytest.mark.realpart
def test_test_runs_cases_and_opa_unit_tests(with_opa: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", str(DEFAULT_POLICY_DIR)]) == 0
    out = capsys.readouterr().out.splitlines()
    cases = len(load_cases(DEFAULT_POLICY_DIR / "cases"))
    units = sum(line.startswith("opa test ") for line in out)
    assert sum(line.startswith("decision case ") for line in out) == cases
    assert units >= 20
    assert out[-1] == f"{cases + units} passed, 0 failed"


@pytest.mark.realpart
def test_test_counts_a_wrong_expectation_and_a_failing_unit_test(with_opa: str, policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = policies / "cases" / "password_only.json"
    document = json.loads(case.read_text())
    document["expected"] = {"outcome": "allow", "reasons": []}
    case.write_text(json.dumps(document))
    (policies / "accessguard" / "wrong_test.rego").write_text(
        "package accessguard.policy_test\n\nimport rego.v1\n\nimport data.accessguard.policy\n\n"
        'test_wrong if policy.decision.outcome == "allow" with input as professional\n'
        'test_also_wrong if policy.decision.outcome == "deny" with input as professional\n'
    )
    assert main(["policy", "test", str(policies)]) == 1
    out = capsys.readouterr().out
    assert "decision case password_only: FAILED" in out
    assert re.search(r"opa test accessguard\.policy_test\.test_also_wrong: FAILED", out)
    assert out.splitlines()[-1].endswith(" passed, 2 failed")


def test_test_names_a_set_opa_cannot_load(with_opa: str, policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (policies / "accessguard" / "broken.rego").write_text(BROKEN)
    assert main(["policy", "test", str(policies)]) == 1
    out = capsys.readouterr().out
    assert f"{policies}/accessguard/broken.rego:5:13: " in out
    assert "opa test (loading the policy set): FAILED unable to load bundle" in out and "()" not in out
    assert out.splitlines()[-1] == "0 passed, 2 failed"


def test_test_reports_a_crash_without_dying(without_opa: None, policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (policies / "accessguard" / "crash.rego").write_text(CRASHING)
    assert main(["policy", "test", str(policies)]) == 1
    out = capsys.readouterr().out
    assert "crashed (SIG" in out and "opa test skipped" in out
    assert out.splitlines()[-1] == "0 passed, 1 failed"


@pytest.mark.realpart
def test_eval_explain_names_the_rules_that_fired(with_opa: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy_input = tmp_path / "input.json"
    policy_input.write_text(json.dumps(next(c for c in load_cases(DEFAULT_POLICY_DIR / "cases") if c.name == "password_only").input))
    assert main(["policy", "eval", str(DEFAULT_POLICY_DIR), "--input", str(policy_input), "--explain"]) == 0
    out = capsys.readouterr().out
    decision, _, fired = out.partition("rules that fired:\n")
    assert json.loads(decision)["outcome"] == "step_up" and json.loads(decision)["reasons"] == ["mfa_required"]
    source = (DEFAULT_POLICY_DIR / "accessguard" / "authn.rego").read_text().splitlines()
    mfa = next(n for n, line in enumerate(source, 1) if line.startswith('step_up contains "mfa_required"'))
    assert f'accessguard/authn.rego:{mfa}: step_up contains "mfa_required"' in fired
    assert "stale_authentication" not in fired  # a rule whose body failed did not fire


def test_eval_of_a_set_that_crashes_the_engine_reports_it(policies: Path, tmp_path: Path) -> None:
    """In its own process: were the set loaded here first, rego-cpp's crash would take the command (and this test) down."""
    (policies / "accessguard" / "crash.rego").write_text(CRASHING)
    policy_input = tmp_path / "input.json"
    policy_input.write_text("{}")
    command = [str(Path(sys.executable).with_name("accessguard")), "policy", "eval", str(policies), "--input", str(policy_input)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.returncode, done.stderr[-500:])
    assert "the embedded policy engine crashed (SIG" in done.stdout


def test_eval_rejects_bad_input_and_explain_without_opa(without_opa: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["policy", "eval", "--input", str(bad)]) == 2
    assert f"{bad}:1:2: invalid JSON" in capsys.readouterr().err
    bad.write_text("{}")
    assert main(["policy", "eval", "--input", str(bad), "--explain"]) == 2
    assert "ACCESSGUARD_OPA" in capsys.readouterr().err


@pytest.mark.realpart
def test_fmt_lists_then_formats(with_opa: str, policies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = policies / "accessguard" / "geo.rego"
    module.write_text(module.read_text().replace("\t", "    ", 3))
    assert main(["policy", "fmt", str(policies), "--check"]) == 1
    assert str(module) in capsys.readouterr().out
    assert main(["policy", "fmt", str(policies)]) == 0
    assert main(["policy", "fmt", str(policies), "--check"]) == 0
    assert module.read_text() == (DEFAULT_POLICY_DIR / "accessguard" / "geo.rego").read_text()


def test_bundle_has_manifest_revision_and_no_tests(tmp_path: Path) -> None:
    out = tmp_path / "bundle.tar.gz"
    assert main(["policy", "bundle", str(DEFAULT_POLICY_DIR), "--out", str(out)]) == 0
    with tarfile.open(out) as archive:
        names = sorted(member.name.lstrip("/") for member in archive.getmembers())
        manifest = json.loads(archive.extractfile("/.manifest").read())  # type: ignore[union-attr]
    policy_set = load_policy_set(DEFAULT_POLICY_DIR)
    assert manifest["revision"] == policy_set.revision and manifest["roots"] == ["accessguard"]
    assert names == sorted([".manifest", "data.json", *policy_set.modules])
    first = out.read_bytes()
    assert main(["policy", "bundle", str(DEFAULT_POLICY_DIR), "--out", str(out)]) == 0
    assert out.read_bytes() == first  # reproducible


def test_bundle_refuses_a_broken_policy_set(policies: Path, tmp_path: Path) -> None:
    (policies / "accessguard" / "broken.rego").write_text(BROKEN)
    assert main(["policy", "bundle", str(policies), "--out", str(tmp_path / "b.tar.gz")]) == 1
    assert not (tmp_path / "b.tar.gz").exists()


# The Rego unit tests that `opa test` runs.


def test_every_module_has_a_unit_test_module() -> None:
    for name in load_policy_set(DEFAULT_POLICY_DIR).modules:
        assert (DEFAULT_POLICY_DIR / name.replace(".rego", "_test.rego")).is_file(), f"{name} has no _test.rego"


@pytest.mark.realpart
def test_opa_test_passes_for_every_module(opa_binary: str) -> None:
    results = opa_tool.unit_tests(opa_binary, DEFAULT_POLICY_DIR)
    assert results and all(unit.passed for unit in results), [u for u in results if not u.passed]
    tested = {Path(unit.location.rsplit(":", 1)[0]).name for unit in results}
    for name in load_policy_set(DEFAULT_POLICY_DIR).modules:
        assert Path(name).name.replace(".rego", "_test.rego") in tested


@pytest.mark.realpart
def test_modules_are_opa_formatted(opa_binary: str) -> None:
    assert opa_tool.fmt(opa_binary, DEFAULT_POLICY_DIR, check_only=True) == (0, "")
