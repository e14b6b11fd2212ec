"""TOTP (RFC 6238) verification: one time step of skew, each step usable once."""

from __future__ import annotations

import hmac
import io

import pyotp
import segno

STEP_SECONDS = 30
#: Accepted skew, in time steps, either side of now.
SKEW_STEPS = 1


def generate_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account_id: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account_id, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an inline SVG document (nothing fetched from elsewhere)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=4, xmldecl=False, dark="#000", light="#fff")
    return buffer.getvalue().decode()


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code equals ``code`` within the skew, else None.

    The caller must then claim the step atomically so it is never accepted twice.
    """
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int(now) // STEP_SECONDS
    found = None
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found
