"""Safe hot reload: only a policy set proven in a child process goes live."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from accessguard.demo.app import build
from accessguard.policy.engine import PolicyEngine, embedded_engine
from accessguard.policy.opa import OpaEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, PolicySet, load_policy_set
from accessguard.policy.prove import prove
from accessguard.policy.reload import PolicyReloader
from tests.conftest import Clock, _copy_demo
from tests.demo_process import demo_process, wait_for
from tests.opa_server import opa_server
from tests.test_policy_cli import BROKEN, CRASHING

UNSAFE_VARIABLE = "package accessguard.policy\n\nimport rego.v1\n\nunused_guard if {\n\tcount(typo) > 1\n}\n"


class Live:
    """A demo service on a live policy directory, with a reloader driven by the test."""

    def __init__(
        self, policies: Path, data_dir: Path, engine: str = "wasm", engine_for: Callable[[PolicySet], PolicyEngine] | None = None
    ) -> None:
        self.policies = policies
        self.app, self.guard = build(data_dir, clock=Clock(), policy_dir=policies, policy_engine=engine)
        self.reloader = PolicyReloader(self.guard, policies, engine_for or partial(embedded_engine, engine), prove_engine=engine)

    def served_revision(self) -> str:
        """The revision that decided an anonymous read (401 problem documents carry it)."""
        response = TestClient(self.app).get("/patients/pat-0001")
        assert response.status_code == 401, response.text
        revision: str = response.json()["policy_revision"]
        return revision


@pytest.fixture(params=["wasm", "regopy"])
def live(request: pytest.FixtureRequest, tmp_path: Path, demo_template: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Live]:
    """A live service on each in-process engine."""
    caplog.set_level(logging.INFO, logger="accessguard.policy")
    policies = shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "live")
    service = Live(policies, _copy_demo(demo_template, tmp_path / "data"), request.param)
    yield service
    service.reloader.stop()
    service.guard.close()


def _touch_comment(policies: Path) -> str:
    module = policies / "accessguard" / "geo.rego"
    module.write_text(module.read_text() + "\n# reviewed\n")
    return load_policy_set(policies).revision


def test_a_proven_change_goes_live(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    before = live.served_revision()
    after = _touch_comment(live.policies)
    assert after != before
    assert live.reloader.reload()
    assert live.guard.engine.revision == after == live.served_revision()
    assert f"policy revision {after} is live" in caplog.text


def test_a_syntax_error_keeps_the_live_revision_until_fixed(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    before = live.served_revision()
    broken = live.policies / "accessguard" / "broken.rego"
    broken.write_text(BROKEN)
    assert not live.reloader.reload()
    assert live.served_revision() == before
    where = {"regopy": "5:13", "wasm": "6:0"}[live.reloader.prove_engine]  # opa places the error at the end of the file
    assert f"{broken}:{where}: " in caplog.text and f"revision {before} stays live" in caplog.text
    assert "(changed since the live revision: accessguard/broken.rego)" in caplog.text
    broken.unlink()
    after = _touch_comment(live.policies)
    assert live.reloader.reload()
    assert live.served_revision() == after
    caplog.clear()
    broken.write_text(BROKEN)
    (live.policies / "cases" / "stale_read.json").unlink()
    assert not live.reloader.reload()  # the changes are counted from the revision now live
    assert "(changed since the live revision: accessguard/broken.rego, cases/stale_read.json (removed))" in caplog.text


def test_a_module_that_crashes_the_engine_never_reaches_the_live_process(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    before = live.served_revision()
    (live.policies / "accessguard" / "crash.rego").write_text(CRASHING)
    assert not live.reloader.reload()
    if live.reloader.prove_engine == "regopy":
        assert "the embedded policy engine crashed (SIG" in caplog.text
    else:  # the Wasm engine runs it: the probe's deny then contradicts the decision cases
        assert "allow_mfa_read: FAILED" in caplog.text
    assert "(changed since the live revision: accessguard/crash.rego)" in caplog.text  # where to look
    assert live.served_revision() == before  # this process is alive and still decides


def test_a_change_contradicting_a_decision_case_is_refused(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    before = live.served_revision()
    data = json.loads((live.policies / "data.json").read_text())
    data["accessguard"]["config"]["mfa"]["min_aal"] = 3  # TOTP logins would now need a step-up
    (live.policies / "data.json").write_text(json.dumps(data))
    assert not live.reloader.reload()
    assert "allow_mfa_read: FAILED" in caplog.text
    assert live.served_revision() == before


@pytest.mark.realpart
def test_a_rule_only_opa_check_refuses_never_goes_live(
    live: Live, opa_binary: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """rego-cpp compiles a rule on an unsafe variable and the cases pass (it never fires); opa check refuses it."""
    monkeypatch.setenv("ACCESSGUARD_OPA", opa_binary)
    before = live.served_revision()
    (live.policies / "accessguard" / "unsafe.rego").write_text(UNSAFE_VARIABLE)
    assert prove(live.policies).ok  # the embedded engine alone would take it
    assert not live.reloader.reload()
    assert "unsafe.rego:6:2: rego_unsafe_var_error: var typo is unsafe" in caplog.text and f"revision {before} stays live" in caplog.text
    assert live.served_revision() == before


@pytest.mark.realpart
def test_a_proven_change_is_pushed_to_opa(opa_binary: str, tmp_path: Path, demo_template: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESSGUARD_OPA", opa_binary)  # the change is proven on the Wasm engine, compiled by opa
    policies = shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "live")
    with opa_server(opa_binary) as url:
        service = Live(policies, _copy_demo(demo_template, tmp_path / "data"), "wasm", lambda ps: OpaEngine(url, ps))
        service.guard.engine = OpaEngine(url, load_policy_set(policies))
        try:
            before = service.served_revision()
            (policies / "accessguard" / "broken.rego").write_text(BROKEN)
            assert not service.reloader.reload()
            assert service.served_revision() == before
            (policies / "accessguard" / "broken.rego").unlink()
            after = _touch_comment(policies)
            assert service.reloader.reload()
            assert service.served_revision() == after
            assert "# reviewed" in httpx.get(f"{url}/v1/policies/accessguard/accessguard.policy").json()["result"]["raw"]
        finally:
            service.reloader.stop()
            service.guard.close()


@pytest.mark.slow
def test_demo_watches_its_policy_directory(tmp_path: Path) -> None:
    policies = shutil.copytree(DEFAULT_POLICY_DIR, tmp_path / "live")
    log = tmp_path / "demo.log"
    with demo_process(tmp_path / "data", log, "--engine", "regopy", "--policies", str(policies)) as (url, demo):

        def revision() -> str:
            answer: str = httpx.get(f"{url}/patients/pat-0001", timeout=5).json()["policy_revision"]
            return answer

        before = revision()
        (policies / "accessguard" / "crash.rego").write_text(CRASHING)
        wait_for(lambda: "refused" in log.read_text(), "the crashing module to be refused")
        assert "crashed (SIG" in log.read_text()
        assert demo.poll() is None and revision() == before
        (policies / "accessguard" / "crash.rego").unlink()
        after = _touch_comment(policies)
        wait_for(lambda: f"policy revision {after} is live" in log.read_text(), "the fixed directory to go live")
        assert revision() == after
