"""``accessguard policy``: the policy author's tools (check, test, eval, fmt, bundle).

Compiling and running cases happen in a child process (policy/prove.py), so a
module that crashes the embedded engine is reported, not fatal. Where OPA's
own tool adds something (Rego unit tests, formatting, traces) it is used when
found (policy/opa_tool.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from accessguard.errors import ConfigurationError
from accessguard.policy import opa_tool
from accessguard.policy.policyset import DEFAULT_POLICY_DIR


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("policy", help="check, test, evaluate, format and bundle the Rego policies")
    actions = parser.add_subparsers(dest="policy_command", required=True)

    def action(name: str, help: str, run: Any) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(name, help=help)
        sub.add_argument("directory", nargs="?", type=Path, default=DEFAULT_POLICY_DIR, help="policy directory (default: %(default)s)")
        sub.set_defaults(run=run)
        return sub

    action("check", "report parse and compile errors as file.rego:line:col: message", _check)
    action("test", "run the decision cases (embedded engine) and the Rego unit tests (opa test)", _test)
    evaluate = action("eval", "print the decision for one input document", _eval)
    evaluate.add_argument("--input", type=Path, required=True, help="policy input document (JSON)")
    evaluate.add_argument("--explain", action="store_true", help="also list the rules that fired (needs opa)")
    formatting = action("fmt", "format the modules with opa fmt", _fmt)
    formatting.add_argument("--check", action="store_true", help="only list modules that need formatting; exit 1 if any")
    bundle = action("bundle", "write an OPA bundle (.tar.gz) whose manifest carries the revision", _bundle)
    bundle.add_argument("--out", type=Path, required=True, help="bundle file to write")


def _check(args: argparse.Namespace) -> int:
    from accessguard.policy.prove import prove

    proof = prove(args.directory, run_cases=False, opa_check=True)
    errors = proof.failures
    if not proof.opa_checked:
        print(
            "note: checked by the embedded engine's compiler only, which accepts some errors opa check refuses"
            f" (unsafe variables, unknown functions), and *_test.rego not at all: {opa_tool.OPA_MISSING}",
            file=sys.stderr,
        )
    for error in errors:
        print(error)
    if errors:
        return 1
    print(f"{args.directory}: ok, revision {proof.revision}")
    return 0


def _test(args: argparse.Namespace) -> int:
    from accessguard.policy.prove import prove

    proof = prove(args.directory)
    for case in proof.cases:
        print(f"decision case {case.detail}")
    for error in proof.errors:
        print(error)
    passed = sum(case.passed for case in proof.cases)
    failed = len(proof.cases) - passed + len(proof.errors)
    opa = opa_tool.find_opa()
    if opa:
        for unit in opa_tool.unit_tests(opa, args.directory):
            where = f" ({unit.location})" if unit.location else ""
            print(f"opa test {unit.name}: {'ok' if unit.passed else 'FAILED'}{where}{' ' + unit.detail if unit.detail else ''}")
            passed, failed = passed + unit.passed, failed + (not unit.passed)
    else:
        print(f"opa test skipped: {opa_tool.OPA_MISSING}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def _eval(args: argparse.Namespace) -> int:
    from accessguard.policy.embedded import EmbeddedEngine
    from accessguard.policy.policyset import load_policy_set
    from accessguard.policy.prove import prove

    try:
        policy_input = json.loads(args.input.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"--input: cannot read {args.input}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{args.input}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(policy_input, dict):
        raise ConfigurationError(f"{args.input}: the input document must be a JSON object")
    opa = opa_tool.find_opa()
    if args.explain and not opa:
        raise ConfigurationError(f"--explain: {opa_tool.OPA_MISSING}")
    proof = prove(args.directory, run_cases=False)  # a module that crashes rego-cpp kills the child, not this command
    if not proof.ok:
        print("\n".join(proof.failures))
        return 1
    engine = EmbeddedEngine(load_policy_set(args.directory))
    try:
        decision = engine.evaluate(policy_input)
    finally:
        engine.close()
    print(json.dumps(dataclasses.asdict(decision), indent=2))
    if args.explain and opa:
        print("rules that fired:")
        for rule in opa_tool.fired_rules(opa, args.directory, policy_input):
            print(f"  {rule}")
    return 0


def _fmt(args: argparse.Namespace) -> int:
    opa = opa_tool.find_opa()
    if not opa:
        raise ConfigurationError(f"policy fmt: {opa_tool.OPA_MISSING}")
    code, output = opa_tool.fmt(opa, args.directory, check_only=args.check)
    if output:
        print(output)
    return 1 if code else 0  # opa fmt --fail exits 2, which here means bad usage


def _bundle(args: argparse.Namespace) -> int:
    from accessguard.policy.bundle import build_bundle
    from accessguard.policy.policyset import load_policy_set
    from accessguard.policy.prove import prove

    proof = prove(args.directory, run_cases=False)
    if not proof.ok:
        print("\n".join(proof.failures))
        return 1
    policy_set = load_policy_set(args.directory)
    args.out.write_bytes(build_bundle(policy_set))
    print(f"{args.out}: bundle of {len(policy_set.modules)} modules, revision {policy_set.revision}")
    return 0
