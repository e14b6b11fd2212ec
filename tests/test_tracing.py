"""OpenTelemetry: a span per decision joined to the incoming traceparent, with engine and store children; a no-op without the API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import CAEN, Demo

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"

_exporter = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans ended during the test (the SDK provider is set once per process, as an application would)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        trace.set_tracer_provider(provider)
    _exporter.clear()
    yield _exporter
    _exporter.clear()


def test_a_decision_span_joins_the_incoming_trace_with_engine_and_store_children(demo: Demo, spans: InMemorySpanExporter) -> None:
    client = demo.login("dr.martin")
    spans.clear()
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    response = client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN, "traceparent": traceparent})
    assert response.status_code == 200
    finished = {span.name: span for span in spans.get_finished_spans()}
    decision = finished["accessguard.decision"]
    assert format(decision.context.trace_id, "032x") == TRACE_ID
    assert decision.parent is not None and format(decision.parent.span_id, "016x") == PARENT_ID
    attributes = dict(decision.attributes or {})
    assert attributes["accessguard.outcome"] == "allow"
    assert attributes["accessguard.policy_revision"] == demo.guard.engine.revision
    assert attributes["accessguard.route"] == "patients.read"
    assert len(str(attributes["accessguard.decision_id"])) == 32
    for child in ("accessguard.engine", "accessguard.store"):
        assert finished[child].parent is not None and finished[child].parent.span_id == decision.context.span_id
    assert "dr.martin" not in str(attributes) and "pat-0001" not in str(attributes)


def test_a_challenged_decision_carries_its_reasons(demo: Demo, spans: InMemorySpanExporter) -> None:
    client = demo.login("dr.martin", totp=False)
    spans.clear()
    assert client.get("/patients/pat-0001", headers={"x-forwarded-for": CAEN}).status_code == 401
    decision = next(span for span in spans.get_finished_spans() if span.name == "accessguard.decision")
    attributes = dict(decision.attributes or {})
    assert attributes["accessguard.outcome"] == "step_up" and list(attributes["accessguard.reasons"]) == ["mfa_required"]  # type: ignore[arg-type]
    assert format(decision.context.trace_id, "032x") != TRACE_ID  # no traceparent: a trace of its own


def test_without_opentelemetry_tracing_is_a_no_op() -> None:
    program = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from accessguard import tracing\n"
        "assert tracing.trace is None\n"
        "with tracing.decision_span({'traceparent': 'x'}, 'r'), tracing.span('accessguard.engine'):\n"
        "    tracing.failed('store')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
