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
from accessguard.routes import ProtectedRoute
from accessguard.settings import Settings

__all__ = [
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
]
__version__ = "0.1.0"
