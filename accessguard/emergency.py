"""Break-the-glass: ``POST /accessguard/emergency {"reason": …, "patient": …}``.

The declaration is itself a policy decision (route ``accessguard.emergency``,
action ``declare_emergency``): the policy demands a fresh phishing-resistant
factor and refuses suspended accounts, and the guard answers a refusal like
any other (RFC 9470 challenge, problem document). An allowed declaration is
recorded durably before the answer; from then on the policy sees
``emergency.declared`` on that professional's requests for that patient and
grants time-boxed access with the obligation ``review``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from accessguard.audit.access_log import AccessLog
from accessguard.audit.reviews import declare_emergency
from accessguard.endpoints import EndpointRequest, string_field
from accessguard.errors import BadRequest
from accessguard.facts import RequestFacts
from accessguard.problem import Response, json_response
from accessguard.routes import ProtectedRoute

if TYPE_CHECKING:
    from accessguard.guard import Verdict

EMERGENCY_PATH = "/accessguard/emergency"
EMERGENCY_ROUTE = ProtectedRoute(
    EMERGENCY_PATH,
    name="accessguard.emergency",
    resource="emergency_declaration",
    action="declare_emergency",
    methods=("POST",),
    requested_count=0,
)
MIN_REASON_LENGTH = 10
MAX_REASON_LENGTH = 2000


class BreakTheGlass:
    """The emergency declaration endpoint; ``decide`` and ``settle`` are the Guard's."""

    def __init__(
        self,
        decide: Callable[[RequestFacts, ProtectedRoute, dict[str, str]], Verdict],
        settle: Callable[[Verdict, int, bytes | None], None],
        access_log: AccessLog,
    ) -> None:
        self._decide = decide
        self._settle = settle
        self._access_log = access_log

    def declare(self, request: EndpointRequest) -> Response:
        body = request.json()
        reason = string_field(body, "reason", MAX_REASON_LENGTH, multiline=True).strip()
        patient = string_field(body, "patient", 128)
        if len(reason) < MIN_REASON_LENGTH:
            raise BadRequest("field 'reason' must justify the emergency in at least {length} characters", length=MIN_REASON_LENGTH)
        verdict = self._decide(request.facts, EMERGENCY_ROUTE, {})
        if verdict.response is not None:
            return verdict.response
        if verdict.reservation is None:  # the policy allows no anonymous declaration; never rely on it alone
            raise BadRequest("log in to declare an emergency", status=401)
        subject = verdict.reservation.request.professional_id
        declaration = declare_emergency(self._access_log, subject, patient, reason, verdict.decision_id)
        self._settle(verdict, 201, None)
        return json_response(
            201,
            {
                "declaration": declaration.id,
                "subject": subject,
                "patient": patient,
                "declared_at": int(declaration.declared_at),
                "review": "pending",
            },
        )
