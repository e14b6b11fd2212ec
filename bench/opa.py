"""Cost of one decision on the OPA engine, against a bare HTTP POST to the same OPA and the embedded engine.

Same run, same inputs (the decision cases on default data), interleaved
round by round in a shuffled order, so that load on the machine and what ran
just before hit every variant alike:

- ``opa_engine``: ``OpaEngine.evaluate`` (JSON encode, POST on the thread's
  keep-alive connection, JSON decode, decision document checked into a ``Decision``);
- ``bare_post``: the least any client does, ``http.client`` on one keep-alive
  connection: encode ``{"input": ...}``, POST, read, decode;
- ``query_rule``: opa-python-client's ``query_rule``, the same POST through requests;
- ``embedded``: ``EmbeddedEngine.evaluate`` (regopy, in process).

Starts its own OPA (``$ACCESSGUARD_OPA`` or scripts/install-opa.sh) unless ``--opa-url`` is given.
``--json`` prints the figures as one JSON line last.

    .venv/bin/python -m bench.opa [--decisions 3000] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from opa_client import OpaClient

from accessguard.policy.cases import load_cases
from accessguard.policy.embedded import EmbeddedEngine
from accessguard.policy.engine import DECISION_ENTRYPOINT
from accessguard.policy.opa import DECISION_PATH, OpaEngine
from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set
from bench.timing import interleaved, report
from tests.opa_server import find_opa_binary, opa_server


@contextmanager
def opa(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    binary = find_opa_binary()
    if binary is None:
        raise SystemExit("bench/opa.py: no OPA binary; set ACCESSGUARD_OPA or run scripts/install-opa.sh")
    with opa_server(binary) as started:
        yield started


def bare_post(url: str) -> Callable[[dict[str, Any]], Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80)

    def post(policy_input: dict[str, Any]) -> Any:
        connection.request("POST", DECISION_PATH, json.dumps({"input": policy_input}).encode(), {"Content-Type": "application/json"})
        return json.loads(connection.getresponse().read())["result"]

    return post


def measure(url: str, decisions: int) -> dict[str, float]:
    policy_set = load_policy_set(DEFAULT_POLICY_DIR)
    inputs = [case.input for case in load_cases(DEFAULT_POLICY_DIR / "cases") if not case.data]
    engine, embedded = OpaEngine(url, policy_set), EmbeddedEngine(policy_set)
    parts = urlsplit(url)
    client = OpaClient(host=parts.hostname or "127.0.0.1", port=parts.port or 80, retries=0, timeout=2)
    post = bare_post(url)
    variants: dict[str, Callable[[dict[str, Any]], Any]] = {
        "opa_engine": engine.evaluate,
        "bare_post": post,
        "query_rule": lambda i: client.query_rule(i, DECISION_ENTRYPOINT),
        "embedded": embedded.evaluate,
    }
    for policy_input in inputs:  # every variant decides alike before anything is timed
        decision = engine.evaluate(policy_input)
        assert (decision.outcome.value, list(decision.reasons)) == (post(policy_input)["outcome"], post(policy_input)["reasons"])
        assert decision == embedded.evaluate(policy_input)
    figures: dict[str, float] = {"decisions": decisions, **interleaved(variants, inputs, decisions)}
    engine.close()
    embedded.close()
    client.close_connection()
    figures["ratio_p50"] = round(figures["opa_engine_p50_us"] / figures["bare_post_p50_us"], 3)
    figures["ratio_p99"] = round(figures["opa_engine_p99_us"] / figures["bare_post_p99_us"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--decisions", type=int, default=3000, help="timed decisions per variant")
    parser.add_argument("--opa-url", help="use this OPA server (its accessguard policies are replaced)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    args = parser.parse_args()
    with opa(args.opa_url) as url:
        figures = measure(url, args.decisions)
    report(figures, args.json)


if __name__ == "__main__":
    main()
