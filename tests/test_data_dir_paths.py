"""A data directory whose path holds ``#``, ``?`` or ``%``: every SQLite file in it is the one opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audit_support import run_cli
from tests.conftest import CAEN, _copy_demo, make_demo

AWKWARD = "ward #2?mode=rw&x=%41%"  # a fragment, a query and percent escapes, were it read as a URI


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_the_demo_and_the_audit_commands_work_in_a_data_dir_with_uri_characters(adapter: str, demo_template: Path, tmp_path: Path) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / AWKWARD / "data")
    demo = make_demo(adapter, data_dir)
    try:
        client = demo.login("inf.dubois")
        response = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN})
        assert response.status_code == 200 and response.json()["id"] == "pat-0001"  # the directory opened read-only by URI
        demo.guard.access_log.flush()
    finally:
        demo.guard.close()
    code, out, err = run_cli("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0 and out.startswith("ok: entries #1..#"), out + err
    code, out, err = run_cli("audit", "scope", "--data-dir", str(data_dir), "--subject", "inf.dubois", "--since", "0", "--format", "csv")
    assert code == 0 and "pat-0001" in out, out + err
