"""Care relationship: does the professional treat the patients a request names? The app knows; it answers through a hook."""

from __future__ import annotations

from collections.abc import Callable

from accessguard.authn.state import Subject
from accessguard.errors import HookError

RELATIONSHIPS = frozenset({"treating", "organisation", "none"})

#: ``hook(professional, patient_ids) -> "treating" | "organisation" | "none"``.
#: ``patient_ids`` are the ``{id}`` path parameters of the request, empty for a search:
#: answer for the patients the request can reach ("organisation" when a search is
#: confined to the professional's organisation's patients, for example).
CareRelationship = Callable[[Subject, tuple[str, ...]], str]


def care_relationship(hook: CareRelationship | None, professional: Subject, patient_ids: tuple[str, ...]) -> str:
    """The hook's answer, ``unknown`` without a hook; HookError (the guard fails closed) when it fails or answers nonsense."""
    if hook is None:
        return "unknown"
    try:
        answer = hook(professional, patient_ids)
    except Exception as exc:  # the app's code: any failure must fail closed, never allow
        raise HookError(f"care_relationship hook raised {type(exc).__name__}: {exc}") from None
    if answer not in RELATIONSHIPS:
        raise HookError(f"care_relationship hook answered {answer!r}; expected one of {sorted(RELATIONSHIPS)}")
    return answer
