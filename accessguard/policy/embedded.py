"""The embedded engine: rego-cpp through regopy, in process.

The policy set is compiled once into a bundle; each thread gets its own
interpreter (interpreters hold state) that runs the shared bundle. The input
document is handed over value by value through regopy's C functions
(``_Input``), at half the cost of ``regopy.Input``.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import regopy
from regopy.rego_shared import rego as _rego_c

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
            interpreter.set_input(_Input(policy_input))
            output = interpreter.query_bundle_entrypoint(self._bundle, DECISION_ENTRYPOINT)
            if not output.ok():
                raise ValueError(str(output))
            return Decision.from_document(output.results[0].expressions[0], self.revision)
        except Exception as exc:  # any engine fault must fail closed
            log.error("policy evaluation failed, denying: %s", exc)
            return Decision.fail_closed(self.revision)

    def close(self) -> None:
        self._local = threading.local()


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class _Input(regopy.Input):  # type: ignore[misc]  # regopy has no type hints
    """A ``regopy.Input`` built with exact type checks and one C call per value.

    ``regopy.Input`` tests each value against abstract types and copies each
    string into a new buffer first, which costs as much as the C calls. The
    input builder produces only dicts, lists, strings, numbers, booleans and
    None; anything else raises (and the engine fails closed), as do a
    string holding a NUL and an integer beyond 64 bits, which C would
    silently cut short or wrap.
    """

    def __init__(self, document: Any) -> None:
        # not super().__init__(): that would convert the document again, the slow way
        self._impl = _rego_c.regoNewInput()
        if not self._impl:
            raise MemoryError("regoNewInput returned NULL")
        _push(self._impl, document)


def _push(handle: Any, value: Any) -> None:
    """Push ``value`` onto the input under construction (a stack: items, then their container)."""
    kind = type(value)
    if kind is str:
        if "\0" in value:
            raise ValueError("a string in the policy input contains NUL")
        code = _rego_c.regoInputString(handle, value.encode())
    elif kind is dict:
        for key, item in value.items():
            _push(handle, key)
            _push(handle, item)
            if _rego_c.regoInputObjectItem(handle):
                raise ValueError(f"regoInputObjectItem failed for {key!r}")
        code = _rego_c.regoInputObject(handle, len(value))
    elif kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{value} does not fit the engine's 64-bit integers")
        code = _rego_c.regoInputInt(handle, value)
    elif kind is bool:
        code = _rego_c.regoInputBoolean(handle, value)
    elif kind is float:
        code = _rego_c.regoInputFloat(handle, value)
    elif value is None:
        code = _rego_c.regoInputNull(handle)
    elif kind is list or kind is tuple:
        for item in value:
            _push(handle, item)
        code = _rego_c.regoInputArray(handle, len(value))
    else:
        raise TypeError(f"{kind.__name__} cannot go into the policy input")
    if code:
        raise ValueError(f"regopy could not take {kind.__name__} {value!r:.40} into the input (code {code})")


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
