"""Where a protected request's time goes: per-stage medians of the demo's request path.

The demo (Wasm engine, SQLite store) is called in process like ``bench/decision.py``
does; the stages of the path (the ASGI middleware, ``Guard.decide`` and its
parts, the app, ``Guard.settle``) are wrapped with ``time.perf_counter_ns``
timers, and each stage's time per request is summed, then the median over the
requests printed. Stages nest (``decide`` holds ``subject``, ``reserve``, ...),
so the figures are inclusive; ``unaccounted`` is what the middleware spent
outside the stages listed at its level. Each timer adds well under a microsecond.

    .venv/bin/python -m bench.profile_path [--requests 3000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accessguard import guard as guard_module
from accessguard.demo.app import build
from accessguard.middleware import asgi as asgi_module
from bench.decision import CAEN, Caller, session_cookie
from bench.timing import report


class Stages:
    """Per-request sums of the time spent in each wrapped stage (ns)."""

    def __init__(self) -> None:
        self.current: dict[str, int] = {}
        self.requests: list[dict[str, int]] = []

    def timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timer(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return function(*args, **kwargs)
            finally:
                self.current[name] = self.current.get(name, 0) + time.perf_counter_ns() - started

        return timer

    def timed_async(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        async def timer(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return await function(*args, **kwargs)
            finally:
                self.current[name] = self.current.get(name, 0) + time.perf_counter_ns() - started

        return timer

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        setattr(owner, attribute, self.timed(name, getattr(owner, attribute)))

    def next_request(self) -> None:
        self.requests.append(self.current)
        self.current = {}

    def medians_us(self) -> dict[str, float]:
        names = dict.fromkeys(name for request in self.requests for name in request)
        return {name: round(statistics.median(r.get(name, 0) for r in self.requests) / 1000, 1) for name in names}


#: (owner path from the guard, attribute, stage name): the stages of the protected path, outermost first.
GUARD_STAGES = (
    ("", "is_endpoint", "is_endpoint"),
    ("", "check", "check"),
    ("", "decide", "check/decide"),
    ("", "_subject", "decide/subject"),
    ("sessions", "resume", "subject/session"),
    ("", "_account", "subject/account"),
    ("geo", "locate", "decide/geo"),
    ("", "_reserve", "decide/reserve"),
    ("store", "reserve_reads", "reserve/store"),
    ("", "_emergency", "decide/emergency"),
    ("engine", "evaluate", "decide/engine"),
    ("access_log", "write", "decide/access_log.write"),
    ("metrics", "decided", "decide/metrics"),
    ("", "settle", "settle"),
    ("access_log", "served", "settle/access_log.served"),
    ("store", "settle_reads", "settle/store"),
)
#: Module functions the path calls by name.
MODULE_STAGES = (
    (asgi_module, "_facts", "facts"),
    (asgi_module, "begin_request", "request_id"),
    (guard_module, "forwarded_client", "decide/client_address"),
    (guard_module, "build_input", "decide/build_input"),
    (guard_module, "_log_decision", "decide/log_line"),
)


async def profile(data_dir: Path, requests: int) -> dict[str, float]:
    app, guard = build(data_dir)
    caller = Caller(app)
    cookie = await session_cookie(caller, data_dir)
    headers = [(b"cookie", cookie), (b"x-forwarded-for", CAEN)]
    paths = [f"/patients/pat-{1 + i % 40:04d}" for i in range(requests)]
    for path in paths[:300]:
        await caller("GET", path, headers)
    stages = Stages()
    for owner_path, attribute, name in GUARD_STAGES:
        stages.wrap(guard if not owner_path else getattr(guard, owner_path), attribute, name)
    for module, attribute, name in MODULE_STAGES:
        stages.wrap(module, attribute, name)
    app.app = stages.timed_async("app", app.app)
    total = stages.timed_async("middleware", app)
    try:
        for path in paths:
            status, _, _ = await Caller(total)("GET", path, headers)
            assert status == 200, status
            stages.next_request()
    finally:
        for module, attribute, _ in MODULE_STAGES:
            setattr(module, attribute, getattr(module, attribute).__wrapped__)
        guard.close()
    medians = stages.medians_us()
    top = ("facts", "request_id", "is_endpoint", "check", "app", "settle")
    medians["unaccounted"] = round(
        statistics.median(r["middleware"] - sum(r.get(n, 0) for n in top) for r in stages.requests) / 1000,
        1,
    )
    medians["middleware_minus_app"] = round(statistics.median(r["middleware"] - r["app"] for r in stages.requests) / 1000, 1)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="profiled protected requests")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(profile(Path(tmp), args.requests))
    report(figures, args.json)


if __name__ == "__main__":
    main()
