"""The decision log: one JSON line per decision, patient ids pseudonymised."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from accessguard.decision import Decision

log = logging.getLogger("accessguard.audit")


@dataclass(frozen=True)
class DecisionRecord:
    decision_id: str
    time: float
    subject: str
    route: str
    ip: str | None
    patients: tuple[str, ...]
    decision: Decision
    eval_us: int


class DecisionLog:
    """Appends to a JSON-lines file; a write failure is logged, never raised into the request."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, record: DecisionRecord) -> None:
        decision = record.decision
        line = json.dumps(
            {
                "decision_id": record.decision_id,
                "time": round(record.time, 3),
                "subject": record.subject,
                "route": record.route,
                "ip": record.ip,
                "patients": list(record.patients),
                "outcome": decision.outcome.value,
                "reasons": list(decision.reasons),
                "obligations": decision.obligations,
                "policy_revision": decision.policy_revision,
                "eval_us": record.eval_us,
            },
            separators=(",", ":"),
        )
        try:
            with self._lock:
                self._file.write(line + "\n")
        except OSError as exc:
            log.error("decision log %s: write failed: %s", self.path, exc)

    def close(self) -> None:
        with self._lock:
            self._file.close()
