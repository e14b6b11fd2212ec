"""The attacker who adapts, replayed through the real demo over HTTP on a simulated clock (issue 12, items 3, 4, 6).

A slow drip under every short window, six stolen accounts from one address,
Lille 25 minutes after Caen, an address no geo database knows; and an
ordinary clinical day that must meet no refusal beyond each session's first step-up.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accessguard.demo.geodb import write_asn_database
from accessguard.policy.policyset import DEFAULT_POLICY_DIR
from tests.authenticators import assertion, enrolled_key, reasons
from tests.conftest import CAEN, LILLE, Clock, Demo, _copy_demo, make_demo

DAY = 86_400
#: Midnight UTC, so that simulated days are the counters' days.
MIDNIGHT = 1_789_948_800.0
CAEN_DESK = "192.0.2.77"  # the victim's own network: the geo checks have nothing to say
UNKNOWN_PUBLIC = "192.0.3.10"  # public, in no demo database
RETRY_S = 600
NURSES = ("inf.dubois", "inf.leroy", "inf.petit", "inf.roux")


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Iterator[Demo]:
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), clock=Clock(MIDNIGHT + 8 * 3600))
    yield demo
    demo.guard.close()


def patient(number: int) -> str:
    return f"pat-{number % 1000 + 1:04d}"


def read(client: httpx.Client, number: int, source: str) -> httpx.Response:
    return client.get(f"/patients/{patient(number)}", headers={"x-forwarded-for": source})


def search(client: httpx.Client, offset: int, limit: int, source: str) -> httpx.Response:
    return client.get(f"/patients?limit={limit}&offset={offset}", headers={"x-forwarded-for": source})


def alerted(demo: Demo) -> list[str]:
    """The reasons of every alert raised so far (the outbox in audit.db)."""
    demo.guard.access_log.flush()
    with sqlite3.connect(Path(demo.guard.settings.data_dir) / "audit.db") as db:
        return [r for (payload,) in db.execute("SELECT payload FROM alerts") for r in json.loads(payload).get("reasons", [])]


def usual_month(demo: Demo, days: int = 10) -> None:
    """Four nurses of chu-caen each read about 30 patients a day, from Caen, for ``days`` days before today."""
    for username in NURSES[2:]:
        demo.guard.accounts.add(username, "unused-password-1", kind="professional", roles=("nurse",), organisation="chu-caen")
    now = demo.clock.now
    for day in range(days, 0, -1):
        for index, username in enumerate(NURSES):
            demo.clock.now = now - day * DAY + index * 3600
            client = demo.session_client(username)
            for page in range(2):  # pages of up to 20, an hour apart: no security key needed
                demo.clock.advance(3600)
                offset = (day * 97 + index * 211 + page * 20) % 900
                assert search(client, offset=offset, limit=14 + index, source=CAEN).status_code == 200
    demo.clock.now = now


def drip(demo: Demo, victim: str, every_s: int, days: int) -> tuple[int, float | None]:
    """One new record every ``every_s`` seconds for ``days`` days: records served, and when the first refusal came.

    The attacker holds the password and relays a code whenever a session expires: a new session of the victim's,
    with no security key.
    """
    served, first_refused, start, refused = 0, None, demo.clock.now, False
    client = demo.session_client(victim)
    while demo.clock.now < start + days * DAY:
        demo.clock.advance(max(every_s, RETRY_S) if refused else every_s)  # refused, it tries again every 10 minutes
        response = read(client, 500 + served, CAEN_DESK)
        if response.status_code == 401 and "invalid-session" in response.json()["type"]:
            client = demo.session_client(victim)
            response = read(client, 500 + served, CAEN_DESK)
        refused = response.status_code != 200
        if not refused:
            served += 1
        else:
            assert response.status_code in (401, 403), response.text
            first_refused = first_refused or demo.clock.now - start
    return served, first_refused


@pytest.mark.parametrize("every_s", [100, 600])
def test_a_slow_drip_is_flagged_on_its_first_day_and_stopped_before_300_records(demo: Demo, every_s: int) -> None:
    usual_month(demo)
    served, first_refused = drip(demo, "inf.dubois", every_s, days=3)
    assert first_refused is not None and first_refused < DAY
    assert "usage_above_baseline" in alerted(demo)
    assert served < 300


def test_the_baseline_step_up_names_its_reason_and_asks_for_a_security_key(demo: Demo) -> None:
    usual_month(demo)
    stolen = demo.session_client("inf.dubois")
    for number in range(200):
        demo.clock.advance(100)
        response = read(stolen, 500 + number, CAEN_DESK)
        if response.status_code != 200:
            break
    assert response.status_code == 401
    assert "usage_above_baseline" in reasons(response)
    assert response.json()["step_up"]["methods"] == ["webauthn"]


def test_six_accounts_from_one_lille_address_are_caught(demo: Demo) -> None:
    """Six accounts, one address, a burst of searches within two seconds: the shared source is stepped up, then denied, and alerted."""
    for index in range(4):
        demo.guard.accounts.add(f"stolen-{index}", "unused-password-1", kind="professional", roles=("doctor",), organisation="ch-lille")
    accounts = ["dr.bernard", "dr.martin", *(f"stolen-{index}" for index in range(4))]
    clients = [demo.session_client(username) for username in accounts]
    served, refusals = 0, []
    for burst in range(26):
        client = clients[burst % len(clients)]
        demo.clock.advance(0.07)
        response = search(client, offset=burst * 10, limit=10, source=LILLE)
        if response.status_code == 200:
            served += len(response.json()["patients"])
        else:
            refusals.append(reasons(response))
    assert served <= 100  # the address's soft limit per minute, for everyone together
    assert refusals and all(any(r.startswith("shared_source_") for r in found) for found in refusals)
    assert "shared_source_soft_limit" in alerted(demo)


def test_one_address_reading_for_more_professionals_than_a_nat_would_carry_is_denied(demo_template: Path, tmp_path: Path) -> None:
    """The figures are data: an operator whose NAT carries 3 professionals an hour sets it, and a fourth, fifth… are refused."""
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies, ignore=shutil.ignore_patterns("cases"))
    data = json.loads((policies / "data.json").read_text())
    data["accessguard"]["config"]["shared_source"]["address"]["professionals"] = {"soft": {"1h": 2}, "hard": {"1h": 3}}
    (policies / "data.json").write_text(json.dumps(data))
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), policy_dir=policies)
    try:
        key = enrolled_key(demo, "inf.leroy")
        accounts = ["dr.martin", "dr.bernard", "inf.dubois", "inf.leroy", "sec.moreau"]
        outcomes = []
        for index, username in enumerate(accounts):
            demo.clock.advance(60)
            client = demo.session_client(username)
            outcomes.append(read(client, index, LILLE))
            if username == "inf.leroy":  # the fourth steps up with her security key, and is served
                assert reasons(outcomes[-1]) == ["shared_source_soft_limit"]
                assert assertion(client, key).status_code == 200
                outcomes[-1] = read(client, index, LILLE)
        assert [r.status_code for r in outcomes] == [200, 200, 200, 200, 403]
        assert reasons(outcomes[4]) == ["shared_source_hard_limit"]
    finally:
        demo.guard.close()


def test_reads_from_several_networks_of_one_autonomous_system_add_up(demo_template: Path, tmp_path: Path) -> None:
    """With an ASN database, two professionals on two networks of one AS add up there (not per address or network)."""
    asn_db = tmp_path / "asn.mmdb"
    write_asn_database(asn_db, {"198.51.100.0/24": (64500, "Relay Hosting"), "2001:db8::/32": (64500, "Relay Hosting")})
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies, ignore=shutil.ignore_patterns("cases"))
    data = json.loads((policies / "data.json").read_text())
    data["accessguard"]["config"]["shared_source"]["asn"]["soft"] = {"1m": 15}
    (policies / "data.json").write_text(json.dumps(data))
    demo = make_demo("asgi", _copy_demo(demo_template, tmp_path / "data"), policy_dir=policies, asn_database=asn_db)
    try:
        assert search(demo.session_client("dr.bernard"), 0, 10, LILLE).status_code == 200
        response = search(demo.session_client("dr.martin"), 10, 10, "2001:db8:5::1")  # IPv6, in no city database either
        assert response.status_code == 401
        assert "shared_source_soft_limit" in reasons(response)
        assert search(demo.session_client("inf.dubois"), 20, 10, CAEN).status_code == 200  # another AS
    finally:
        demo.guard.close()


def test_lille_25_minutes_after_caen_is_impossible_travel(demo: Demo) -> None:
    client = demo.session_client("dr.martin")
    assert read(client, 1, CAEN).status_code == 200
    demo.clock.advance(25 * 60)
    response = read(client, 2, LILLE)
    assert response.status_code == 401
    assert "impossible_travel" in reasons(response)


def test_a_new_network_in_a_new_city_needs_a_security_key(demo: Demo) -> None:
    """A relay from a city and a network never seen for the professional, long after the last read (no travel rule)."""
    client = demo.session_client("dr.martin")
    assert read(client, 1, CAEN).status_code == 200
    demo.clock.advance(3 * 3600)  # long enough for the train: no travel rule
    response = read(client, 2, LILLE)
    assert response.status_code == 401
    assert reasons(response) == ["new_place"]
    assert response.json()["step_up"]["methods"] == ["webauthn"]
    assert "new_place" in alerted(demo)
    demo.clock.advance(60)
    assert read(client, 3, CAEN).status_code == 200  # home again: a known place


def test_an_unknown_public_address_is_stepped_up_for_a_bulk_read(demo: Demo) -> None:
    client = demo.session_client("dr.martin")
    assert read(client, 1, UNKNOWN_PUBLIC).status_code == 200  # one record: allowed by default
    response = search(client, 0, 48, UNKNOWN_PUBLIC)
    assert response.status_code == 401
    assert "unresolved_address" in reasons(response)
    assert search(client, 0, 20, "10.20.30.40").status_code == 200  # a private address is never a reason on its own


def test_an_ordinary_day_meets_no_refusal_beyond_each_sessions_first_step_up(demo: Demo) -> None:
    """Four professionals: reads and searches all day in Caen; a doctor takes the train to Lille (3.5 h) and works there;
    a nurse works a night shift across midnight. Each session may be asked once to step up (a security key); nothing else."""
    usual_month(demo)
    keys = {username: enrolled_key(demo, username) for username in ("dr.martin", "inf.dubois", "sec.moreau", "inf.leroy")}
    stepped_up: dict[str, list[str]] = {}

    def work(name: str, client: httpx.Client, number: int, source: str, *, page: bool = False) -> None:
        response = search(client, number % 900, 10, source) if page else read(client, number, source)
        if response.status_code == 401 and name not in stepped_up:  # the session's first step-up: the professional has a key
            stepped_up[name] = reasons(response)
            assert assertion(client, keys[name.split("@")[0]]).status_code == 200
            response = search(client, number % 900, 10, source) if page else read(client, number, source)
        assert response.status_code == 200, (name, response.text)

    martin = demo.session_client("dr.martin")
    dubois, moreau = demo.session_client("inf.dubois"), demo.session_client("sec.moreau")
    for step in range(30):  # 08:00 to 12:00 in Caen
        demo.clock.advance(8 * 60)
        work("dr.martin@caen", martin, 100 + step, CAEN, page=step % 6 == 0)
        work("inf.dubois", dubois, 300 + step, CAEN, page=step % 10 == 0)
        work("sec.moreau", moreau, 600 + step, CAEN)
    demo.clock.advance(int(3.5 * 3600))  # the train to Lille; a new session there
    martin_lille = demo.session_client("dr.martin")
    for step in range(20):
        demo.clock.advance(10 * 60)
        work("dr.martin@lille", martin_lille, 200 + step, LILLE, page=step % 5 == 0)
    demo.clock.now = MIDNIGHT + 21 * 3600  # the night shift, 21:00 to 07:00
    leroy = demo.session_client("inf.leroy")
    for step in range(40):
        demo.clock.advance(15 * 60)
        work("inf.leroy", leroy, 700 + step, CAEN, page=step % 8 == 0)
    assert "inf.dubois" not in stepped_up and "inf.leroy" not in stepped_up  # their usual places, their usual days
    assert stepped_up.get("dr.martin@lille") == ["new_place"]  # a city and a network never seen: the session's one step-up
