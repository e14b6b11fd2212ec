"""The embedded engine: rego-cpp through regopy, in process.

The policy set is compiled once into a bundle; each thread gets its own
interpreter (interpreters hold state) that runs the shared bundle.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import regopy

from accessguard.decision import Decision
from accessguard.errors import PolicyCompileError
from accessguard.policy.engine import DECISION_ENTRYPOINT
from accessguard.policy.policyset import PolicySet

log = logging.getLogger("accessguard.policy")

# rego-cpp reports an error location as ``(error <len>:<file>|<offset>|<length>``.
_ERROR_LOCATION = re.compile(r"\(error \d+:(?P<file>[^|]+)\|(?P<offset>\d+)\|\d+\s+\(errormsg \d+:(?P<msg>[^)]*)\)")


class EmbeddedEngine:
    """PolicyEngine on regopy. Build once; share between threads."""

    def __init__(self, policy_set: PolicySet) -> None:
        self.policy_set = policy_set
        interpreter = regopy.Interpreter()
        try:
            for name, source in policy_set.modules.items():
                interpreter.add_module(name, source)
            interpreter.add_data_json(policy_set.data_json)
            bundle = interpreter.build(None, [DECISION_ENTRYPOINT])
        except regopy.RegoError as exc:
            raise PolicyCompileError(compile_errors(str(exc), policy_set.modules)) from None
        if not bundle.ok():
            raise PolicyCompileError([f"{policy_set.directory}: the bundle did not build"])
        self._bundle = bundle
        self._local = threading.local()

    @property
    def revision(self) -> str:
        return self.policy_set.revision

    def _interpreter(self) -> Any:
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._local.interpreter = regopy.Interpreter()
        return interpreter

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        try:
            interpreter = self._interpreter()
            interpreter.set_input(regopy.Input(policy_input))
            output = interpreter.query_bundle_entrypoint(self._bundle, DECISION_ENTRYPOINT)
            if not output.ok():
                raise ValueError(str(output))
            return Decision.from_document(output.results[0].expressions[0], self.revision)
        except Exception as exc:  # any engine fault must fail closed
            log.error("policy evaluation failed, denying: %s", exc)
            return Decision.fail_closed(self.revision)

    def close(self) -> None:
        self._local = threading.local()


def compile_errors(message: str, modules: dict[str, str]) -> list[str]:
    """Turn rego-cpp's error tree into ``file.rego:line:col: message`` lines."""
    errors = []
    for found in _ERROR_LOCATION.finditer(message):
        name, offset = found["file"], int(found["offset"])
        source = modules.get(name, "")
        line = source.count("\n", 0, offset) + 1
        col = offset - (source.rfind("\n", 0, offset) + 1) + 1
        errors.append(f"{name}:{line}:{col}: {found['msg'].strip()}")
    return errors or [message.strip()]
