"""Subject and authentication state: who is asking and what they proved, when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: Factors that prove possession of a second factor (authenticator assurance level 2).
SECOND_FACTORS = frozenset({"otp", "webauthn", "webauthn_no_uv", "recovery"})
#: Factors that resist real-time phishing: WebAuthn with user verification only.
PHISHING_RESISTANT_FACTORS = frozenset({"webauthn"})


@dataclass(frozen=True)
class Subject:
    id: str
    kind: str  # "anonymous" | "professional" | "admin"
    roles: tuple[str, ...] = ()
    organisation: str = ""
    status: str = "active"


ANONYMOUS = Subject(id="", kind="anonymous")


@dataclass(frozen=True)
class AuthnState:
    """The factors verified in a session and when (Unix seconds)."""

    factor_times: Mapping[str, int] = field(default_factory=dict)

    @property
    def aal(self) -> int:
        if not self.factor_times:
            return 0
        return 2 if SECOND_FACTORS & self.factor_times.keys() else 1

    @property
    def auth_time(self) -> int:
        """When the latest second factor was verified; 0 when none was."""
        return max((t for f, t in self.factor_times.items() if f in SECOND_FACTORS), default=0)

    @property
    def phishing_resistant(self) -> bool:
        return bool(PHISHING_RESISTANT_FACTORS & self.factor_times.keys())

    @property
    def phishing_resistant_time(self) -> int:
        return max((t for f, t in self.factor_times.items() if f in PHISHING_RESISTANT_FACTORS), default=0)
