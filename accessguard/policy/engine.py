"""The PolicyEngine protocol every engine (Wasm, regopy, OPA server) implements, and the in-process engine by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from accessguard.decision import Decision

if TYPE_CHECKING:
    from accessguard.policy.policyset import PolicySet

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


#: The in-process engines, by the name settings and the command line use; the first is the default.
EMBEDDED_ENGINES = ("wasm", "regopy")


def embedded_engine(name: str, policy_set: PolicySet) -> PolicyEngine:
    """An in-process engine on ``policy_set``: OPA-compiled WebAssembly (``wasm``) or rego-cpp (``regopy``)."""
    if name == "regopy":
        from accessguard.policy.embedded import EmbeddedEngine

        return EmbeddedEngine(policy_set)
    if name == "wasm":
        from accessguard.policy.wasm import WasmEngine

        return WasmEngine(policy_set)
    raise ValueError(f"no embedded policy engine named {name!r}; choose one of {', '.join(EMBEDDED_ENGINES)}")
