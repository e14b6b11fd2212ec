"""Exact limits under concurrency, across processes, on both stores.

Several processes, each with its own Guard (or store) on the same SQLite file
or Redis server, fire requests at the same moment from many threads.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accessguard.demo.app import demo_settings
from accessguard.facts import RequestFacts
from accessguard.guard import Guard
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from accessguard.store import open_store
from accessguard.store.base import ReadRequest
from tests.conftest import _copy_demo
from tests.store_support import start_session, store_url

PROCESSES, THREADS = 4, 10
LIMIT = 12
#: Nurses may read LIMIT distinct patients a minute, then are denied; no soft limit in the way.
LIMIT_DATA = {
    "accessguard": {
        "config": {
            "bulk_reads": {"roles": {"nurse": {"soft": {"1h": 10_000, "24h": 10_000}, "hard": {"1m": LIMIT, "1h": 10_000, "24h": 10_000}}}}
        }
    }
}
SPAWN = multiprocessing.get_context("spawn")
STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.realpart)]


def _together(work: Any, barrier: Any) -> list[Any]:
    """Run ``work(i)`` on THREADS threads released at once, after every process reached ``barrier``."""
    results: list[Any] = []
    start = threading.Barrier(THREADS)

    def run(i: int) -> None:
        start.wait()
        results.append(work(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    barrier.wait(timeout=60)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _reserve_worker(url: str, barrier: Any, results: Any) -> None:
    store = open_store(url)
    request = ReadRequest("pro-1", "chu-caen", None, 1)
    results.put(_together(lambda i: store.reserve_reads(request, 1_790_000_000.0).usage.identity_reads["1m"], barrier))
    store.close()


def _guard_worker(data_dir: str, url: str, cookie: str, first: int, barrier: Any, results: Any) -> None:
    engine = EmbeddedEngine(load_policy_set(DEFAULT_POLICY_DIR, LIMIT_DATA))
    guard = Guard(demo_settings(Path(data_dir), store_url=url), engine=engine)

    def read(i: int) -> int:
        patient = f"pat-{first + i:04d}"
        verdict = guard.check(RequestFacts("GET", f"/patients/{patient}", "", {"cookie": f"accessguard_session={cookie}"}, "127.0.0.1"))
        if verdict.response is not None:
            return verdict.response.status
        guard.settle(verdict, 200, json.dumps({"id": patient}).encode())
        return 200

    results.put(_together(read, barrier))
    guard.close()


def _run(target: Any, args_of: Callable[[int], tuple[Any, ...]]) -> list[Any]:
    """Start PROCESSES processes running ``target(*args_of(p), barrier, results)``; gather their results."""
    barrier, results = SPAWN.Barrier(PROCESSES), SPAWN.Queue()
    processes = [SPAWN.Process(target=target, args=(*args_of(p), barrier, results)) for p in range(PROCESSES)]
    for process in processes:
        process.start()
    outcomes = [outcome for _ in processes for outcome in results.get(timeout=120)]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("kind", STORES)
def test_concurrent_reservations_each_see_a_distinct_count(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Reserve is atomic: N simultaneous holds of one read see 0, 1, ..., N-1 reads before them, each exactly once."""
    url = store_url(kind, tmp_path, request.getfixturevalue("redis_server") if kind == "redis" else None)
    open_store(url).close()  # create the schema before the race
    seen = _run(_reserve_worker, lambda p: (url,))
    assert sorted(seen) == list(range(PROCESSES * THREADS))


@pytest.mark.slow
@pytest.mark.parametrize("kind", STORES)
def test_exactly_the_limit_is_allowed_across_processes(
    kind: str, tmp_path: Path, demo_template: Path, request: pytest.FixtureRequest
) -> None:
    data_dir = _copy_demo(demo_template, tmp_path / "data")
    url = store_url(kind, tmp_path, request.getfixturevalue("redis_server") if kind == "redis" else None)
    guard = Guard(demo_settings(data_dir, store_url=url))
    cookie = start_session(guard, "inf.dubois", int(time.time()))

    outcomes = _run(_guard_worker, lambda p: (str(data_dir), url, cookie, 1 + p * THREADS))

    assert len(outcomes) == PROCESSES * THREADS
    assert outcomes.count(200) == LIMIT, outcomes
    assert outcomes.count(403) == PROCESSES * THREADS - LIMIT, outcomes
    usage = guard.store.reserve_reads(ReadRequest("inf.dubois", "chu-caen", None, 0), time.time()).usage
    assert usage.identity_reads["1m"] == LIMIT  # every hold settled or released: only what was served counts
    guard.close()
