"""The OPA-server engine against a real OPA: agreement with the embedded engine, bundles, faults."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accessguard.cli import main
from accessguard.decision import Outcome
from accessguard.errors import ConfigurationError, PolicyCompileError
from accessguard.policy.cases import load_cases, run_cases
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.opa import OpaEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from tests.opa_server import free_port, opa_server

pytestmark = pytest.mark.realpart

CASES = load_cases(DEFAULT_POLICY_DIR / "cases")


@pytest.fixture(scope="module")
def opa_url(opa_binary: str) -> Iterator[str]:
    with opa_server(opa_binary) as url:
        yield url


def _policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, target)
    return target


def test_both_engines_agree_on_every_decision_case(opa_url: str) -> None:
    embedded = run_cases(CASES, lambda data: EmbeddedEngine(load_policy_set(DEFAULT_POLICY_DIR, data)))
    opa = run_cases(CASES, lambda data: OpaEngine(opa_url, load_policy_set(DEFAULT_POLICY_DIR, data)))
    assert len(opa) == len(CASES) > 0
    for on_embedded, on_opa in zip(embedded, opa, strict=True):
        assert on_opa.passed, on_opa.describe()
        # The whole decision: outcome, reasons, step-up requirement, obligations and revision.
        assert on_opa.decision == on_embedded.decision, on_opa.case.name


def test_bundle_from_the_cli_is_served_with_its_revision(opa_binary: str, tmp_path: Path) -> None:
    bundle = tmp_path / "policies.tar.gz"
    assert main(["policy", "bundle", str(DEFAULT_POLICY_DIR), "--out", str(bundle)]) == 0
    default = load_policy_set(DEFAULT_POLICY_DIR)
    embedded = EmbeddedEngine(default)
    with opa_server(opa_binary, "--bundle", str(bundle)) as url:
        engine = OpaEngine(url)  # nothing pushed: the policies come from the bundle
        try:
            assert engine.revision == default.revision
            for case in (c for c in CASES if not c.data):
                assert engine.evaluate(case.input) == embedded.evaluate(case.input), case.name
        finally:
            engine.close()


def test_push_removes_packages_left_by_an_earlier_push(opa_url: str, tmp_path: Path) -> None:
    policies = _policies(tmp_path)
    (policies / "extra.rego").write_text("package accessguard.extra\n\nimport rego.v1\n\nflag := true\n")
    OpaEngine(opa_url, load_policy_set(policies)).close()
    assert httpx.get(f"{opa_url}/v1/data/accessguard/extra/flag").json() == {"result": True}
    OpaEngine(opa_url, load_policy_set(DEFAULT_POLICY_DIR)).close()
    ids = {policy["id"] for policy in httpx.get(f"{opa_url}/v1/policies").json()["result"]}
    assert ids == {"accessguard/accessguard.policy"}
    assert "result" not in httpx.get(f"{opa_url}/v1/data/accessguard/extra/flag").json()


def test_compile_error_is_reported_at_the_original_file_and_line(opa_url: str, tmp_path: Path) -> None:
    policies = _policies(tmp_path)
    (policies / "accessguard" / "zz_broken.rego").write_text(
        "package accessguard.policy\n\nimport rego.v1\n\nbroken if {\n\tinput.x == \n}\n"
    )
    with pytest.raises(PolicyCompileError) as raised:
        OpaEngine(opa_url, load_policy_set(policies))
    assert any(e.startswith("accessguard/zz_broken.rego:7:") for e in raised.value.errors), raised.value.errors


def test_a_refused_push_leaves_the_servers_data_as_it_was(opa_url: str, tmp_path: Path) -> None:
    OpaEngine(opa_url, load_policy_set(DEFAULT_POLICY_DIR)).close()
    live_config = httpx.get(f"{opa_url}/v1/data/accessguard/config").json()
    policies = _policies(tmp_path)
    data = json.loads((policies / "data.json").read_text())
    data["accessguard"]["config"]["bulk_reads"]["page_size_cap"] = 1
    (policies / "data.json").write_text(json.dumps(data))
    # Compiles on rego-cpp, not on OPA: the change is refused at the push.
    (policies / "accessguard" / "zz_unsafe.rego").write_text('package accessguard.policy\n\nimport rego.v1\n\ndeny contains "x" if x > 1\n')
    with pytest.raises(PolicyCompileError, match=r"zz_unsafe\.rego:5"):
        OpaEngine(opa_url, load_policy_set(policies))
    assert httpx.get(f"{opa_url}/v1/data/accessguard/config").json() == live_config


def test_no_server_is_a_clear_error_at_start() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigurationError, match=f"opa_url: no OPA server became ready at {url}"):
        OpaEngine(url, load_policy_set(DEFAULT_POLICY_DIR), setup_timeout_s=0.3)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:8181", "http://127.0.0.1:8181/v1/data", "127.0.0.1:8181"])
def test_malformed_url_is_rejected(url: str) -> None:
    with pytest.raises(ConfigurationError, match="opa_url"):
        OpaEngine(url, load_policy_set(DEFAULT_POLICY_DIR))


def test_server_without_the_decision_rule_is_refused_at_start(opa_binary: str, tmp_path: Path) -> None:
    other = tmp_path / "other.rego"
    other.write_text("package other\n\nimport rego.v1\n\nallow := true\n")
    with opa_server(opa_binary, str(other)) as url, pytest.raises(ConfigurationError, match="gives no decision"):
        OpaEngine(url)


FAULTS = """package accessguard.policy

import rego.v1

# Each input.mode breaks OPA's answer a different way; no mode is the start-up probe.
decision := {"outcome": "deny", "reasons": ["authentication_required"]} if not input.mode

decision := {"outcome": "allow", "reasons": []} if input.mode == "conflict"

decision := {"outcome": "deny", "reasons": ["account_suspended"]} if input.mode == "conflict"

decision := {"outcome": "maybe", "reasons": []} if input.mode == "garbage"

# Allows after about 25 million iterations: only the decision timeout makes this deny.
decision := {"outcome": "allow", "reasons": []} if {
	input.mode == "slow"
	count([x | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000); x := i * j; x < 0]) == 0
}
"""


@pytest.mark.parametrize("mode", ["conflict", "garbage", "slow", "undefined"])
def test_faults_fail_closed(opa_url: str, tmp_path: Path, mode: str) -> None:
    (tmp_path / "faults.rego").write_text(FAULTS)
    engine = OpaEngine(opa_url, load_policy_set(tmp_path), timeout_s=0.2)
    try:
        decision = engine.evaluate({"version": 1, "mode": mode})
        assert decision.outcome is Outcome.DENY and decision.reasons == ("policy_error",)
        assert decision.policy_revision == engine.revision
    finally:
        engine.close()


def test_server_gone_fails_closed_and_a_restarted_one_is_reached_again(opa_binary: str) -> None:
    port = free_port()
    command = [opa_binary, "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"]
    url, policy_set = f"http://127.0.0.1:{port}", load_policy_set(DEFAULT_POLICY_DIR)
    anonymous = next(c for c in CASES if c.name == "anonymous").input
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        engine = OpaEngine(url, policy_set)
        assert engine.evaluate(anonymous).reasons == ("authentication_required",)
    finally:
        server.terminate()
        server.wait()
    assert engine.evaluate(anonymous).reasons == ("policy_error",)
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        assert engine.evaluate(anonymous).reasons == ("policy_error",)  # up, or not yet: nothing pushed anyway
        OpaEngine(url, policy_set).close()  # another process pushes the policy set again
        assert engine.evaluate(anonymous).reasons == ("authentication_required",)
        # The engine's kept connection dies with the server; the next decision opens a new one.
        server.terminate()
        server.wait()
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        OpaEngine(url, policy_set).close()
        assert engine.evaluate(anonymous).reasons == ("authentication_required",)
    finally:
        server.terminate()
        server.wait()
        engine.close()
