"""The PolicyEngine protocol every engine (embedded, OPA server) implements."""

from __future__ import annotations

from typing import Any, Protocol

from accessguard.decision import Decision

#: The rule every engine evaluates; its OPA data path is /v1/data/accessguard/policy/decision.
DECISION_ENTRYPOINT = "accessguard/policy/decision"


class PolicyEngine(Protocol):
    """Turns a policy input document into a Decision.

    ``evaluate`` never raises for an evaluation fault: it answers
    ``Decision.fail_closed`` (reason ``policy_error``) and logs why.
    """

    @property
    def revision(self) -> str: ...

    def evaluate(self, policy_input: dict[str, Any]) -> Decision: ...

    def close(self) -> None: ...
