"""Usage: how many patient identity records a professional was served, and which.

The counts come from what was actually served, never from what was asked
for: the middleware reads the ids from a declared response field, or the
application reports them itself with :func:`report_served`.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from accessguard.signals.baseline import NO_PEERS, Baseline

#: The key under which a guarded request's ASGI scope or WSGI environ carries its ServedRecords.
SERVED_KEY = "accessguard.served"


@dataclass(frozen=True)
class Usage:
    """Distinct patients read per sliding window, reads held by requests in flight included.

    ``identity_reads`` are the professional's, ``without_care_reads`` those of
    patients the professional has no care relationship with, and
    ``organisation_reads`` the professional's whole organisation's.
    ``distinct_patients_24h`` is served reads only, holds left out.
    ``identity_reads`` also has the 7 and 30 day windows (patients per day,
    summed). ``sources`` are keyed ``kind:value`` (``signals/sources.py``):
    patients read from each source and professionals seen reading from it.
    """

    identity_reads: dict[str, int]
    distinct_patients_24h: int
    without_care_reads: dict[str, int]
    organisation_reads: dict[str, int]
    baseline: Baseline = field(default_factory=lambda: Baseline(0, 0.0, 0, NO_PEERS))
    sources: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "identity_reads": dict(self.identity_reads),
            "distinct_patients_24h": self.distinct_patients_24h,
            "without_care_reads": dict(self.without_care_reads),
            "organisation": {"identity_reads": dict(self.organisation_reads)},
            "baseline": self.baseline.document(),
            "sources": {source.split(":", 1)[0]: counts for source, counts in self.sources.items()},
        }


def no_usage(windows: Iterable[str]) -> Usage:
    zero = dict.fromkeys(windows, 0)
    return Usage(zero, 0, zero, zero)


@dataclass
class ServedRecords:
    """The patient ids an allowed request served, as the application reports them.

    ``ids`` stays None until the application reports: the guard then keeps
    the whole hold (it cannot know that fewer records went out).
    """

    ids: list[str] | None = field(default=None)

    def report(self, patient_ids: Iterable[str | int]) -> None:
        self.ids = [*(self.ids or []), *(str(p) for p in patient_ids)]


def report_served(request_scope: MutableMapping[str, Any], patient_ids: Iterable[str | int]) -> None:
    """Tell the guard which patient identity records this request served.

    ``request_scope`` is the ASGI scope (Starlette: ``request.scope``) or the
    WSGI environ (Flask: ``request.environ``). Call it from a handler of a
    route declared with ``served_ids=REPORTED_BY_APP``; several calls add up.
    Raises LookupError when the request did not pass through the guard.
    """
    served = request_scope.get(SERVED_KEY)
    if not isinstance(served, ServedRecords):
        raise LookupError("this request was not allowed by accessguard: no served-records recorder in its scope")
    served.report(patient_ids)
