"""accessguard: an authorisation middleware for patient-directory routes.

Public API: build a :class:`Guard` from :class:`Settings` once, wrap the
application with :class:`AccessGuardMiddleware` (ASGI) or
:class:`WSGIAccessGuard` (WSGI).
"""

from accessguard.decision import Decision, Outcome
from accessguard.errors import AccessGuardError, ConfigurationError, PolicyCompileError
from accessguard.guard import Guard
from accessguard.middleware.asgi import AccessGuardMiddleware
from accessguard.middleware.wsgi import WSGIAccessGuard
from accessguard.routes import REPORTED_BY_APP, ProtectedRoute
from accessguard.settings import Settings
from accessguard.signals.usage import report_served

__all__ = [
    "REPORTED_BY_APP",
    "AccessGuardError",
    "AccessGuardMiddleware",
    "ConfigurationError",
    "Decision",
    "Guard",
    "Outcome",
    "PolicyCompileError",
    "ProtectedRoute",
    "Settings",
    "WSGIAccessGuard",
    "report_served",
]
__version__ = "0.1.0"
