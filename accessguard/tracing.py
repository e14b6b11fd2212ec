"""OpenTelemetry traces, when ``opentelemetry-api`` is installed (the ``otel`` extra); a no-op otherwise.

Each decision is a span (``accessguard.decision``) with its outcome, reasons,
policy revision and decision id, and child spans for the store round trip
(``accessguard.store``) and the engine (``accessguard.engine``). It joins the
trace the request came with: the current span when the application's server
is instrumented, else the incoming ``traceparent`` (the globally configured
propagator, W3C Trace Context by default). The application configures the
SDK and exporter; without one, the API's spans cost next to nothing.
Attributes carry no account and no patient id (the access log holds them
under the decision id).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from accessguard.decision import Decision

try:
    from opentelemetry import propagate, trace
except ImportError:  # the otel extra is not installed
    trace = None  # type: ignore[assignment]

_NOTHING = nullcontext()
#: Resolves to the application's tracer provider once it sets one (a proxy until then).
_tracer = trace.get_tracer("accessguard") if trace is not None else None


def _tracing() -> bool:
    """Whether the application has set a tracer provider: until then spans are skipped, not made and dropped (tens of µs)."""
    return trace is not None and not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def span(name: str) -> AbstractContextManager[Any]:
    """A child span of the current one (the decision's)."""
    if _tracer is None or not _tracing():
        return _NOTHING
    return _tracer.start_as_current_span(name)


def decision_span(headers: Mapping[str, str], route: str) -> AbstractContextManager[Any]:
    """The span of one decision, joined to the request's trace."""
    if _tracer is None or not _tracing():
        return _NOTHING
    return _decision_span(headers, route)


@contextmanager
def _decision_span(headers: Mapping[str, str], route: str) -> Iterator[None]:
    assert trace is not None and _tracer is not None
    parent = None if trace.get_current_span().get_span_context().is_valid else propagate.extract(dict(headers))
    with _tracer.start_as_current_span("accessguard.decision", context=parent) as current:
        current.set_attribute("accessguard.route", route)
        yield


def decided(decision: Decision, decision_id: str) -> None:
    """Put the decision on the current decision span."""
    if trace is None or not _tracing():
        return
    current = trace.get_current_span()
    current.set_attribute("accessguard.outcome", decision.outcome.value)
    current.set_attribute("accessguard.reasons", list(decision.reasons))
    current.set_attribute("accessguard.policy_revision", decision.policy_revision)
    current.set_attribute("accessguard.decision_id", decision_id)


def failed(component: str) -> None:
    """Mark the current decision span as failed closed, naming the component at fault."""
    if trace is None or not _tracing():
        return
    current = trace.get_current_span()
    current.set_attribute("accessguard.fault", component)
    current.set_status(trace.Status(trace.StatusCode.ERROR, f"failed closed: {component}"))
