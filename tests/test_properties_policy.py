"""The policy input and the default policy, under generated input.

- Every input ``build_input`` makes, from any subject, factors, place,
  movement, sessions and usage the signals can produce, validates against
  input-v1.schema.json.
- Monotonicity on the embedded engine, from the decision cases in
  policies/cases/ mutated: adding a stronger factor (a TOTP, a WebAuthn
  assertion with user verification) never makes the outcome worse; more reads
  (every counter up by the same amount, a larger page) never make it better.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accessguard.authn.state import AuthnState, Subject
from accessguard.policy.cases import DecisionCase, load_cases
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.input import SCHEMA_PATH, RequestContext, build_input
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from accessguard.signals.baseline import Baseline, PeerDays
from accessguard.signals.geo import Location
from accessguard.signals.sources import Place
from accessguard.signals.usage import Usage
from accessguard.signals.velocity import LastSeen, live_sessions, movement
from accessguard.store.base import DAY_WINDOWS, SOURCE_WINDOWS, WINDOWS
from tests.property_support import budget

SCHEMA = json.loads(SCHEMA_PATH.read_text())
CASES = load_cases(DEFAULT_POLICY_DIR / "cases")
RANK = {"deny": 0, "step_up": 1, "allow": 2}

# -- the input builder ------------------------------------------------------------------------------

TIMES = st.floats(1_600_000_000, 2_000_000_000)
COUNTS = st.integers(0, 10**6)
TEXT = st.text(max_size=20)
METHODS = st.sampled_from(["GET", "HEAD", "POST"])
KINDS, STATUSES = st.sampled_from(["anonymous", "professional", "admin"]), st.sampled_from(["active", "suspended"])
LOCATIONS = st.just(Location(False)) | st.builds(
    Location, st.just(True), st.none() | TEXT, st.none() | TEXT, st.floats(-90, 90), st.floats(-180, 180)
)
FACTORS = st.dictionaries(st.sampled_from(["pwd", "otp", "webauthn", "webauthn_no_uv", "recovery", "oidc"]), st.integers(0, 2 * 10**9))
WINDOW_COUNTS = st.fixed_dictionaries({window: COUNTS for window in WINDOWS})
SOURCE = st.fixed_dictionaries(
    {"identity_reads": st.fixed_dictionaries({w: COUNTS for w in SOURCE_WINDOWS}), "professionals": st.fixed_dictionaries({"1h": COUNTS})}
)
USAGES = st.builds(
    Usage,
    st.fixed_dictionaries({window: COUNTS for window in [*WINDOWS, *DAY_WINDOWS]}),
    COUNTS,
    WINDOW_COUNTS,
    WINDOW_COUNTS,
    st.builds(Baseline, COUNTS, st.floats(0, 1e6), COUNTS, st.builds(PeerDays, COUNTS, st.floats(0, 1e6), COUNTS, COUNTS)),
    st.dictionaries(st.sampled_from(["address:192.0.2.10", "network:192.0.2.0/24", "asn:64500"]), SOURCE),
)


@budget(300)
@given(
    now=TIMES,
    request=st.builds(RequestContext, METHODS, TEXT, TEXT, TEXT, st.integers(0, 999_999), st.none() | TEXT),
    subject=st.builds(
        Subject,
        TEXT,
        st.sampled_from(["anonymous", "professional", "admin"]),
        st.tuples(TEXT),
        TEXT,
        st.sampled_from(["active", "suspended"]),
    ),
    factors=FACTORS,
    here=LOCATIONS,
    before=st.none() | st.builds(LastSeen, LOCATIONS, TIMES),
    others=st.lists(st.builds(LastSeen, LOCATIONS, TIMES), max_size=3),
    place=st.builds(Place, st.booleans(), st.booleans(), st.booleans(), COUNTS),
    usage=USAGES,
    care=st.sampled_from(["treating", "organisation", "none", "unknown"]),
    emergency=st.none() | TIMES,
)
def test_every_input_the_builder_makes_matches_the_schema(
    now: float,
    request: RequestContext,
    subject: Subject,
    factors: dict[str, int],
    here: Location,
    before: LastSeen | None,
    others: list[LastSeen],
    place: Place,
    usage: Usage,
    care: str,
    emergency: float | None,
) -> None:
    document = build_input(
        now=now,
        request=request,
        subject=subject,
        authn=AuthnState(factors),
        location=here,
        place=place,
        movement=movement(before, here, now),
        live_sessions=live_sessions(others, here, now),
        usage=usage,
        care_relationship=care,
        emergency_declared_at=emergency,
    )
    jsonschema.validate(document, SCHEMA)


# -- monotonicity of the default policy ---------------------------------------------------------------

_ENGINES: dict[str, EmbeddedEngine] = {}


def _outcome(case: DecisionCase, policy_input: dict[str, Any]) -> str:
    key = json.dumps(case.data, sort_keys=True)
    if key not in _ENGINES:
        _ENGINES[key] = EmbeddedEngine(load_policy_set(DEFAULT_POLICY_DIR, case.data))
    return _ENGINES[key].evaluate(policy_input).outcome.value


def _with_factor(policy_input: dict[str, Any], factor: str, ago: int) -> dict[str, Any]:
    """The input of the same session with one more factor verified ``ago`` seconds before the request, as the guard derives it."""
    changed = copy.deepcopy(policy_input)
    factors = {**changed["authn"]["factor_times"], factor: changed["time"] - ago}
    factors[factor] = max(factors[factor], policy_input["authn"]["factor_times"].get(factor, 0))
    state = AuthnState(factors)
    changed["authn"] = {
        "methods": sorted(factors),
        "aal": state.aal,
        "phishing_resistant": state.phishing_resistant,
        "phishing_resistant_time": state.phishing_resistant_time,
        "auth_time": state.auth_time,
        "factor_times": factors,
    }
    return changed


def _with_more_reads(policy_input: dict[str, Any], more: int, larger_page: int) -> dict[str, Any]:
    """The same request after ``more`` further patients were read (every counter that exists up by as much), asking for a larger page."""
    changed = copy.deepcopy(policy_input)
    usage = changed["usage"]
    for windows in (usage.get("identity_reads"), usage.get("without_care_reads"), usage.get("organisation", {}).get("identity_reads")):
        for window in windows or {}:
            windows[window] += more
    usage["distinct_patients_24h"] += more
    if "baseline" in usage:
        usage["baseline"]["today"] += more
    for source in usage.get("sources", {}).values():
        for window in source["identity_reads"]:
            source["identity_reads"][window] += more
    changed["request"]["resource"]["requested_count"] += larger_page
    return changed


@pytest.mark.slow
@budget(150)
@given(case=st.sampled_from(CASES), factor=st.sampled_from(["otp", "webauthn"]), ago=st.integers(0, 7200))
def test_a_stronger_factor_never_makes_the_outcome_worse(case: DecisionCase, factor: str, ago: int) -> None:
    before = _outcome(case, case.input)
    after = _outcome(case, _with_factor(case.input, factor, ago))
    assert RANK[after] >= RANK[before], f"{case.name}: {before} became {after} with {factor} {ago}s ago"


@pytest.mark.slow
@budget(150)
@given(case=st.sampled_from(CASES), more=st.integers(0, 5000), larger_page=st.integers(0, 1000))
def test_more_reads_never_make_the_outcome_better(case: DecisionCase, more: int, larger_page: int) -> None:
    before = _outcome(case, case.input)
    after = _outcome(case, _with_more_reads(case.input, more, larger_page))
    assert RANK[after] <= RANK[before], f"{case.name}: {before} became {after} with {more} more reads and a page {larger_page} larger"
