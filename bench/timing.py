"""What the benchmark scripts share: percentiles, p50/p99 summaries, interleaved timing of variants, printing figures."""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

WARM_UP_ROUNDS = 200


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values_ns: Sequence[int]) -> dict[str, float]:
    """The median (p50) and the p99 of timings taken in ns, in µs."""
    return {"p50_us": round(statistics.median(values_ns) / 1000, 1), "p99_us": round(percentile(values_ns, 0.99) / 1000, 1)}


def interleaved(variants: dict[str, Callable[[Any], Any]], inputs: Sequence[Any], rounds: int) -> dict[str, float]:
    """Time every variant on the same inputs, round by round in a shuffled order; p50 and p99 in µs.

    Shuffling each round spreads load on the machine, and whatever ran just
    before, over every variant alike. The first rounds warm up and are not timed.
    """
    timings: dict[str, list[int]] = {name: [] for name in variants}
    order, shuffle = list(variants), random.Random(4).shuffle
    for round_number in range(rounds + WARM_UP_ROUNDS):
        argument = inputs[round_number % len(inputs)]
        shuffle(order)
        for name in order:
            run = variants[name]
            started = time.perf_counter_ns()
            run(argument)
            if round_number >= WARM_UP_ROUNDS:
                timings[name].append(time.perf_counter_ns() - started)
    return {f"{name}_{figure}": value for name, values in timings.items() for figure, value in summary(values).items()}


def report(figures: dict[str, Any], as_json: bool) -> None:
    """One figure per line; with ``as_json``, all of them as one JSON line last."""
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"{key:>{width}}: {value}")
    if as_json:
        print(json.dumps(figures))
