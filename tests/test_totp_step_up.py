"""TOTP step-up: one time step of skew, a used step never accepted twice."""

from __future__ import annotations

import threading

import pyotp

from tests.conftest import Demo


def _step_up(client: object, code: str) -> int:
    response = client.post("/accessguard/step-up/totp", json={"code": code})  # type: ignore[attr-defined]
    return int(response.status_code)


def test_replayed_code_is_refused_even_in_another_session(demo: Demo) -> None:
    first = demo.login("dr.martin", totp=False)
    second = demo.login("dr.martin", totp=False)
    code = demo.code("dr.martin")
    assert _step_up(first, code) == 200
    assert _step_up(second, code) == 401
    assert second.get("/patients/pat-0001").status_code == 401


def test_one_step_of_skew_is_accepted_two_are_not(demo: Demo) -> None:
    secret = demo.accounts["dr.martin"].totp_secret
    client = demo.login("dr.martin", totp=False)
    old = pyotp.TOTP(secret).at(int(demo.clock.now) - 60)
    assert _step_up(client, old) == 401
    previous = pyotp.TOTP(secret).at(int(demo.clock.now) - 30)
    assert _step_up(client, previous) == 200


def test_an_older_step_is_refused_after_a_newer_one(demo: Demo) -> None:
    secret = demo.accounts["dr.martin"].totp_secret
    client = demo.login("dr.martin", totp=False)
    assert _step_up(client, pyotp.TOTP(secret).at(int(demo.clock.now))) == 200
    assert _step_up(client, pyotp.TOTP(secret).at(int(demo.clock.now) - 30)) == 401


def test_step_up_without_a_session_is_401(demo: Demo) -> None:
    assert _step_up(demo.client(), demo.code("dr.martin")) == 401


def test_concurrent_submissions_of_one_code_succeed_once(asgi_demo: Demo) -> None:
    clients = [asgi_demo.login("dr.martin", totp=False) for _ in range(6)]
    code = asgi_demo.code("dr.martin")
    results: list[int] = []
    barrier = threading.Barrier(len(clients))

    def submit(client: object) -> None:
        barrier.wait()
        results.append(_step_up(client, code))

    threads = [threading.Thread(target=submit, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(200) == 1
    assert all(r in (401, 429) for r in results if r != 200)  # 429: the sixth attempt may find the codes locked
