"""Breach scope: which patients' identity records an account was served in a window, resolved for the DPO."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accessguard.audit.log_store import LogLocation, reading
from accessguard.audit.sealed_ids import PatientIdSealer

_CHUNK = 500
#: A spreadsheet runs a cell starting with one of these as a formula (``=HYPERLINK(…)`` sends data away when clicked).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: The columns of a breach-scope report, in every format (table, CSV, JSON; command line and console alike).
SCOPE_FIELDS = ("patient", "count", "first", "last")


def iso_time(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC, to the second, as the reports print them."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Exposure:
    """One patient exposed to the account: how often, first and last time (Unix seconds)."""

    patient: str | None  # None when the pseudonym cannot be resolved
    pseudonym: str
    count: int
    first: float
    last: float


def breach_scope(location: LogLocation, sealer: PatientIdSealer, subject: str, since: float, until: float) -> list[Exposure]:
    """Patients served to ``subject`` with ``since <= time < until``, by first access (every host's, in a fleet's database)."""
    with reading(location) as db:
        rows = db.execute(
            "SELECT patient, count(*), min(time), max(time) FROM entries"
            " WHERE kind = 'served' AND subject = ? AND time >= ? AND time < ? GROUP BY patient",
            (subject, since, until),
        )
        sealed: dict[str, bytes] = {}
        pseudonyms = [str(row[0]) for row in rows]
        for start in range(0, len(pseudonyms), _CHUNK):
            chunk = pseudonyms[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            found = db.execute(f"SELECT pseudonym, sealed FROM patients WHERE pseudonym IN ({marks})", chunk)
            sealed.update((str(pseudonym), bytes(value)) for pseudonym, value in found)  # type: ignore[call-overload]
    exposures = []
    for pseudonym, n, first, last in rows:
        name = str(pseudonym)
        exposures.append(Exposure(sealer.resolve(name, sealed.get(name)), name, int(str(n)), float(str(first)), float(str(last))))
    return sorted(exposures, key=lambda e: (e.first, e.patient or "", e.pseudonym))


def scope_records(exposures: list[Exposure]) -> list[dict[str, Any]]:
    """The report's rows: patient (None when unresolved), count, first and last access in ISO 8601 UTC."""
    return [{"patient": e.patient, "count": e.count, "first": iso_time(e.first), "last": iso_time(e.last)} for e in exposures]


def scope_csv(records: list[dict[str, Any]]) -> str:
    """The report as CSV with a header line; a text cell a spreadsheet would run as a formula gets a leading ``'``.

    A patient identifier is the service's data, not ours: the DPO opens this file in a spreadsheet.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SCOPE_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _inert(v) for k, v in record.items()} for record in records)
    return out.getvalue()


def _inert(value: object) -> object:
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value
