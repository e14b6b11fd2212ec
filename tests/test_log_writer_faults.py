"""The access-log writer survives any exception, and the guard serves nothing while it is not committing."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from accessguard.audit.chain import CheckpointSigner
from tests.conftest import CAEN, Demo

WRITER = "accessguard-access-log"


def _read(client: httpx.Client, n: int) -> httpx.Response:
    return client.get(f"/patients/pat-{n:04d}", headers={"x-forwarded-for": CAEN})


def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _logged(data_dir: Path) -> tuple[list[str], list[str]]:
    """The decision ids of the decision entries, and the pseudonyms of the served entries."""
    with sqlite3.connect(data_dir / "audit.db") as db:
        decisions = [d for (d,) in db.execute("SELECT decision_id FROM entries WHERE kind = 'decision'")]
        served = [p for (p,) in db.execute("SELECT patient FROM entries WHERE kind = 'served'")]
    return decisions, served


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("access-log-unavailable")
    assert "pat-" not in response.text


def test_a_failing_writer_refuses_reads_until_it_commits_again_and_nothing_served_is_unlogged(
    asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A non-SQLite exception on every commit (signing raises) used to kill the writer; reads then went on unlogged."""
    guard, data_dir = asgi_demo.guard, Path(asgi_demo.guard.settings.data_dir)
    client = asgi_demo.login("dr.martin")
    served = [n for n in range(1, 3) if _read(client, n).status_code == 200]
    assert served == [1, 2]
    guard.access_log.flush()

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("injected writer fault")

    monkeypatch.setattr(CheckpointSigner, "checkpoint", broken)
    n = 3
    while (response := _read(client, n)).status_code == 200:  # queued before the writer's first failure: still served
        served.append(n)
        n += 1
        assert n < 200, "the guard kept serving while its access log could not commit"
    _assert_refused(response)
    for later in range(n + 1, n + 6):  # every read now, at once
        _assert_refused(_read(client, later))
    assert any(t.name == WRITER for t in threading.enumerate()), "the writer thread died"
    assert "injected writer fault" in caplog.text

    monkeypatch.undo()
    _until(lambda: _read(client, 100).status_code == 200, "reads to be served again")
    served.append(100)
    guard.access_log.flush()
    decisions, pseudonyms = _logged(data_dir)
    assert len(decisions) == len(served)  # a refused read was never decided, so never logged; every served one was
    assert sorted(pseudonyms) == sorted(guard.access_log.pseudonymise(f"pat-{n:04d}") for n in served)


def test_an_entry_that_cannot_be_encoded_is_kept_escaped_and_never_blocks_the_queue(asgi_demo: Demo) -> None:
    """A lone surrogate (what an emergency reason once carried into the writer) and a value that raises on encode."""

    class Unencodable(str):
        def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
            raise RuntimeError("injected: this value raises on encode")

    guard, data_dir = asgi_demo.guard, Path(asgi_demo.guard.settings.data_dir)
    client = asgi_demo.login("dr.martin")
    now = asgi_demo.clock.now
    guard.access_log.served(None, "dr.martin", "patients.read", ["pat-\ud800"], now)
    guard.access_log.served(None, "dr.martin", "patients.read", [Unencodable("pat-0042")], now)
    _until(lambda: _read(client, 7).status_code == 200, "reads to be served past the bad entries")
    guard.access_log.flush()
    assert any(t.name == WRITER for t in threading.enumerate())
    decisions, pseudonyms = _logged(data_dir)
    assert guard.access_log.pseudonymise("pat-\\ud800") in pseudonyms  # kept, escaped
    assert guard.access_log.pseudonymise("pat-0007") in pseudonyms and decisions
    with sqlite3.connect(data_dir / "audit.db") as db:
        events = [json.loads(detail) for (detail,) in db.execute("SELECT detail FROM entries WHERE kind = 'event'")]
    [unwritable] = [e for e in events if e["event"] != "signed_in"]  # besides the login's sign-ins
    assert unwritable["event"] == "entry_unwritable" and "injected" in unwritable["error"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_thread_that_dies_anyway_makes_the_guard_refuse(asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a BaseException (SystemExit here) can end the writer; the guard sees the thread gone and serves nothing."""
    client = asgi_demo.login("dr.martin")
    asgi_demo.guard.access_log.flush()

    def fatal(*args: object, **kwargs: object) -> object:
        raise SystemExit("injected: the writer thread ends")

    monkeypatch.setattr(CheckpointSigner, "checkpoint", fatal)
    _read(client, 1)  # queued; the writer dies committing it
    _until(lambda: not any(t.name == WRITER for t in threading.enumerate()), "the writer thread to end")
    for n in range(2, 6):
        _assert_refused(_read(client, n))
