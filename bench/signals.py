"""Per-request cost of the signals on the SQLite and the Redis store, same run, and Redis round trips per request.

A doctor with a realistic history on each store (100 distinct patients read in
the last 24 h, 3,000 by the organisation, two other live sessions), then, in
blocks interleaved between the stores:

- signals: geo lookup + ``reserve_reads`` (windows of three scopes, holds, last
  seen, other live sessions, placing the hold) + movement and live-session
  distances: everything the decision needs from the signals;
- settle: ``settle_reads`` after the response;
- guard: a whole protected read (``Guard.check`` + ``Guard.settle``, engine and
  access log included), for scale;
- a bare Redis PING, the cost of one loopback round trip.

Redis round trips are counted with MONITOR while guarded reads run: commands the
guard's client sent (not those run inside its scripts), per request.

``--json`` prints the figures as one JSON object last.

    .venv/bin/python -m bench.signals [--requests 2000] [--redis redis://HOST:PORT/DB] [--json]
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis
from redis.connection import AbstractConnection

from accessguard.demo.app import build, demo_settings
from accessguard.demo.geodb import DEMO_DATABASE
from accessguard.facts import RequestFacts
from accessguard.guard import Guard
from accessguard.signals.geo import GeoLocator
from accessguard.signals.velocity import live_sessions, movement
from accessguard.store.base import ReadRequest, Session, Store
from bench.timing import summary
from tests.redis_server import RedisServer
from tests.store_support import start_session

CAEN, LILLE = "192.0.2.10", "198.51.100.20"
PRO, ORG = "dr.martin", "chu-caen"
HISTORY = 100  # distinct patients the doctor read in the last 24 h
COLLEAGUES = 29  # each read 100 other patients: 3,000 for the organisation (limit 5,000)
BLOCK = 100


def recent(n: int) -> str:
    """One of the 4 patients of the doctor's history read in the last hour: the counts stay put."""
    return f"p-{HISTORY - 1 - n % 4}"


def directory(n: int) -> str:
    """One of 30 directory patients: 130 distinct in 24 h, under the doctor's soft limit of 150."""
    return f"pat-{n % 30 + 1:04d}"


def prefill(store: Store, now: float) -> str:
    """The doctor's history, the organisation's, two other live sessions; the doctor's session id."""
    spread = 86_000 / HISTORY

    def history(pro: str, patients: list[str]) -> None:
        for n, patient in enumerate(patients):
            at = now - 86_000 + n * spread
            store.settle_reads(store.reserve_reads(ReadRequest(pro, ORG, None, 1), at), [patient], None, at)

    history(PRO, [f"p-{n}" for n in range(HISTORY)])
    for c in range(COLLEAGUES):
        history(f"colleague-{c}", [f"p-{c}-{n}" for n in range(HISTORY)])
    for sid, place in (("other-1", LILLE), ("other-2", CAEN), ("mine", CAEN)):
        store.create_session(Session(sid, PRO, int(now), int(now) + 43_200, {"pwd": int(now), "otp": int(now)}))
        where = GeoLocator(DEMO_DATABASE).locate(ipaddress.ip_address(place))
        store.reserve_reads(ReadRequest(PRO, ORG, sid, 0, location=where), now - 60)
    return "mine"


def signals_once(store: Store, geo: GeoLocator, session_id: str, patient: str, timings: dict[str, list[int]]) -> None:
    started = time.perf_counter_ns()
    now = time.time()
    location = geo.locate(ipaddress.ip_address(CAEN))
    reservation = store.reserve_reads(ReadRequest(PRO, ORG, session_id, 1, location=location), now)
    movement(reservation.previous, location, now)
    live_sessions(reservation.live_sessions, location, now)
    decided = time.perf_counter_ns()
    store.settle_reads(reservation, [patient], location, now)
    timings["signals"].append(decided - started)
    timings["settle"].append(time.perf_counter_ns() - decided)


def guarded_once(guard: Guard, cookie: str, patient: str, timings: dict[str, list[int]]) -> None:
    headers = {"cookie": f"accessguard_session={cookie}", "x-forwarded-for": CAEN}
    facts = RequestFacts("GET", f"/patients/{patient}", "", headers, "127.0.0.1")
    started = time.perf_counter_ns()
    verdict = guard.check(facts)
    assert verdict.response is None, verdict.response
    guard.settle(verdict, 200, json.dumps({"id": patient}).encode())
    timings["guard"].append(time.perf_counter_ns() - started)


def round_trips(server: redis.Redis, guard: Guard, cookie: str, requests: int) -> tuple[float, float, dict[str, float]]:
    """Per guarded read: the guard's round trips to Redis, its commands, and those commands by name.

    A round trip is one write of the client's socket (``send_packed_command``:
    a pipeline sends all its commands in one); commands are counted by MONITOR,
    script internals excluded.
    """
    seen: collections.Counter[str] = collections.Counter()
    ready, marker = threading.Event(), f"bench-{time.time_ns()}"

    def watch() -> None:
        with server.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if marker in command["command"]:
                    return
                if command.get("client_type") != "lua":
                    seen[command["command"].split()[0].upper()] += 1

    sends = 0
    send = AbstractConnection.send_packed_command

    def counted(connection: AbstractConnection, command: Any, check_health: bool = True) -> None:
        nonlocal sends
        sends += 1
        send(connection, command, check_health)

    watcher = threading.Thread(target=watch)
    watcher.start()
    ready.wait()
    time.sleep(0.2)  # let MONITOR attach before the first request
    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        for n in range(requests):
            guarded_once(guard, cookie, directory(n), collections.defaultdict(list))
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    server.echo(marker)
    watcher.join()
    by_command = {name: count / requests for name, count in sorted(seen.items())}
    return sends / requests, sum(seen.values()) / requests, by_command


def measure(redis_url: str, data_dir: Path, requests: int) -> dict[str, Any]:
    admin = redis.Redis.from_url(redis_url, decode_responses=True)
    admin.flushdb()
    _, initialiser = build(data_dir)  # accounts, patients, keys
    initialiser.close()
    guards = {"sqlite": Guard(demo_settings(data_dir)), "redis": Guard(demo_settings(data_dir, store_url=redis_url))}
    geo = GeoLocator(DEMO_DATABASE)
    now = time.time()
    sessions = {kind: prefill(guard.store, now) for kind, guard in guards.items()}
    cookies = {kind: start_session(guard, PRO, int(now)) for kind, guard in guards.items()}

    timings: dict[str, dict[str, list[int]]] = {kind: collections.defaultdict(list) for kind in guards}
    for n in range(BLOCK):  # warm-up
        for kind, guard in guards.items():
            signals_once(guard.store, geo, sessions[kind], recent(n), timings[kind])
            guarded_once(guard, cookies[kind], directory(n), timings[kind])
    timings = {kind: collections.defaultdict(list) for kind in guards}
    ping: list[int] = []
    for block in range(0, requests, BLOCK):
        for kind, guard in guards.items():
            for n in range(block, block + BLOCK):
                signals_once(guard.store, geo, sessions[kind], recent(n), timings[kind])
            for n in range(block, block + BLOCK):
                guarded_once(guard, cookies[kind], directory(n), timings[kind])
        for _ in range(BLOCK):
            started = time.perf_counter_ns()
            admin.ping()
            ping.append(time.perf_counter_ns() - started)

    per_request, commands, by_command = round_trips(admin, guards["redis"], cookies["redis"], 200)
    results: dict[str, Any] = {kind: {figure: summary(values) for figure, values in timings[kind].items()} for kind in guards}
    results["redis_ping"] = summary(ping)
    results["redis_round_trips_per_request"] = round(per_request, 2)
    results["redis_commands_per_request"] = round(commands, 2)
    results["redis_commands_by_name"] = by_command
    for guard in guards.values():
        guard.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per store and figure")
    parser.add_argument("--redis", help="an existing Redis to use (it is flushed); default: start redis-server on a free port")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.redis:
            results = measure(args.redis, Path(tmp) / "data", args.requests)
        else:
            server = RedisServer(Path(tmp) / "redis").start()
            try:
                results = measure(server.url, Path(tmp) / "data", args.requests)
            finally:
                server.stop()

    by_command = results["redis_commands_by_name"]
    print(f"{args.requests} requests per store and figure; p50 / p99 in µs")
    print(f"{'figure':<10} {'SQLite':>18} {'Redis':>18}")
    for figure in ("signals", "settle", "guard"):
        sqlite, red = results["sqlite"][figure], results["redis"][figure]
        print(f"{figure:<10} {sqlite['p50_us']:>8} / {sqlite['p99_us']:<8} {red['p50_us']:>8} / {red['p99_us']:<8}")
    print(f"redis PING: {results['redis_ping']['p50_us']} / {results['redis_ping']['p99_us']}")
    print(f"redis round trips per guarded read: {results['redis_round_trips_per_request']}")
    print(f"redis commands per guarded read: {results['redis_commands_per_request']} {by_command}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
