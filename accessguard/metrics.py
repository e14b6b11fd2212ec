"""Prometheus metrics of one guard, and where they are exposed.

Labels hold only words of a fixed vocabulary (outcomes, reason codes,
stages, components, methods, results): never a patient id, an account id,
an address or a path, so a scrape reveals volumes, not who.

Under gunicorn (several processes), set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory before the workers start: every process then writes its
values there, and a scrape of any one of them sums them all
(``prometheus_client.multiprocess``); gunicorn's ``child_exit`` hook calls
``mark_process_dead`` (docs/operations.md). Exposed only when asked for: on
``/accessguard/metrics`` to the holder of ``Settings.metrics_token`` or to
``Settings.metrics_addresses``, or on ``Settings.metrics_port``.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from accessguard.authn.ceremonies import RECOVERY_STEP_UP_PATH, TOTP_STEP_UP_PATH, WEBAUTHN_STEP_UP_PATH
from accessguard.decision import Decision
from accessguard.endpoints import EndpointRequest, Handler
from accessguard.errors import ConfigurationError
from accessguard.facts import IPNetwork, forwarded_client
from accessguard.problem import Response, problem

if TYPE_CHECKING:
    from accessguard.settings import Settings

log = logging.getLogger("accessguard.metrics")

METRICS_PATH = "/accessguard/metrics"
#: Decision latency buckets, in seconds: the targets are sub-millisecond, a slow store takes up to its timeout.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def authentication_routes(login_path: str, oidc_callback: str | None) -> dict[tuple[str, str], tuple[str, str]]:
    """The guard's routes that log in or step up: (HTTP method, path) → (kind, authentication method)."""
    routes = {
        ("POST", login_path): ("login", "password"),
        ("POST", TOTP_STEP_UP_PATH): ("step_up", "otp"),
        ("POST", WEBAUTHN_STEP_UP_PATH + "/complete"): ("step_up", "webauthn"),
        ("POST", RECOVERY_STEP_UP_PATH): ("step_up", "recovery_code"),
    }
    if oidc_callback is not None:
        routes["GET", oidc_callback] = ("login", "oidc")
    return routes


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The guard's metrics in a registry of their own (several guards in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter("accessguard_decisions", "Decisions logged, by outcome", ["outcome"], registry=r)
        self.decision_reasons = Counter(
            "accessguard_decision_reasons",
            "Reasons of the decisions logged (a decision may give several)",
            ["outcome", "reason"],
            registry=r,
        )
        self.latency = Histogram(
            "accessguard_decision_seconds", "Time deciding, by stage: engine, store, total", ["stage"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.store_seconds, self.engine_seconds, self.total_seconds = (self.latency.labels(s) for s in ("store", "engine", "total"))
        self.faults = Counter("accessguard_faults", "Faults that failed a request closed, by component", ["component"], registry=r)
        self.access_log_backlog = Gauge(
            "accessguard_access_log_backlog", "Access-log entries queued, not yet committed", registry=r, multiprocess_mode="livesum"
        )
        self.alert_outbox_backlog = Gauge(
            "accessguard_alert_outbox_backlog", "Alert deliveries waiting in the outbox", registry=r, multiprocess_mode="livemax"
        )
        self.log_sink_backlog = Gauge(
            "accessguard_log_sink_backlog", "Access-log entries not yet delivered to the log sink", registry=r, multiprocess_mode="livemax"
        )
        self.authentications = Counter(
            "accessguard_authentications", "Logins and step-ups, by kind, method and result", ["kind", "method", "result"], registry=r
        )

    def decided(self, decision: Decision) -> None:
        outcome = decision.outcome.value
        self.decisions.labels(outcome).inc()
        for reason in decision.reasons:
            self.decision_reasons.labels(outcome, reason).inc()

    def authenticated(self, kind: str, method: str, status: int) -> None:
        """One login or step-up answered with ``status``."""
        result = "success" if status < 400 else "throttled" if status == 429 else "error" if status >= 500 else "failure"
        self.authentications.labels(kind, method, result).inc()

    def exposition(self) -> bytes:
        """The text format of every metric: this process's, or all processes' under PROMETHEUS_MULTIPROC_DIR."""
        return generate_latest(self._exposed())

    def route(self, settings: Settings) -> dict[tuple[str, str], Handler]:
        """``GET /accessguard/metrics`` when a token or addresses open it; no route otherwise (the path goes to the app)."""
        if settings.metrics_token is None and not settings.metrics_addresses:
            return {}
        return {("GET", METRICS_PATH): _MetricsRoute(self, settings).serve}

    def serve_port(self, host: str, port: int) -> Callable[[], None]:
        """Expose on a port of its own; returns what stops it. Under PROMETHEUS_MULTIPROC_DIR one process holds the port for all."""
        try:
            server, thread = start_http_server(port, host, registry=self._exposed())
        except OSError as exc:
            if _multiprocess_dir() is None:
                raise ConfigurationError(f"metrics_port: cannot listen on {host}:{port}: {exc.strerror}") from None
            log.info("metrics port %s:%d is served by another process (%s)", host, port, exc.strerror)
            return lambda: None

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop

    def _exposed(self) -> CollectorRegistry:
        """This guard's registry, or under PROMETHEUS_MULTIPROC_DIR one that reads every process's values at each scrape."""
        directory = _multiprocess_dir()
        if directory is None:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return registry


class _MetricsRoute:
    def __init__(self, metrics: Metrics, settings: Settings) -> None:
        self._metrics = metrics
        self._token = f"Bearer {settings.metrics_token}".encode() if settings.metrics_token else None
        self._networks: list[IPNetwork] = settings.metrics_networks()
        self._trusted = settings.trusted_networks()

    def serve(self, request: EndpointRequest) -> Response:
        if not self._admitted(request):
            return problem(404, "not-found", "Not found", "no such resource")  # says nothing of what is here
        return Response(200, self._metrics.exposition(), [("content-type", CONTENT_TYPE_LATEST), ("cache-control", "no-store")])

    def _admitted(self, request: EndpointRequest) -> bool:
        sent = request.facts.headers.get("authorization", "").encode("latin-1", "replace")
        if self._token is not None and hmac.compare_digest(sent, self._token):
            return True
        address = forwarded_client(request.facts, self._trusted)
        return address is not None and any(address in network for network in self._networks)
