"""The demo on the OPA engine behaves as on the embedded engine: the request-path tests, rerun on OPA."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accessguard.policy.opa import OpaEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from tests.conftest import Demo, _copy_demo, make_demo
from tests.demo_process import ACCESSGUARD, demo_process
from tests.opa_server import free_port, opa_server
from tests.test_request_path import *  # noqa: F403  (collected again here, on the `demo` fixture below)

pytestmark = pytest.mark.realpart


@pytest.fixture(scope="module")
def opa_url(opa_binary: str) -> Iterator[str]:
    with opa_server(opa_binary) as url:
        yield url


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path, opa_url: str) -> Iterator[Demo]:
    """The ASGI demo whose guard decides through OPA."""
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), opa_url=opa_url)
    assert isinstance(demo.guard.engine, OpaEngine)
    yield demo
    demo.guard.close()


@pytest.mark.slow
def test_demo_command_runs_on_opa(opa_url: str, tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with demo_process(tmp_path / "data", log, "--engine", "opa", "--opa-url", opa_url) as (url, _):
        response = httpx.get(f"{url}/patients/pat-0001", timeout=5)
    assert "on the opa engine" in log.read_text()
    assert response.status_code == 401 and response.json()["reasons"] == ["authentication_required"]
    assert response.json()["policy_revision"] == load_policy_set(DEFAULT_POLICY_DIR).revision


def test_demo_refuses_to_start_without_opa(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    command = [ACCESSGUARD, "demo", "--data-dir", str(tmp_path), "--engine", "opa", "--opa-url", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert f"opa_url: no OPA server became ready at {url}" in done.stderr
