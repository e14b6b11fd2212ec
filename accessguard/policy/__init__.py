"""Policy: loading Rego policy sets and evaluating them with an engine."""

from accessguard.policy.engine import PolicyEngine
from accessguard.policy.policyset import PolicySet, load_policy_set

__all__ = ["PolicyEngine", "PolicySet", "load_policy_set"]
