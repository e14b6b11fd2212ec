"""The WebAssembly engine: the policy set compiled by OPA to Wasm, run in process by wasmtime.

OPA's Wasm ABI (https://www.openpolicyagent.org/docs/wasm): the host gives
the module its linear memory; ``opa_malloc`` + ``opa_json_parse`` load the
data document once per instance; a decision is one ``opa_eval`` call with
the input JSON written above the data and the entrypoint's id, answering
the address of the result set as JSON. ``opa_eval`` starts its heap at the
``heap_ptr`` it is given (just above the input), so every evaluation reuses
the same memory: nothing a decision allocates outlives it.

``opa_eval`` is called through wasmtime's C API (``wasmtime_func_call_unchecked``
reached through wasmtime-py's low-level ``_ffi`` bindings, about 80 µs less
per call than the public ``Func.__call__``), once its signature is checked;
if a wasmtime release no longer has those bindings, the public call is used
(tests/test_wasm_engine.py fails loudly on the pinned version).

wasmtime stores are single-threaded, so each thread has its own instance of
the shared compiled module. A trap (``opa_abort``, a memory beyond
``max_memory_bytes``, a host builtin the module should not call) answers
``policy_error`` and throws that thread's instance away: the next decision
gets a fresh one, with the data loaded again.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
import wasmtime
from wasmtime import _ffi as wasmtime_ffi
from wasmtime import _func as wasmtime_func

from accessguard.decision import Decision
from accessguard.errors import PolicyCompileError
from accessguard.policy.engine import DECISION_ENTRYPOINT
from accessguard.policy.policyset import PolicySet
from accessguard.policy.wasm_build import policy_module

log = logging.getLogger("accessguard.policy")

_PAGE = 65536
#: Linear memory one instance may grow to; beyond it OPA's allocator aborts and the decision is ``policy_error``.
DEFAULT_MAX_MEMORY_BYTES = 64 * 1024 * 1024
_JSON_FORMAT = 0
_strnlen = ctypes.CDLL(None).strnlen
_strnlen.restype = ctypes.c_size_t
_strnlen.argtypes = (ctypes.c_void_p, ctypes.c_size_t)


class WasmEngine:
    """PolicyEngine on OPA-compiled WebAssembly. Build once; share between threads.

    ``module``: the compiled policy (``policy.wasm``); by default the one
    for ``policy_set``'s modules, shipped, cached or compiled by ``opa``
    (policy/wasm_build.py). The data comes from ``policy_set``, so data
    overrides need no new module.
    """

    def __init__(self, policy_set: PolicySet, module: bytes | None = None, *, max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES) -> None:
        self.policy_set = policy_set
        self._data_json = orjson.dumps(policy_set.data)
        self._max_pages = max(1, max_memory_bytes // _PAGE)
        self._engine = wasmtime.Engine()
        try:
            self._module = wasmtime.Module(self._engine, policy_module(policy_set) if module is None else module)
        except wasmtime.WasmtimeError as exc:
            raise PolicyCompileError([f"{policy_set.directory}: the compiled policy is not a valid Wasm module: {exc}"]) from None
        self._local = threading.local()
        probe = _Instance(self._engine, self._module, self._data_json, self._max_pages)  # fails here, not on the first request
        self._local.instance = probe
        self._entrypoint = probe.entrypoint

    @property
    def revision(self) -> str:
        return self.policy_set.revision

    def _instance(self) -> _Instance:
        instance: _Instance | None = getattr(self._local, "instance", None)
        if instance is None:
            instance = self._local.instance = _Instance(self._engine, self._module, self._data_json, self._max_pages)
        return instance

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        try:
            instance = self._instance()
        except Exception as exc:  # an instance that cannot start denies; the next decision tries again
            log.error("policy engine could not start an instance, denying: %s", exc)
            return Decision.fail_closed(self.revision)
        try:
            results = orjson.loads(instance.evaluate(orjson.dumps(policy_input)))
        except Exception as exc:  # a trap leaves the instance in an unknown state: never reuse it
            self._local.instance = None
            log.error("policy evaluation failed, denying: %s", exc)
            return Decision.fail_closed(self.revision)
        try:
            if not results:
                raise ValueError(f"{DECISION_ENTRYPOINT} is undefined for this input")
            return Decision.from_document(results[0]["result"], self.revision)
        except Exception as exc:  # a malformed decision document must fail closed
            log.error("policy evaluation failed, denying: %s", exc)
            return Decision.fail_closed(self.revision)

    def close(self) -> None:
        self._local = threading.local()


class _Instance:
    """One instance of the module with its own store and memory, the data parsed in it."""

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module, data_json: bytes, max_pages: int) -> None:
        self.store = wasmtime.Store(engine)
        minimum = next((i.type.limits.min for i in module.imports if isinstance(i.type, wasmtime.MemoryType)), 2)
        self.memory = wasmtime.Memory(self.store, wasmtime.MemoryType(wasmtime.Limits(minimum, max(minimum, max_pages))))
        linker = wasmtime.Linker(engine)
        linker.define(self.store, "env", "memory", self.memory)
        linker.define_func("env", "opa_abort", wasmtime.FuncType([wasmtime.ValType.i32()], []), self._abort)
        for arity in range(5):
            params = [wasmtime.ValType.i32()] * (arity + 2)
            linker.define_func("env", f"opa_builtin{arity}", wasmtime.FuncType(params, [wasmtime.ValType.i32()]), _no_builtin)
        instance = linker.instantiate(self.store, module)
        exports = instance.exports(self.store)

        def export(name: str) -> wasmtime.Func:
            found = exports.get(name)
            if not isinstance(found, wasmtime.Func):
                raise PolicyCompileError([f"the compiled policy does not export {name}: not a module built by opa build -t wasm"])
            return found

        self._malloc, opa_eval, self._json_dump, self._json_parse = (
            export(name) for name in ("opa_malloc", "opa_eval", "opa_json_dump", "opa_json_parse")
        )
        self._eval = raw_call(self.store, opa_eval) or partial(opa_eval, self.store)
        builtins = self._call_json(export("builtins"))
        if builtins:
            needed = ", ".join(sorted(builtins))
            raise PolicyCompileError([f"the policy calls builtins the Wasm engine does not provide: {needed} (use regopy or OPA)"])
        entrypoints = self._call_json(export("entrypoints"))
        if DECISION_ENTRYPOINT not in entrypoints:
            raise PolicyCompileError([f"the compiled policy has no {DECISION_ENTRYPOINT} entrypoint"])
        self.entrypoint: int = entrypoints[DECISION_ENTRYPOINT]
        self.data = self._parse(data_json)
        self.input_at: int = export("opa_heap_ptr_get")(self.store)

    def _call_json(self, export: wasmtime.Func) -> Any:
        """Call a no-argument export answering a value; that value as Python."""
        return orjson.loads(self._string(self._json_dump(self.store, export(self.store))))

    def _parse(self, document: bytes) -> int:
        address: int = self._malloc(self.store, len(document))
        self._write(address, document)
        value: int = self._json_parse(self.store, address, len(document))
        if not value:
            raise ValueError("the policy module could not parse the data document")
        return value

    def _write(self, address: int, payload: bytes) -> None:
        """Copy into linear memory, growing it (within its maximum) when the payload does not fit."""
        missing = address + len(payload) - self.memory.data_len(self.store)
        if missing > 0 and not self.memory.grow(self.store, -(-missing // _PAGE)):
            raise MemoryError("the policy input does not fit the engine's memory")
        ctypes.memmove(self._base() + address, payload, len(payload))  # bounds checked above; a quarter of memory.write's cost

    def _base(self) -> int:
        """Where linear memory starts now (growing may move it)."""
        return ctypes.addressof(self.memory.data_ptr(self.store).contents)

    def _string(self, address: int) -> bytes:
        """The NUL-terminated string at ``address``, bounded by the memory's end."""
        size = self.memory.data_len(self.store)
        if not 0 < address < size:
            raise ValueError(f"the policy module answered an address outside its memory: {address}")
        start = self._base() + address
        return ctypes.string_at(start, _strnlen(start, size - address))

    def evaluate(self, input_json: bytes) -> bytes:
        """The result set of one decision, as JSON; the heap restarts above the input each time."""
        self._write(self.input_at, input_json)
        heap = self.input_at + len(input_json)
        return self._string(self._eval(0, self.entrypoint, self.data, self.input_at, len(input_json), heap, _JSON_FORMAT))

    def _abort(self, address: int) -> None:
        raise RuntimeError(f"the policy aborted: {self._string(address).decode(errors='replace')}")


def _no_builtin(*_: int) -> int:
    raise RuntimeError("the policy called a host builtin, which the Wasm engine does not provide")


def raw_call(store: wasmtime.Store, func: wasmtime.Func) -> Callable[..., int] | None:
    """``func`` (i32 parameters, one i32 result) as a direct call of wasmtime's C API; None when not possible.

    ``wasmtime_func_call_unchecked`` trusts the caller with the signature, so
    it is checked here first. Errors and traps are raised as the public call
    raises them, the host function's own exception (``opa_abort``) first.
    """
    try:
        signature = func.type(store)
        i32 = wasmtime.ValType.i32()
        if any(kind != i32 for kind in (*signature.params, *signature.results)) or len(signature.results) != 1:
            return None
        call, slots, trap_type = wasmtime_ffi.wasmtime_func_call_unchecked, wasmtime_ffi.wasmtime_val_raw_t, wasmtime_ffi.wasm_trap_t
        raise_host_exception, context, target = wasmtime_func.maybe_raise_last_exn, store._context(), ctypes.byref(func._func)
    except (AttributeError, TypeError, ImportError) as exc:
        log.warning("wasmtime's low-level bindings changed (%s); the Wasm engine uses the slower public call", exc)
        return None
    arity = max(len(signature.params), 1)
    slots_type = slots * arity

    def direct(*params: int) -> int:
        values = slots_type()
        for index, param in enumerate(params):
            values[index].i32 = param
        trap = ctypes.POINTER(trap_type)()
        error = call(context, target, values, arity, ctypes.byref(trap))
        if error:
            raise_host_exception()
            raise wasmtime.WasmtimeError._from_ptr(error)
        if trap:
            trapped = wasmtime.Trap._from_ptr(trap)
            raise_host_exception()
            raise trapped
        result: int = values[0].i32
        return result

    return direct
