"""``accessguard audit scope``: exactly the patients an account was served, resolved for the DPO."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from accessguard.cli.common import iso_time
from tests.audit_support import run_cli
from tests.conftest import CAEN, Demo


def _served(response_json: object) -> list[str]:
    if isinstance(response_json, dict) and "patients" in response_json:
        return [p["id"] for p in response_json["patients"]]
    return [response_json["id"]] if isinstance(response_json, dict) and "id" in response_json else []


def test_scope_is_exactly_what_the_account_was_served(demo: Demo) -> None:
    served: dict[str, list[float]] = defaultdict(list)
    nurse = demo.login("inf.dubois")
    start = demo.clock.now

    def get(path: str) -> int:
        response = nurse.get(path, headers={"x-forwarded-for": CAEN})
        if response.status_code == 200:
            for patient in _served(response.json()):
                served[patient].append(demo.clock.now)
        return response.status_code

    assert get("/patients/pat-0001") == 200
    assert get("/patients/pat-0002") == 200
    assert get("/patients?limit=10&q=") == 200
    assert get("/patients/pat-9999") == 404  # nothing served
    assert get("/patients?limit=500") == 403  # page_too_large: nothing served
    demo.clock.advance(600)
    assert get("/patients/pat-0001") == 200
    assert get("/patients?limit=10&offset=5") == 200
    demo.clock.advance(600)
    end = demo.clock.now
    other = demo.login("dr.martin")
    assert other.get("/patients/pat-0500", headers={"x-forwarded-for": CAEN}).status_code == 200
    demo.guard.access_log.flush()

    expected = sorted(
        ({"patient": p, "count": len(t), "first": iso_time(min(t)), "last": iso_time(max(t))} for p, t in served.items()),
        key=lambda r: (min(served[r["patient"]]), r["patient"]),
    )
    data_dir = str(demo.guard.settings.data_dir)
    code, out, err = run_cli(
        "audit",
        "scope",
        "--data-dir",
        data_dir,
        "--subject",
        "inf.dubois",
        "--since",
        str(int(start)),
        "--until",
        str(int(end) + 1),
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out) == expected
    assert len(expected) == 15 and {"patient": "pat-0001", "count": 3, "first": iso_time(start), "last": iso_time(start + 600)} in expected

    code, out, _ = run_cli(
        "audit", "scope", "--data-dir", data_dir, "--subject", "inf.dubois", "--since", str(int(start) + 1), "--format", "csv"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "patient,count,first,last"
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted({"pat-0001", *(f"pat-{n:04d}" for n in range(6, 16))})

    code, out, _ = run_cli(
        "audit", "scope", "--data-dir", data_dir, "--subject", "inf.dubois", "--since", str(int(start)), "--until", str(int(end))
    )
    assert code == 0 and "15 patients, 23 identity records served to inf.dubois" in out


def test_without_the_right_pseudonym_key_nothing_resolves(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    nurse = demo.login("inf.dubois")
    assert nurse.get("/patients/pat-0042", headers={"x-forwarded-for": CAEN}).status_code == 200
    demo.guard.access_log.flush()
    monkeypatch.setenv("ACCESSGUARD_PSEUDONYM_KEY", "x" * 48)
    code, out, err = run_cli(
        "audit", "scope", "--data-dir", str(demo.guard.settings.data_dir), "--subject", "inf.dubois", "--since", "0", "--format", "json"
    )
    assert code == 1
    assert "pat-0042" not in out and "could not be resolved" in err


def test_bad_times_are_usage_errors(demo: Demo) -> None:
    data_dir = str(demo.guard.settings.data_dir)
    code, _, err = run_cli("audit", "scope", "--data-dir", data_dir, "--subject", "x", "--since", "yesterday")
    assert code == 2 and "not a time" in err
    code, _, err = run_cli("audit", "scope", "--data-dir", data_dir, "--subject", "x", "--since", "2026-01-02", "--until", "2026-01-01")
    assert code == 2 and "--until must be after --since" in err
