"""Random policy inputs drawn from the input v1 schema, for comparing engines (tests and bench/agreement.py).

A hand-written walker of the schema (``type``, ``enum``, ``const``, ``$ref``,
``oneOf``, ``properties``, ``required``, ``additionalProperties``, ``items``,
``minimum``), so new signals in the schema are generated without editing
this file. Values that decide something come from where they matter: at a
path the decision cases use, half the time one of the cases' values there;
numbers otherwise are the data document's thresholds (and one either side)
or times near ``time``; strings are those of the cases and the data.
Several data variants: the default data and each case's data overrides.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from accessguard.decision import Decision
from accessguard.policy.cases import DecisionCase, load_cases
from accessguard.policy.engine import PolicyEngine
from accessguard.policy.input import SCHEMA_PATH
from accessguard.policy.policyset import DEFAULT_POLICY_DIR

Path_ = tuple[str, ...]


def _leaves(document: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(document, list):
        for item in document:
            yield from _leaves(item, (*path, "[]"))
    else:
        yield path, document


class InputGenerator:
    """``generate()`` gives one schema-valid input; the same seed gives the same inputs."""

    def __init__(self, seed: int, cases: list[DecisionCase] | None = None) -> None:
        self.random = random.Random(seed)
        self.schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        self.cases = cases if cases is not None else load_cases(DEFAULT_POLICY_DIR / "cases")
        data = json.loads((DEFAULT_POLICY_DIR / "data.json").read_text(encoding="utf-8"))
        self.seen: dict[Path_, list[Any]] = {}
        for case in self.cases:
            for path, value in _leaves(case.input):
                self.seen.setdefault(path, []).append(value)
        leaves = [value for case in self.cases for _, value in _leaves(case.input)] + [value for _, value in _leaves(data)]
        numbers = {v for v in leaves if type(v) is int and v >= 0}
        self.integers = sorted(numbers | {n + 1 for n in numbers} | {max(n - 1, 0) for n in numbers})
        self.small = [n for n in self.integers if n < 1_000_000]  # counts, sizes, distances: not times
        self.strings = sorted({v for v in leaves if isinstance(v, str)} | {"", "x"})
        self.keys = sorted({key for case in self.cases for path, _ in _leaves(case.input) for key in path if key != "[]"})
        self.now = 0

    def generate(self) -> dict[str, Any]:
        self.now = self.random.choice(self.seen.get(("time",), [1_700_000_000]))
        document: dict[str, Any] = self._value(self.schema, ())
        return document

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            target: Any = self.schema
            for part in schema["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def _value(self, schema: dict[str, Any], path: Path_) -> Any:
        if schema.get("$ref", "").endswith("/epoch"):  # times relate to the request's time
            return max(0, self.now - self.random.choice([*self.integers, 0, 0]))
        schema = self._resolve(schema)
        seen = self.seen.get(path)
        if seen and self.random.random() < 0.5 and not isinstance(seen[0], dict | list):
            return self.random.choice(seen)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.random.choice(schema["enum"])
        if "oneOf" in schema:
            return self._value(self.random.choice(schema["oneOf"]), path)
        kinds = schema.get("type", "object")
        kind = self.random.choice(kinds) if isinstance(kinds, list) else kinds
        if kind == "object":
            return self._object(schema, path)
        if kind == "array":
            return [self._value(schema.get("items", {}), (*path, "[]")) for _ in range(self.random.choice((0, 0, 1, 1, 2, 3)))]
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._integer(schema) if self.random.random() < 0.3 else round(self.random.uniform(0, 2000), 3)
        if kind == "string":
            return self.random.choice(self.strings)
        if kind == "boolean":
            return self.random.random() < 0.5
        return None

    def _integer(self, schema: dict[str, Any]) -> int:
        return max(schema.get("minimum", 0), self.random.choice(self.small))

    def _object(self, schema: dict[str, Any], path: Path_) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        document = {
            name: self._value(sub, (*path, name)) for name, sub in properties.items() if name in required or self.random.random() < 0.8
        }
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in sorted(required - document.keys()):
                document[key] = self._value(extra, (*path, key))
            for key in self.random.sample(self.keys, self.random.choice((0, 1, 2))):
                document.setdefault(key, self._value(extra, (*path, key)))
        return document


def data_variants(cases: list[DecisionCase] | None = None) -> list[dict[str, Any]]:
    """The default data (no override) and each distinct data override of the decision cases."""
    variants: list[dict[str, Any]] = [{}]
    for case in cases if cases is not None else load_cases(DEFAULT_POLICY_DIR / "cases"):
        if case.data and case.data not in variants:
            variants.append(case.data)
    return variants


@dataclass
class Disagreement:
    variant: dict[str, Any]
    input: dict[str, Any]
    decisions: dict[str, Decision]

    def describe(self) -> str:
        seen = "; ".join(f"{name}: {d.outcome.value} {list(d.reasons)} {d.step_up} {d.obligations}" for name, d in self.decisions.items())
        return f"data {json.dumps(self.variant)} input {json.dumps(self.input)} → {seen}"


@dataclass
class Agreement:
    """How many inputs each engine decided, and where they differed."""

    decided: int = 0
    policy_errors: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)


def compare(
    engines_for: dict[str, Callable[[dict[str, Any]], PolicyEngine]], inputs_per_variant: int, seed: int, *, with_cases: bool = True
) -> Agreement:
    """Decide the decision cases and ``inputs_per_variant`` random inputs per data variant on every engine; compare the documents."""
    cases = load_cases(DEFAULT_POLICY_DIR / "cases")
    generator = InputGenerator(seed, cases)
    found = Agreement()
    for variant in data_variants(cases):
        engines = {name: engine_for(variant) for name, engine_for in engines_for.items()}
        try:
            inputs = [case.input for case in cases if case.data == variant] if with_cases else []
            inputs += [generator.generate() for _ in range(inputs_per_variant)]
            for policy_input in inputs:
                decisions = {name: engine.evaluate(policy_input) for name, engine in engines.items()}
                found.decided += 1
                found.policy_errors += any(d.reasons == ("policy_error",) for d in decisions.values())
                if len({_document(d) for d in decisions.values()}) > 1:
                    found.disagreements.append(Disagreement(variant, policy_input, decisions))
        finally:
            for engine in engines.values():
                engine.close()
    return found


def _document(decision: Decision) -> str:
    """The decision document as one comparable string (the revision aside: OPA's may come from a bundle)."""
    return json.dumps({**dataclasses.asdict(decision), "policy_revision": None}, sort_keys=True)
