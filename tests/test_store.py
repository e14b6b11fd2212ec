"""One test suite, two stores: SQLite and Redis behave the same."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accessguard.errors import ConfigurationError
from accessguard.signals.geo import UNRESOLVED, Location
from accessguard.store import open_store
from accessguard.store.base import ATTEMPTS_FORGOTTEN_S, LIVE_SESSION_S, RESERVATION_TTL_S, Attempt, Backoff, ReadRequest, Session, Store
from tests.store_support import store_url

NOW = 1_790_000_000.0
CAEN = Location(True, "FR", "Caen", 49.18, -0.37)
LAGOS = Location(True, "NG", "Lagos", 6.52, 3.38)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.realpart)])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    server = request.getfixturevalue("redis_server") if request.param == "redis" else None
    return store_url(request.param, tmp_path, server)


@pytest.fixture
def store(store_location: str) -> Iterator[Store]:
    opened = open_store(store_location)
    yield opened
    opened.close()


def reads(pro: str = "pro-1", requested: int = 1, *, org: str = "chu-caen", session: str | None = None, **kw: Any) -> ReadRequest:
    return ReadRequest(pro, org, session, requested, **kw)


def serve(store: Store, request: ReadRequest, patients: list[str], now: float = NOW, location: Location | None = None) -> None:
    store.settle_reads(store.reserve_reads(request, now), patients, location, now)


# sessions


def test_session_round_trip(store: Store) -> None:
    store.create_session(Session("s1", "pro-1", 100, 200, {"pwd": 100}))
    store.record_factor("s1", "otp", 150)
    session = store.get_session("s1")
    assert session == Session("s1", "pro-1", 100, 200, {"pwd": 100, "otp": 150})
    store.delete_session("s1")
    assert store.get_session("s1") is None
    store.record_factor("s1", "otp", 160)  # no session: nothing recorded, no error
    assert store.get_session("s1") is None


def test_rotating_a_session_moves_it_under_a_new_id(store: Store) -> None:
    """A step-up's new id carries the session (factors, expiry, place among the live sessions); the old id ends."""
    store.create_session(Session("s1", "pro-1", int(NOW), int(NOW) + 200, {"pwd": int(NOW)}))
    store.reserve_reads(reads(session="s1", location=LAGOS), NOW)
    rotated = store.rotate_session("s1", "s2", "otp", int(NOW) + 1)
    assert rotated == Session("s2", "pro-1", int(NOW), int(NOW) + 200, {"pwd": int(NOW), "otp": int(NOW) + 1})
    assert store.get_session("s2") == rotated
    assert store.get_session("s1") is None
    store.create_session(Session("s3", "pro-1", int(NOW) + 2, int(NOW) + 200))
    [elsewhere] = store.reserve_reads(reads(session="s3", location=CAEN), NOW + 2).live_sessions  # s2, still seen in Lagos
    assert elsewhere.location.city == "Lagos"
    assert store.rotate_session("s1", "s4", "otp", int(NOW) + 3) is None  # the old id opens nothing
    assert store.get_session("s4") is None
    assert store.revoke_sessions("pro-1", "account_suspended") == 2  # the owner's session list follows the new id
    assert store.rotate_session("s2", "s5", "webauthn", int(NOW) + 4) is None  # a step-up never revives a revoked session
    assert store.get_session("s5") is None
    assert store.get_session("s2") == Session("s2", "pro-1", int(NOW), int(NOW) + 200, {}, revoked="account_suspended")


def test_revoke_sessions_marks_only_that_professionals(store: Store) -> None:
    for sid, pro in (("a1", "pro-a"), ("a2", "pro-a"), ("b1", "pro-b")):
        store.create_session(Session(sid, pro, 100, 200, {"pwd": 100, "otp": 110}))
    assert store.revoke_sessions("pro-a", "account_suspended") == 2
    # kept until it would have expired, without its factors, so it is told apart from an unknown session
    assert store.get_session("a1") == Session("a1", "pro-a", 100, 200, {}, revoked="account_suspended")
    assert store.get_session("a2") == Session("a2", "pro-a", 100, 200, {}, revoked="account_suspended")
    assert store.get_session("b1") == Session("b1", "pro-b", 100, 200, {"pwd": 100, "otp": 110})
    assert store.revoke_sessions("pro-a", "account_suspended") == 0  # already revoked: not counted, reason kept
    assert store.get_session("a1") == Session("a1", "pro-a", 100, 200, {}, revoked="account_suspended")


def test_a_revoked_session_never_comes_back_to_life(store: Store) -> None:
    store.create_session(Session("a1", "pro-a", int(NOW), int(NOW) + 40_000, {"pwd": int(NOW)}))
    store.reserve_reads(reads("pro-a", session="a1", location=LAGOS), NOW)
    store.revoke_sessions("pro-a", "authenticators_contained")
    store.record_factor("a1", "otp", int(NOW) + 1)  # a step-up that was already under way
    store.reserve_reads(reads("pro-a", session="a1", location=LAGOS), NOW + 2)  # a request that was already under way
    assert store.get_session("a1") == Session("a1", "pro-a", int(NOW), int(NOW) + 40_000, {}, revoked="authenticators_contained")
    store.create_session(Session("a2", "pro-a", int(NOW) + 3, int(NOW) + 40_000))
    assert store.reserve_reads(reads("pro-a", session="a2", location=CAEN), NOW + 3).live_sessions == ()  # not live elsewhere
    assert store.revoke_sessions("pro-a", "account_suspended") == 1  # only the new one
    assert store.get_session("a1").revoked == "authenticators_contained"  # type: ignore[union-attr]


def test_sqlite_drops_revoked_sessions_once_they_would_have_expired(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.create_session(Session("old", "pro-a", 100, 200))
    store.revoke_sessions("pro-a", "account_suspended")
    store.create_session(Session("new", "pro-b", 199, 300))
    assert store.get_session("old") is not None
    store.create_session(Session("newer", "pro-b", 200, 300))
    assert store.get_session("old") is None
    store.close()


def test_sqlite_drops_a_professionals_expired_sessions_at_their_next_login(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.create_session(Session("expired", "pro-a", 100, 200))
    store.create_session(Session("other", "pro-b", 100, 200))
    store.create_session(Session("next", "pro-a", 250, 400))
    rows = sqlite3.connect(tmp_path / "store.db").execute("SELECT id FROM sessions ORDER BY id").fetchall()
    assert rows == [("next",), ("other",)]
    store.close()


def test_sqlite_deletes_expired_reads_holds_and_places_once_a_minute_per_professional(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    paris = ("place:paris",)
    serve(store, reads(places=paris), ["p1"], NOW)
    store.reserve_reads(reads(requested=5), NOW)  # a hold never settled
    later = NOW + 31 * 86_400  # past every window, the places history and the hold's life
    serve(store, reads(places=("place:lille",)), ["p2"], later)
    db = sqlite3.connect(tmp_path / "store.db")
    assert db.execute("SELECT COUNT(*) FROM read_holds").fetchone() == (0,)
    assert db.execute("SELECT place FROM places").fetchall() == [("place:lille",)]
    assert db.execute("SELECT DISTINCT patient FROM identity_reads").fetchall() == [("p2",)]
    serve(store, reads(places=paris), ["p3"], later + 30)
    store.reserve_reads(reads(requested=5), later + 30)  # within the minute: left for the next clean-up
    serve(store, reads(), [], later + 30 + RESERVATION_TTL_S + 61)
    assert db.execute("SELECT COUNT(*) FROM read_holds").fetchone() == (0,)
    db.close()
    store.close()


@pytest.mark.parametrize(("version", "added_since"), [(2, "revoked_sessions"), (4, "suspensions")])
def test_sqlite_store_upgrades_an_older_file_keeping_its_reads_and_sessions(tmp_path: Path, version: int, added_since: str) -> None:
    path = tmp_path / "store.db"
    store = open_store(f"sqlite:///{path}")
    serve(store, reads(), ["p1"])
    store.create_session(Session("s1", "pro-1", 100, 200))
    store.close()
    with sqlite3.connect(path) as db:
        db.execute(f"DROP TABLE {added_since}")
        db.execute(f"PRAGMA user_version = {version}")
    db.close()
    store = open_store(f"sqlite:///{path}")
    assert store.reserve_reads(reads(), NOW + 1).usage.identity_reads["1m"] == 1
    assert store.get_session("s1") == Session("s1", "pro-1", 100, 200)
    assert store.revoke_sessions("pro-1", "account_suspended") == 1
    store.set_suspended("pro-1", True)
    assert store.reserve_reads(reads(), NOW + 2).suspended
    store.close()


def test_a_suspension_is_kept_until_lifted_and_every_reservation_reports_it(store: Store) -> None:
    assert not store.is_suspended("pro-1") and not store.reserve_reads(reads(), NOW).suspended
    store.set_suspended("pro-1", True)
    store.set_suspended("pro-1", True)  # already suspended: no error, still one suspension
    assert store.is_suspended("pro-1") and not store.is_suspended("pro-2")
    assert store.reserve_reads(reads(session="s1", requested=3, without_care=True), NOW + 10).suspended
    assert store.reserve_reads(reads(requested=0, org=""), NOW + 86_400 * 30).suspended  # no expiry: until lifted
    assert not store.reserve_reads(reads("pro-2"), NOW).suspended
    store.set_suspended("pro-1", False)
    store.set_suspended("pro-1", False)  # nothing to lift: no error
    assert not store.is_suspended("pro-1") and not store.reserve_reads(reads(), NOW + 20).suspended


def test_totp_step_is_claimed_once_and_only_forward(store: Store) -> None:
    assert store.claim_totp_step("pro-1", 1000)
    assert not store.claim_totp_step("pro-1", 1000)
    assert not store.claim_totp_step("pro-1", 999)
    assert store.claim_totp_step("pro-1", 1001)
    assert store.claim_totp_step("pro-2", 1000)


def test_an_ephemeral_value_is_taken_once_and_never_after_it_expired(store: Store) -> None:
    store.put_ephemeral("challenge:s1", "state-1", NOW, 60)
    store.put_ephemeral("challenge:s1", "state-2", NOW, 60)  # replaces
    assert store.pop_ephemeral("challenge:s1", NOW + 10) == "state-2"
    assert store.pop_ephemeral("challenge:s1", NOW + 10) is None
    store.put_ephemeral("challenge:s2", "state-3", NOW, 60)
    assert store.pop_ephemeral("challenge:s2", NOW + 61) is None
    assert store.pop_ephemeral("challenge:s2", NOW) is None  # an expired value is gone, not kept


# attempts

BACKOFF = Backoff(max_attempts=3, first_lock_s=10, max_lock_s=40)
SHARED = Backoff(max_attempts=4, first_lock_s=10, max_lock_s=40, forget_after_s=600)


def charge_one(store: Store, key: str, backoff: Backoff, now: float) -> Attempt:
    (attempt,) = store.charge_attempts([(key, backoff)], now)
    return attempt


def test_attempts_lock_from_the_threshold_on_doubling_up_to_the_cap(store: Store) -> None:
    assert [charge_one(store, "code:pro-1", BACKOFF, NOW) for _ in range(2)] == [Attempt(True, 0.0, 1), Attempt(True, 0.0, 2)]
    assert charge_one(store, "code:pro-1", BACKOFF, NOW) == Attempt(True, NOW + 10, 3)  # admitted, and locks
    assert charge_one(store, "code:pro-1", BACKOFF, NOW + 9) == Attempt(False, NOW + 10, 3)  # refused: not counted
    assert charge_one(store, "code:pro-2", BACKOFF, NOW + 9) == Attempt(True, 0.0, 1)  # another key
    assert charge_one(store, "code:pro-1", BACKOFF, NOW + 10) == Attempt(True, NOW + 30, 4)
    assert charge_one(store, "code:pro-1", BACKOFF, NOW + 30) == Attempt(True, NOW + 70, 5)
    assert charge_one(store, "code:pro-1", BACKOFF, NOW + 70) == Attempt(True, NOW + 110, 6)  # capped at 40 s


def test_clearing_attempts_lifts_the_lock_and_restarts_the_count(store: Store) -> None:
    for _ in range(3):
        charge_one(store, "login:dr.martin", BACKOFF, NOW)
    store.settle_attempts(["login:dr.martin", "login:nobody"], [])  # nothing to clear for nobody: no error
    assert charge_one(store, "login:dr.martin", BACKOFF, NOW + 1) == Attempt(True, 0.0, 1)


def test_attempts_are_forgotten_after_a_quiet_day(store: Store) -> None:
    charge_one(store, "code:pro-1", BACKOFF, NOW)
    assert charge_one(store, "code:pro-1", BACKOFF, NOW + ATTEMPTS_FORGOTTEN_S - 1).attempts == 2
    assert charge_one(store, "code:pro-1", BACKOFF, NOW + 2 * ATTEMPTS_FORGOTTEN_S).attempts == 1
    for _ in range(2):
        charge_one(store, "code:pro-2", BACKOFF, NOW)
    locked = charge_one(store, "code:pro-2", BACKOFF, NOW)
    # counted from the end of the lock, not from the last attempt
    assert charge_one(store, "code:pro-2", BACKOFF, locked.locked_until + ATTEMPTS_FORGOTTEN_S - 1).attempts == 4


def test_one_attempt_charges_every_key_or_none(store: Store) -> None:
    """A login charges a username, an address and a network at once; a lock on any of them refuses it and counts nowhere."""
    login = [("login:username:a", BACKOFF), ("login:address:192.0.2.10", SHARED)]
    assert store.charge_attempts(login, NOW) == [Attempt(True, 0.0, 1), Attempt(True, 0.0, 1)]
    for _ in range(2):
        store.charge_attempts([("login:username:b", BACKOFF), ("login:address:192.0.2.10", SHARED)], NOW)
    assert charge_one(store, "login:address:192.0.2.10", SHARED, NOW) == Attempt(True, NOW + 10, 4)  # the address locks
    # a fresh username from the locked address: refused, and its own count stays untouched
    assert store.charge_attempts([("login:username:c", BACKOFF), ("login:address:192.0.2.10", SHARED)], NOW + 1) == [
        Attempt(False, 0.0, 0),
        Attempt(False, NOW + 10, 4),
    ]
    assert charge_one(store, "login:username:c", BACKOFF, NOW + 1) == Attempt(True, 0.0, 1)


def test_a_refund_takes_back_one_attempt_and_keeps_the_lock(store: Store) -> None:
    for _ in range(4):
        charge_one(store, "login:address:192.0.2.10", SHARED, NOW)
    charge_one(store, "login:username:a", BACKOFF, NOW)
    store.settle_attempts(["login:username:a"], ["login:address:192.0.2.10", "login:address:unknown"])
    assert charge_one(store, "login:username:a", BACKOFF, NOW) == Attempt(True, 0.0, 1)  # cleared
    assert charge_one(store, "login:address:192.0.2.10", SHARED, NOW + 9) == Attempt(False, NOW + 10, 3)  # refunded, still locked
    assert charge_one(store, "login:address:192.0.2.10", SHARED, NOW + 10) == Attempt(True, NOW + 20, 4)


def test_each_schedule_forgets_after_its_own_quiet_time(store: Store) -> None:
    charge_one(store, "login:address:192.0.2.10", SHARED, NOW)
    assert charge_one(store, "login:address:192.0.2.10", SHARED, NOW + 599).attempts == 2
    assert charge_one(store, "login:address:192.0.2.10", SHARED, NOW + 599 + 600).attempts == 1


def test_lock_ends_keep_the_fraction_of_a_second(store: Store) -> None:
    """Retry-After is rounded up from the lock's end: a lock end that lost digits would announce 31 s for 30."""
    now = NOW + 0.123456
    for _ in range(3):
        locked = charge_one(store, "code:pro-1", BACKOFF, now)
    assert locked.locked_until == now + 10
    assert charge_one(store, "code:pro-1", BACKOFF, now + 1).locked_until == now + 10


def _charge_from_threads(location: str, threads: int, attempts: int, admitted: multiprocessing.Queue[int]) -> None:  # type: ignore[type-arg]
    store = open_store(location)
    counts: list[int] = []
    start = threading.Barrier(threads)

    def charge() -> None:
        start.wait()
        counts.append(sum(charge_one(store, "code:pro-1", BACKOFF, NOW).admitted for _ in range(attempts)))

    running = [threading.Thread(target=charge) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    store.close()
    admitted.put(sum(counts))


def test_concurrent_attempts_never_slip_past_the_lock(store_location: str) -> None:
    """4 processes of 4 threads charge 10 attempts each at the same instant: exactly the threshold gets in."""
    open_store(store_location).close()  # the SQLite file exists before the processes race to create it
    spawn = multiprocessing.get_context("spawn")
    admitted: multiprocessing.Queue[int] = spawn.Queue()
    processes = [spawn.Process(target=_charge_from_threads, args=(store_location, 4, 10, admitted)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0] * 4
    assert sum(admitted.get(timeout=5) for _ in processes) == BACKOFF.max_attempts


# reads


def test_reads_count_distinct_patients_per_window(store: Store) -> None:
    serve(store, reads(requested=3), ["p1", "p2", "p1"], NOW)
    serve(store, reads(requested=2), ["p2", "p3"], NOW + 30)
    usage = store.reserve_reads(reads(requested=0), NOW + 40).usage
    assert usage.identity_reads == {"1m": 3, "1h": 3, "24h": 3, "7d": 3, "30d": 3}
    assert usage.distinct_patients_24h == 3
    usage = store.reserve_reads(reads(requested=0), NOW + 61).usage
    assert usage.identity_reads == {"1m": 2, "1h": 3, "24h": 3, "7d": 3, "30d": 3}  # p1 was last read at NOW
    usage = store.reserve_reads(reads(requested=0), NOW + 86_400 + 31).usage
    assert usage.identity_reads == {"1m": 0, "1h": 0, "24h": 0, "7d": 3, "30d": 3}  # the day counters go back further


def test_a_hold_counts_for_others_until_settled_with_what_was_served(store: Store) -> None:
    first = store.reserve_reads(reads(requested=20), NOW)
    assert first.usage.identity_reads["1m"] == 0  # its own hold is not in its snapshot
    second = store.reserve_reads(reads(requested=5), NOW)
    assert second.usage.identity_reads == {"1m": 20, "1h": 20, "24h": 20, "7d": 20, "30d": 20}
    assert second.usage.distinct_patients_24h == 0
    store.settle_reads(first, ["p1", "p2"], None, NOW)  # a short page gives back 18
    assert store.reserve_reads(reads(requested=0), NOW).usage.identity_reads["1m"] == 2 + 5
    store.release_reads(second)
    assert store.reserve_reads(reads(requested=0), NOW).usage.identity_reads["1m"] == 2


def test_an_unsettled_hold_expires(store: Store) -> None:
    store.reserve_reads(reads(requested=50), NOW)
    assert store.reserve_reads(reads(requested=0), NOW + RESERVATION_TTL_S - 1).usage.identity_reads["1m"] == 50
    assert store.reserve_reads(reads(requested=0), NOW + RESERVATION_TTL_S + 1).usage.identity_reads["1m"] == 0


def test_organisation_totals_add_up_colleagues_only(store: Store) -> None:
    serve(store, reads("pro-1"), ["p1", "p2"])
    serve(store, reads("pro-2"), ["p2", "p3"])
    serve(store, reads("pro-3", org="chu-lille"), ["p4"])
    store.reserve_reads(reads("pro-2", requested=4), NOW)  # in flight
    usage = store.reserve_reads(reads("pro-1", requested=0), NOW).usage
    assert usage.identity_reads["1h"] == 2
    assert usage.organisation_reads["1h"] == 3 + 4
    assert store.reserve_reads(reads("pro-3", requested=0, org="chu-lille"), NOW).usage.organisation_reads["1h"] == 1
    assert store.reserve_reads(reads("pro-4", requested=0, org=""), NOW).usage.organisation_reads == {"1m": 0, "1h": 0, "24h": 0}


def test_reads_without_care_relationship_count_apart(store: Store) -> None:
    serve(store, reads(requested=2), ["p1", "p2"])
    serve(store, reads(requested=1, without_care=True), ["p3"])
    store.reserve_reads(reads(requested=5, without_care=True), NOW)  # in flight
    usage = store.reserve_reads(reads(requested=0), NOW).usage
    assert usage.identity_reads["1h"] == 3 + 5
    assert usage.without_care_reads["1h"] == 1 + 5


def test_last_seen_moves_only_to_resolved_places(store: Store) -> None:
    assert store.reserve_reads(reads(), NOW).previous is None
    serve(store, reads(), ["p1"], NOW, CAEN)
    serve(store, reads(), ["p2"], NOW + 10, UNRESOLVED)
    previous = store.reserve_reads(reads(), NOW + 20).previous
    assert previous is not None
    assert previous.location == CAEN and previous.time == NOW


def test_live_sessions_are_the_others_still_valid_and_recent(store: Store) -> None:
    for sid in ("mine", "other", "revoked", "expired", "old"):
        store.create_session(Session(sid, "pro-1", int(NOW), int(NOW) + (10 if sid == "expired" else 40_000)))
    store.create_session(Session("colleague", "pro-2", int(NOW), int(NOW) + 40_000))
    store.reserve_reads(reads(session="old", location=LAGOS), NOW - LIVE_SESSION_S)
    for sid in ("other", "revoked", "expired", "mine"):
        store.reserve_reads(reads(session=sid, location=LAGOS), NOW)
    store.reserve_reads(reads("pro-2", session="colleague", location=LAGOS), NOW)
    store.reserve_reads(reads(session="other", location=UNRESOLVED), NOW + 5)  # unresolved: keeps Lagos
    store.delete_session("revoked")
    live = store.reserve_reads(reads(session="mine", location=CAEN), NOW + 20).live_sessions
    assert [(seen.location.city, seen.time) for seen in live] == [("Lagos", NOW)]


def test_bearer_requests_see_every_live_session(store: Store) -> None:
    store.create_session(Session("s1", "pro-1", int(NOW), int(NOW) + 1000))
    store.reserve_reads(reads(session="s1", location=CAEN), NOW)
    assert len(store.reserve_reads(reads(session=None), NOW + 1).live_sessions) == 1


def test_unknown_store_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="store_url"):
        open_store("postgres://localhost/x")


def test_day_counters_give_long_windows_and_the_baseline(store: Store) -> None:
    group = {"peer_group": "chu-caen/nurse"}
    for day in range(1, 6):  # five earlier days: pro-1 reads 10 a day, pro-2 20, pro-3 30
        for pro, count in (("pro-1", 10), ("pro-2", 20), ("pro-3", 30)):
            patients = [f"{pro}-d{day}-{n}" for n in range(count)]
            serve(store, reads(pro, requested=count, **group), patients, NOW - day * 86_400)
    serve(store, reads(requested=4, **group), ["a", "b", "a", "c"], NOW)
    serve(store, reads(requested=2, **group), ["c", "d"], NOW + 60)  # c was already read today
    usage = store.reserve_reads(reads(requested=0, **group), NOW + 120).usage
    assert usage.identity_reads["7d"] == 4 + 5 * 10 and usage.identity_reads["30d"] == 4 + 5 * 10
    baseline = usage.baseline
    assert (baseline.today, baseline.own_median, baseline.own_days) == (4, 10.0, 5)
    assert (baseline.peers.percentile, baseline.peers.professionals, baseline.peers.days) == (30.0, 3, 15)


def test_sources_count_patients_and_professionals_across_accounts(store: Store) -> None:
    sources = ("address:198.51.100.20", "network:198.51.100.0/24")
    serve(store, reads("pro-1", requested=2, sources=sources), ["p1", "p2"])
    serve(store, reads("pro-2", requested=2, sources=sources), ["p2", "p3"])
    store.reserve_reads(reads("pro-3", requested=5, sources=sources), NOW)  # in flight
    usage = store.reserve_reads(reads("pro-4", requested=0, sources=sources[1:]), NOW + 1).usage
    assert usage.sources == {"network:198.51.100.0/24": {"identity_reads": {"1m": 3 + 5, "1h": 3 + 5}, "professionals": {"1h": 2}}}
    assert store.reserve_reads(reads("pro-4", requested=0, sources=sources), NOW + 3601).usage.sources["address:198.51.100.20"] == {
        "identity_reads": {"1m": 0, "1h": 0},
        "professionals": {"1h": 0},
    }


def test_places_join_the_history_only_when_reads_are_served(store: Store) -> None:
    places = ("city:FR/Caen", "network:192.0.2.0/24")
    refused = store.reserve_reads(reads(places=places), NOW)
    assert (refused.places_seen, refused.places_known) == (frozenset(), 0)
    store.release_reads(refused)
    serve(store, reads(places=places), ["p1"], NOW + 10)
    later = store.reserve_reads(reads(places=("city:FR/Caen", "network:192.0.2.0/24", "city:FR/Lille")), NOW + 20)
    assert (later.places_seen, later.places_known) == (frozenset(places), 2)
    forgotten = store.reserve_reads(reads(places=places), NOW + 31 * 86_400)
    assert (forgotten.places_seen, forgotten.places_known) == (frozenset(), 0)
