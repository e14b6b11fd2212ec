"""Health routes for load balancers and Kubernetes probes: ``/accessguard/health/live`` and ``/ready``.

Unauthenticated, so they say nothing but a status and the names of the
checks that fail; why a check fails goes to the service's log. *Live*
answers 200 while the process can answer at all. *Ready* answers 503 when
any check fails, so a balancer stops sending requests the guard would
refuse anyway: the policy engine is loaded, the store answers, the access
log takes entries (its writer is committing, its backlog and its witness
are fine) and the alert outbox's backlog is under ``Settings.health_max_outbox``.
The access log's copy outside the host (``AuditSettings.log_sink``) is not a
check: its outage must never stop decisions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from accessguard.audit.access_log import AccessLog
from accessguard.audit.alerts import outbox_backlog
from accessguard.endpoints import EndpointRequest, Handler
from accessguard.errors import StoreError
from accessguard.policy.engine import PolicyEngine
from accessguard.problem import Response, json_response
from accessguard.store.base import Store

log = logging.getLogger("accessguard.health")

LIVE_PATH = "/accessguard/health/live"
READY_PATH = "/accessguard/health/ready"
_NO_STORE = [("cache-control", "no-store")]


class Health:
    """The readiness checks of one guard; ``engine`` is a callable since a policy reload replaces the engine."""

    def __init__(self, engine: Callable[[], PolicyEngine], store: Store, access_log: AccessLog, max_outbox: int) -> None:
        self._engine = engine
        self._store = store
        self._access_log = access_log
        self._max_outbox = max_outbox
        self.routes: dict[tuple[str, str], Handler] = {("GET", LIVE_PATH): self.live, ("GET", READY_PATH): self.ready}

    def live(self, request: EndpointRequest) -> Response:
        return json_response(200, {"status": "ok"}, _NO_STORE)

    def ready(self, request: EndpointRequest) -> Response:
        failing = [name for name, check in self._checks().items() if not _passes(name, check)]
        if failing:
            return json_response(503, {"status": "fail", "failing": failing}, _NO_STORE)
        return json_response(200, {"status": "ok"}, _NO_STORE)

    def _checks(self) -> dict[str, Callable[[], str | None]]:
        """Each check by its public name; a check answers why it fails, or None."""
        return {
            "engine": lambda: None if self._engine().revision else "no policy revision loaded",
            "store": self._store_answers,
            "access_log": self._access_log.refusal,
            "alert_outbox": self._outbox_under_limit,
        }

    def _store_answers(self) -> str | None:
        self._store.ping()
        return None

    def _outbox_under_limit(self) -> str | None:
        waiting = outbox_backlog(self._access_log.database)
        return f"{waiting} alert deliveries waiting (limit {self._max_outbox})" if waiting >= self._max_outbox else None


def _passes(name: str, check: Callable[[], str | None]) -> bool:
    try:
        why = check()
    except StoreError as exc:
        why = str(exc)
    except Exception as exc:  # a check that fails unexpectedly fails: never a 500 to a probe
        why = f"{type(exc).__name__}: {exc}"
    if why is not None:
        log.warning("readiness check %s fails: %s", name, why)
    return why is None
