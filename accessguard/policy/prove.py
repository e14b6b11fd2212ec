"""Proving a policy set in a child process before a live process takes it.

The embedded engine is native code that can crash the whole process on some
modules (design brief §6), so a changed policy set is compiled and run on
every decision case in a throw-away child running ``main`` below.
The child reports one JSON line per step; the parent (``prove``) reads them,
so a crash is pinned on the step that was running when the child died.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accessguard.errors import AccessGuardError
from accessguard.policy.opa_tool import check, find_opa

_STDERR_TAIL = 600
_CHILD = "import sys; from accessguard.policy.prove import main; sys.exit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class CaseOutcome:
    name: str
    passed: bool
    detail: str


@dataclass
class Proof:
    """What the child found: the revision, errors (``file.rego:line:col: message``), case outcomes."""

    directory: Path
    revision: str | None = None
    errors: list[str] = field(default_factory=list)
    cases: list[CaseOutcome] = field(default_factory=list)
    opa_checked: bool = False

    @property
    def ok(self) -> bool:
        return self.revision is not None and not self.errors and all(case.passed for case in self.cases)

    @property
    def failures(self) -> list[str]:
        """Every reason the set is refused, one line each."""
        return self.errors + [case.detail for case in self.cases if not case.passed]


def prove(
    directory: Path | str, *, engine: str = "regopy", run_cases: bool = True, opa_check: bool = False, timeout_s: float = 120.0
) -> Proof:
    """Compile the set in ``directory`` on ``engine`` and run ``directory/cases`` in a child process.

    ``opa_check``: also ``opa check`` the set when an opa binary is found
    (``Proof.opa_checked``): rego-cpp's compiler accepts unsafe variables and
    unknown functions, and such a rule would go live and never fire.
    """
    directory = Path(directory)
    command = [sys.executable, "-c", _CHILD, str(directory), "--engine", engine] + ([] if run_cases else ["--compile-only"])
    proof = Proof(directory)
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        stdout, stderr, returncode = child.stdout, child.stderr, child.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, returncode = _text(exc.stdout), _text(exc.stderr), None
    step = "starting"
    for line in stdout.splitlines():
        try:
            event: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        step = event.get("step", step)
        if "revision" in event:
            proof.revision = event["revision"]
        proof.errors.extend(_located(directory, e) for e in event.get("errors", ()))
        if "passed" in event:
            proof.cases.append(CaseOutcome(event["case"], event["passed"], event["detail"]))
    if returncode is None:
        proof.errors.append(f"{directory}: the policy engine did not finish within {timeout_s:g} s ({step})")
    elif returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        tail = stderr.strip()[-_STDERR_TAIL:]
        crashed = f"{directory}: the embedded policy engine crashed ({name}, {engine}) while {step}"
        proof.errors.append(crashed + (f": {tail}" if tail else ""))
    elif returncode != 0 and not proof.failures:
        proof.errors.append(f"{directory}: the proof failed (exit {returncode}): {stderr.strip()[-_STDERR_TAIL:]}")
    opa = find_opa() if opa_check else None
    if opa is not None:
        proof.errors += [error for error in check(opa, directory) if error not in proof.errors]
        proof.opa_checked = True
    return proof


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def _located(directory: Path, error: str) -> str:
    """``accessguard/x.rego:3:5: ...`` relative to the policy directory → a path the reader can open."""
    name = error.split(":", 1)[0]
    return f"{directory / name}{error[len(name) :]}" if name.endswith((".rego", ".json")) and (directory / name).exists() else error


def _report(**event: Any) -> None:
    print(json.dumps(event), flush=True)


def main(argv: list[str] | None = None) -> int:
    """The child: report each step as a JSON line before taking it; exit 0 only if everything passed."""
    from accessguard.policy.cases import load_cases, run_cases
    from accessguard.policy.engine import EMBEDDED_ENGINES, embedded_engine
    from accessguard.policy.policyset import load_policy_set

    parser = argparse.ArgumentParser(prog="accessguard-prove")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--engine", choices=EMBEDDED_ENGINES, default="regopy")
    parser.add_argument("--compile-only", action="store_true")
    args = parser.parse_args(argv)
    try:
        _report(step="loading the policy set")
        policy_set = load_policy_set(args.directory)
        _report(step=f"compiling revision {policy_set.revision}")
        embedded_engine(args.engine, policy_set).close()
        _report(revision=policy_set.revision)
        if args.compile_only:
            return 0
        cases = load_cases(args.directory / "cases")
        results = run_cases(
            cases,
            lambda data: embedded_engine(args.engine, load_policy_set(args.directory, data)),
            lambda case: _report(step=f"running decision case {case.name}"),
        )
    except AccessGuardError as exc:
        _report(errors=getattr(exc, "errors", None) or [str(exc)])
        return 1
    for result in results:
        _report(case=result.case.name, passed=result.passed, detail=result.describe())
    return 0 if all(result.passed for result in results) else 1
