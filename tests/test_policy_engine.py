"""The embedded engine: compile errors, fail-closed evaluation, revisions."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pyotp
import pytest
import regopy

from accessguard.decision import Decision, Outcome
from accessguard.demo.app import build
from accessguard.errors import ConfigurationError, PolicyCompileError
from accessguard.policy.embedded import EmbeddedEngine, _Input
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from tests.conftest import Clock, Demo


def _policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, target, ignore=shutil.ignore_patterns("cases"))
    return target


def test_compile_error_names_file_line_and_column(tmp_path: Path) -> None:
    policies = _policy_copy(tmp_path)
    (policies / "accessguard" / "broken.rego").write_text("package accessguard.policy\n\nimport rego.v1\n\nbad if {\n\tinput.x ==\n}\n")
    with pytest.raises(PolicyCompileError) as raised:
        EmbeddedEngine(load_policy_set(policies))
    assert any(e.startswith("accessguard/broken.rego:6:") for e in raised.value.errors), raised.value.errors


def test_invalid_data_json_is_a_configuration_error(tmp_path: Path) -> None:
    policies = _policy_copy(tmp_path)
    (policies / "data.json").write_text('{"accessguard": ')
    with pytest.raises(ConfigurationError, match=r"data.json:1:\d+: invalid JSON"):
        load_policy_set(policies)


def test_test_modules_are_never_loaded(tmp_path: Path) -> None:
    policies = _policy_copy(tmp_path)
    (policies / "accessguard" / "crash_test.rego").write_text("this is not rego at all")
    assert "accessguard/crash_test.rego" not in load_policy_set(policies).modules
    EmbeddedEngine(load_policy_set(policies))


def test_revision_covers_modules_and_data() -> None:
    base = load_policy_set(DEFAULT_POLICY_DIR)
    changed = load_policy_set(DEFAULT_POLICY_DIR, {"accessguard": {"config": {"geo": {"speed_limit_kmh": 1000}}}})
    assert base.revision.startswith("sha256:") and base.revision != changed.revision
    assert load_policy_set(DEFAULT_POLICY_DIR).revision == base.revision


def test_runtime_fault_fails_closed(tmp_path: Path) -> None:
    policies = _policy_copy(tmp_path)
    # Two complete definitions with different values: a runtime conflict, not a compile error.
    (policies / "accessguard" / "conflict.rego").write_text(
        'package accessguard.policy\n\nimport rego.v1\n\noutcome := "allow" if input.version == 1\n'
    )
    engine = EmbeddedEngine(load_policy_set(policies))
    case = json.loads((DEFAULT_POLICY_DIR / "cases" / "account_suspended.json").read_text())
    decision = engine.evaluate(case["input"])
    assert decision.outcome is Outcome.DENY
    assert decision.reasons == ("policy_error",)


def test_the_policy_sees_the_input_document_as_built() -> None:
    document = {
        "text": "Zoë 東京 \u2028",
        "numbers": [0, -7, 2**62, 1.5, -0.25, 1e300],
        "flags": [True, False, None],
        "nested": {"empty_list": [], "empty_object": {}, "tuple": ("a", 1)},
    }
    interpreter = regopy.Interpreter()
    interpreter.set_input(_Input(document))
    seen = interpreter.query("x := input").results[0].bindings["x"]
    assert seen == json.loads(json.dumps(document))


@pytest.mark.parametrize(
    "value",
    ["dr.martin\0admin", 2**70, {"a", "b"}, b"bytes", Outcome.ALLOW],
    ids=["nul-in-string", "int-over-64-bits", "set", "bytes", "str-subclass"],
)
def test_an_input_value_the_engine_cannot_take_fails_closed(value: object) -> None:
    engine = EmbeddedEngine(load_policy_set(DEFAULT_POLICY_DIR))
    decision = engine.evaluate({"version": 1, "subject": {"id": value}})
    assert decision.outcome is Outcome.DENY and decision.reasons == ("policy_error",)


def test_engine_fault_is_503_through_the_middleware(demo_template: Path, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    policies = _policy_copy(tmp_path)
    (policies / "accessguard" / "conflict.rego").write_text(
        'package accessguard.policy\n\nimport rego.v1\n\noutcome := "allow" if input.version == 1\n'
    )
    data_dir = tmp_path / "data"
    shutil.copytree(demo_template, data_dir)
    app, guard = build(data_dir, policy_dir=policies, clock=Clock())
    accounts = {a["username"]: a for a in json.loads((data_dir / "demo-accounts.json").read_text())}
    client = TestClient(app, client=("127.0.0.1", 1))
    client.post("/login", json={"username": "dr.martin", "password": accounts["dr.martin"]["password"]})
    response = client.get("/patients/pat-0001")
    guard.close()
    assert response.status_code == 503
    assert response.json()["reasons"] == ["policy_error"]
    assert "pat-0001" not in response.text


def test_access_log_pseudonymises_patients(demo: Demo) -> None:
    client = demo.login("dr.martin")
    assert client.get("/patients/pat-0042").status_code == 200
    demo.guard.access_log.flush()
    with sqlite3.connect(demo.guard.access_log.location) as db:
        rows = db.execute("SELECT kind, patient, detail FROM entries ORDER BY seq").fetchall()
    assert "pat-0042" not in repr(rows)
    entry = json.loads(next(detail for kind, _, detail in reversed(rows) if kind == "decision"))
    assert entry["patients"] == [demo.guard.pseudonymise("pat-0042")]
    assert entry["outcome"] == "allow" and entry["policy_revision"] == demo.guard.engine.revision


def test_the_guards_inputs_match_the_schema(demo_template: Path, tmp_path: Path) -> None:
    """Every input the live guard builds (anonymous, password, TOTP, travel) validates against input v1."""
    import jsonschema
    from starlette.testclient import TestClient

    from accessguard.policy.input import SCHEMA_PATH

    seen: list[dict[str, object]] = []

    class RecordingEngine(EmbeddedEngine):
        def evaluate(self, policy_input: dict[str, object]) -> Decision:  # type: ignore[override]
            seen.append(policy_input)
            return super().evaluate(policy_input)

    data_dir = tmp_path / "data"
    shutil.copytree(demo_template, data_dir)
    clock = Clock()
    app, guard = build(data_dir, clock=clock)
    guard.engine = RecordingEngine(load_policy_set(DEFAULT_POLICY_DIR))
    account = next(a for a in json.loads((data_dir / "demo-accounts.json").read_text()) if a["username"] == "inf.dubois")
    client = TestClient(app, client=("127.0.0.1", 1))
    client.get("/patients/pat-0001")
    client.post("/login", json={"username": "inf.dubois", "password": account["password"]})
    client.get("/patients/pat-0001")
    client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(account["totp_secret"]).at(int(clock.now))})
    client.get("/patients?limit=5", headers={"x-forwarded-for": "192.0.2.10"})
    clock.advance(10)
    client.get("/patients/pat-0002", headers={"x-forwarded-for": "203.0.113.9"})
    guard.close()
    schema = json.loads(SCHEMA_PATH.read_text())
    assert len(seen) == 4
    for document in seen:
        jsonschema.validate(document, schema)
    assert seen[-1]["geo"]["previous"]["city"] == "Caen"  # type: ignore[index]
