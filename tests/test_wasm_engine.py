"""The WebAssembly engine: OPA's Wasm ABI through wasmtime, the shipped module, compiling and caching custom sets."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from functools import partial
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from accessguard.decision import Outcome
from accessguard.demo.app import build
from accessguard.errors import ConfigurationError, PolicyCompileError
from accessguard.policy import wasm, wasm_build
from accessguard.policy.cases import load_cases
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from accessguard.policy.wasm import WasmEngine
from tests.conftest import Clock

CASES = [case for case in load_cases(DEFAULT_POLICY_DIR / "cases") if not case.data]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty module cache for this test."""
    monkeypatch.setenv("ACCESSGUARD_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "wasm"


@pytest.fixture
def no_opa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCESSGUARD_OPA", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")


def _policy_copy(tmp_path: Path) -> Path:
    return shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "policies", ignore=shutil.ignore_patterns("cases"))


def test_the_default_set_runs_from_the_shipped_module_without_opa(cache: Path, no_opa: None) -> None:
    engine = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    regopy = EmbeddedEngine(load_policy_set(DEFAULT_POLICY_DIR))
    for case in CASES:
        assert engine.evaluate(case.input) == regopy.evaluate(case.input), case.name
    assert not cache.exists()  # nothing compiled, nothing cached


def test_the_demo_decides_on_the_wasm_engine_by_default(demo_template: Path, tmp_path: Path, no_opa: None) -> None:
    data_dir = shutil.copytree(demo_template, tmp_path / "data")
    app, guard = build(data_dir, clock=Clock())
    try:
        assert isinstance(guard.engine, WasmEngine)
        accounts = {a["username"]: a for a in json.loads((data_dir / "demo-accounts.json").read_text())}
        client = TestClient(app, client=("127.0.0.1", 1))
        assert client.get("/patients/pat-0001").status_code == 401
        client.post("/login", json={"username": "dr.martin", "password": accounts["dr.martin"]["password"]})
        answer = client.get("/patients/pat-0001")
        assert answer.status_code in (200, 401, 403), answer.text  # a decision, never a 5xx
        assert answer.json().get("reasons") != ["policy_error"]
    finally:
        guard.close()


def test_memory_never_grows_across_decisions() -> None:
    engine = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    first = [engine.evaluate(case.input) for case in CASES]  # memory reaches what the largest single decision needs
    instance = engine._instance()
    size = instance.memory.data_len(instance.store)
    for _ in range(50):
        assert [engine.evaluate(case.input) for case in CASES] == first
    assert engine._instance() is instance
    assert instance.memory.data_len(instance.store) == size


def test_an_exhausted_memory_denies_and_the_instance_is_replaced(caplog: pytest.LogCaptureFixture) -> None:
    engine = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR), max_memory_bytes=8 * 65536)
    expected = engine.evaluate(CASES[0].input)
    broken = engine._instance()
    flood = {**CASES[0].input, "flood": [str(i) for i in range(40000)]}  # fits as JSON, not once parsed
    decision = engine.evaluate(flood)
    assert decision.outcome is Outcome.DENY and decision.reasons == ("policy_error",)
    assert "the policy aborted: opa_malloc: failed" in caplog.text  # a trap inside the module, not a host-side refusal
    assert engine.evaluate(CASES[0].input) == expected
    assert engine._instance() is not broken


@pytest.mark.parametrize("value", [2**70, {"a", "b"}, b"bytes", "\ud800"], ids=["int-over-64-bits", "set", "bytes", "lone-surrogate"])
def test_an_input_value_the_engine_cannot_take_fails_closed(value: object) -> None:
    engine = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    decision = engine.evaluate({"version": 1, "subject": {"id": value}})
    assert decision.outcome is Outcome.DENY and decision.reasons == ("policy_error",)


def test_each_thread_decides_on_its_own_instance() -> None:
    engine = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    expected = [engine.evaluate(case.input) for case in CASES]
    outcomes: list[bool] = []

    def decide() -> None:
        outcomes.append(all([engine.evaluate(case.input) for case in CASES] == expected for _ in range(20)))

    threads = [threading.Thread(target=decide) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [True] * 6


def test_a_custom_set_without_opa_names_the_installer(tmp_path: Path, cache: Path, no_opa: None) -> None:
    policies = _policy_copy(tmp_path)
    (policies / "accessguard" / "geo.rego").write_text((policies / "accessguard" / "geo.rego").read_text() + "\n# reviewed\n")
    with pytest.raises(ConfigurationError, match=r"scripts/install-opa\.sh"):
        WasmEngine(load_policy_set(policies))


@pytest.mark.realpart
def test_a_custom_set_is_compiled_once_then_loaded_from_the_cache(
    tmp_path: Path, cache: Path, opa_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESSGUARD_OPA", opa_binary)
    policies = _policy_copy(tmp_path)
    # one more rule: a new module revision, which the shipped module does not cover
    (policies / "accessguard" / "extra.rego").write_text(
        'package accessguard.policy\n\nimport rego.v1\n\ndeny contains "account_suspended" if input.subject.id == "mallory"\n'
    )
    policy_set = load_policy_set(policies)
    engine = WasmEngine(policy_set)
    [cached] = cache.glob("*.wasm")
    assert cached.stem == wasm_build.module_revision(policy_set).removeprefix("sha256:")
    assert (cache.stat().st_mode & 0o777) == 0o700
    probe = {**CASES[0].input, "subject": {**CASES[0].input["subject"], "id": "mallory"}}
    assert engine.evaluate(probe).reasons == ("account_suspended",)
    monkeypatch.delenv("ACCESSGUARD_OPA")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert WasmEngine(load_policy_set(policies)).evaluate(probe).reasons == ("account_suspended",)


@pytest.mark.realpart
def test_a_compile_error_names_the_file_and_line(tmp_path: Path, cache: Path, opa_binary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESSGUARD_OPA", opa_binary)
    policies = _policy_copy(tmp_path)
    (policies / "accessguard" / "broken.rego").write_text("package accessguard.policy\n\nimport rego.v1\n\nbroken := typo\n")
    with pytest.raises(PolicyCompileError) as raised:
        WasmEngine(load_policy_set(policies))
    assert raised.value.errors == [f"{policies}/accessguard/broken.rego:5:11: rego_unsafe_var_error: var typo is unsafe"]
    assert not cache.exists()


@pytest.mark.realpart
def test_a_policy_needing_a_host_builtin_is_refused_at_load(
    tmp_path: Path, cache: Path, opa_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESSGUARD_OPA", opa_binary)
    policies = _policy_copy(tmp_path)
    (policies / "accessguard" / "remote.rego").write_text(
        'package accessguard.policy\n\nimport rego.v1\n\ndeny contains "account_suspended" if {\n'
        '\tnet.cidr_expand("10.0.0.0/30")[_] == input.client.ip\n}\n'
    )
    with pytest.raises(PolicyCompileError, match=r"builtins the Wasm engine does not provide: net\.cidr_expand"):
        WasmEngine(load_policy_set(policies))


@pytest.mark.realpart
def test_the_shipped_module_is_built_from_the_policies_in_the_repository(opa_binary: str) -> None:
    """``opa build -t wasm`` is deterministic here (relative paths): the same sources give the same bytes."""
    policy_set = load_policy_set(DEFAULT_POLICY_DIR)
    shipped = wasm_build.shipped_revision()
    assert shipped["module_revision"] == wasm_build.module_revision(policy_set), "rebuild it: scripts/build-wasm.sh"
    assert shipped["policy_revision"] == policy_set.revision, "rebuild it: scripts/build-wasm.sh"
    assert wasm_build.compile_module(policy_set, opa_binary) == wasm_build.SHIPPED_MODULE.read_bytes(), "rebuild it: scripts/build-wasm.sh"


def test_the_shipped_module_is_package_data() -> None:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"policy/default-policy.wasm"' in text
    assert wasm_build.SHIPPED_MODULE.is_file() and wasm_build.SHIPPED_REVISION.is_file()


def test_logs_say_why_an_engine_denied(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="accessguard.policy")
    engine = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    assert engine.evaluate({"version": 1, "subject": {"id": 2**70}}).reasons == ("policy_error",)
    assert "policy evaluation failed, denying" in caplog.text


def test_opa_eval_goes_through_wasmtimes_c_api_on_the_pinned_wasmtime() -> None:
    """Fails when a wasmtime release changes the low-level bindings the fast call uses: check wasm.raw_call, then re-pin."""
    engine = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    instance = engine._instance()
    assert not isinstance(instance._eval, partial), "wasmtime's _ffi bindings changed: the engine fell back to Func.__call__"
    assert wasm.raw_call(instance.store, instance._malloc) is not None


def test_the_public_call_decides_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    monkeypatch.setattr(wasm, "raw_call", lambda store, func: None)
    public = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR))
    assert isinstance(public._instance()._eval, partial)
    for case in CASES:
        assert public.evaluate(case.input) == fast.evaluate(case.input), case.name
    flood = {**CASES[0].input, "flood": [str(i) for i in range(40000)]}
    small = WasmEngine(load_policy_set(DEFAULT_POLICY_DIR), max_memory_bytes=8 * 65536)
    assert small.evaluate(flood).reasons == ("policy_error",)  # a trap through the public call fails closed too
