"""The decision document: what the policy concluded and why."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    ALLOW = "allow"
    STEP_UP = "step_up"
    DENY = "deny"


#: The stable reason codes; documented in docs/policies.md.
REASON_CODES = frozenset(
    {
        "authentication_required",
        "mfa_required",
        "phishing_resistant_required",
        "stale_authentication",
        "impossible_travel",
        "country_not_allowed",
        "bulk_read_soft_limit",
        "bulk_read_hard_limit",
        "page_too_large",
        "account_suspended",
        "emergency_access",
        "policy_error",
        "concurrent_distant_sessions",
        "no_care_relationship_soft_limit",
        "no_care_relationship_hard_limit",
        "organisation_read_limit",
        "usage_above_baseline",
        "shared_source_soft_limit",
        "shared_source_hard_limit",
        "new_place",
        "unresolved_address",
    }
)


@dataclass(frozen=True)
class StepUp:
    """What the professional must do to turn a ``step_up`` into an allow."""

    methods: tuple[str, ...] = ()
    max_age: int | None = None


@dataclass(frozen=True)
class Decision:
    """An immutable decision; ``reasons`` are stable codes."""

    outcome: Outcome
    reasons: tuple[str, ...]
    policy_revision: str
    step_up: StepUp = field(default_factory=StepUp)
    obligations: dict[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @classmethod
    def from_document(cls, document: Any, policy_revision: str) -> Decision:
        """Validate the engine's output; anything unexpected raises ValueError."""
        if not isinstance(document, dict):
            raise ValueError(f"decision is not an object: {document!r}")
        outcome = Outcome(str(document.get("outcome")))
        reasons = document.get("reasons", [])
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise ValueError(f"decision reasons are not a list of strings: {reasons!r}")
        if outcome is not Outcome.ALLOW and not reasons:
            raise ValueError(f"a {outcome.value} decision must carry reasons")
        raw_step_up = document.get("step_up") or {}
        max_age = raw_step_up.get("max_age")
        step_up = StepUp(
            methods=tuple(raw_step_up.get("methods", ())),
            max_age=int(max_age) if max_age is not None else None,
        )
        obligations = document.get("obligations") or {}
        if not isinstance(obligations, dict):
            raise ValueError(f"decision obligations are not an object: {obligations!r}")
        return cls(outcome, tuple(reasons), policy_revision, step_up, obligations)

    @classmethod
    def fail_closed(cls, policy_revision: str) -> Decision:
        """The decision taken when the engine cannot decide."""
        return cls(Outcome.DENY, ("policy_error",), policy_revision)
