"""Break-the-glass declarations and the after-the-fact review queue.

A declaration is an entry in the hash chain (event ``emergency_declared``)
and a row in ``emergencies``, written in one transaction; the policy grants
time-boxed access while the row is open. Closing a review is another chained
event; it also ends the emergency if its time box is still running.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from accessguard.audit.access_log import AccessLog, Declaration
from accessguard.audit.log_store import LogLocation, reading
from accessguard.audit.sealed_ids import PatientIdSealer
from accessguard.errors import AccessGuardError


class ReviewNotFound(AccessGuardError):
    """No open review has that id."""


@dataclass(frozen=True)
class Review:
    id: str
    subject: str
    patient: str | None  # clear id; None when it cannot be resolved
    reason: str
    declared_at: float
    accesses: int
    last_access: float | None
    closed_at: float | None
    closed_by: str | None
    note: str | None


def declare_emergency(access_log: AccessLog, subject: str, patient: str, reason: str, decision_id: str | None) -> Declaration:
    """Record a declaration durably (waits for the commit) and open its review."""
    declaration_id = uuid.uuid4().hex[:16]
    declared_at = access_log.clock()
    access_log.event(
        subject,
        {"event": "emergency_declared", "declaration": declaration_id, "reason": reason, "decision_id": decision_id},
        patient=patient,
        effects=(
            (
                "INSERT INTO emergencies (id, subject, patient, reason, declared_at) VALUES (?, ?, ?, ?, ?)",
                (declaration_id, subject, access_log.pseudonymise(patient), reason, declared_at),
            ),
        ),
    )
    return Declaration(declaration_id, declared_at)


def list_reviews(location: LogLocation, sealer: PatientIdSealer, *, include_closed: bool = False) -> list[Review]:
    with reading(location) as db:
        rows = db.execute(
            "SELECT e.id, e.subject, e.patient, p.sealed, e.reason, e.declared_at,"
            " e.accesses, e.last_access, e.closed_at, e.closed_by, e.note"
            " FROM emergencies e LEFT JOIN patients p ON p.pseudonym = e.patient"
            + ("" if include_closed else " WHERE e.closed_at IS NULL")
            + " ORDER BY e.declared_at"
        )
    return [
        Review(rid, subject, sealer.resolve(pseudonym, None if sealed is None else bytes(sealed)), *rest)  # type: ignore[arg-type,call-overload]
        for rid, subject, pseudonym, sealed, *rest in rows
    ]


def close_review(access_log: AccessLog, review_id: str, by: str, note: str) -> None:
    """Close an open review (a chained event); ReviewNotFound when none is open with that id."""
    rows = access_log.database.execute("SELECT subject FROM emergencies WHERE id = ? AND closed_at IS NULL", (review_id,))
    if not rows:
        raise ReviewNotFound(f"no open review {review_id!r} (see `accessguard audit reviews list --all`)")
    access_log.event(
        str(rows[0][0]),
        {"event": "review_closed", "declaration": review_id, "by": by, "note": note},
        effects=(
            (
                "UPDATE emergencies SET closed_at = ?, closed_by = ?, note = ? WHERE id = ? AND closed_at IS NULL",
                (access_log.clock(), by, note, review_id),
            ),
        ),
    )
