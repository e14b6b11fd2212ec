"""Two `accessguard demo` processes on one data directory and one store share sessions and limits."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.conftest import CAEN, _accounts, _copy_demo
from tests.redis_server import free_port
from tests.store_support import store_url

#: The default soft limit of a nurse: distinct patients an hour before a phishing-resistant step-up.
NURSE_SOFT_LIMIT_1H = 40


def start_demo(data_dir: Path, store: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    accessguard = Path(sys.executable).with_name("accessguard")  # the installed command
    command = [str(accessguard), "demo", "--port", str(port), "--data-dir", str(data_dir)]
    process = subprocess.Popen([*command, *(["--store", store] if store else [])], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the demo did not start: {process.communicate()[1].decode()[-2000:]}")
        time.sleep(0.1)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.realpart)])
def two_demos(request: pytest.FixtureRequest, demo_template: Path, tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    store = None if request.param == "sqlite" else store_url("redis", tmp_path, request.getfixturevalue("redis_server"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        first, first_url = start_demo(data_dir, store)
        processes.append(first)
        second, second_url = start_demo(data_dir, store)
        processes.append(second)
        yield data_dir, first_url, second_url
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def log_in(url: str, data_dir: Path, username: str) -> str:
    """Password and TOTP on one process; the session cookie."""
    pro = _accounts(data_dir)[username]
    with httpx.Client(base_url=url) as client:
        assert client.post("/login", json={"username": username, "password": pro.password}).status_code == 200
        response = client.post("/accessguard/step-up/totp", json={"code": pyotp.TOTP(pro.totp_secret).now()})
        assert response.status_code == 200, response.text
        return f"accessguard_session={client.cookies['accessguard_session']}"


@pytest.mark.slow
def test_sessions_and_limits_are_shared_between_processes(two_demos: tuple[Path, str, str]) -> None:
    data_dir, first, second = two_demos
    cookie = log_in(first, data_dir, "inf.dubois")
    headers = {"cookie": cookie, "x-forwarded-for": CAEN}

    def read(n: int) -> int:
        return httpx.get(f"{(first, second)[n % 2]}/patients/pat-{n + 1:04d}", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:  # 60 reads at once, half on each process
        statuses = list(pool.map(read, range(60)))
    assert statuses.count(200) == NURSE_SOFT_LIMIT_1H, statuses
    assert statuses.count(401) == 60 - NURSE_SOFT_LIMIT_1H, statuses

    assert httpx.post(f"{second}/accessguard/logout", headers=headers).status_code == 200
    assert httpx.get(f"{first}/patients/pat-0001", headers=headers).status_code == 401


@pytest.mark.slow
def test_demos_started_together_on_a_new_data_directory_set_it_up_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "new"
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = [pool.submit(start_demo, data_dir, None) for _ in range(2)]
    demos = [future.result() for future in started if not future.exception()]
    try:
        assert len(demos) == 2, [str(future.exception()) for future in started]  # neither died making the patients or accounts
        first, second = (url for _, url in demos)
        cookie = log_in(first, data_dir, "inf.dubois")  # the accounts on file are the ones both processes use
        response = httpx.get(f"{second}/patients/pat-0001", headers={"cookie": cookie, "x-forwarded-for": CAEN})
        assert response.status_code == 200, response.text  # one session key for both
    finally:
        for process, _ in demos:
            process.terminate()
            process.wait(timeout=10)
