"""Administrator operations on accounts and authenticators, shared by the admin pages, ``accessguard admin``
and ``accessguard account``.

Each raises its alert, so whichever door an administrator uses leaves the same trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from accessguard.authn.accounts import Accounts
from accessguard.authn.alerts import alert
from accessguard.authn.authenticators import Authenticator, Authenticators
from accessguard.authn.enrolment import PASSWORD, EnrolmentLinks
from accessguard.authn.recovery import RecoveryCodes
from accessguard.store.base import Store

ENROL_PAGE = "/accessguard/enroll"
#: Where a password link leads: a page that asks for the new password; only its POST spends the link.
PASSWORD_RESET_PAGE = "/accessguard/password/reset"


def revoke(authenticators: Authenticators, account_id: str, authenticator_id: str | None, *, by: str) -> list[Authenticator]:
    """Revoke one authenticator of an account (or all with None); it stops working at its next ceremony."""
    revoked = authenticators.revoke(account_id, authenticator_id)
    for authenticator in revoked:
        alert("authenticator_revoked", account_id, authenticator=authenticator.id, authenticator_kind=authenticator.kind, by=by)
    return revoked


def revoke_ending_sessions(
    authenticators: Authenticators, store: Store, account_id: str, authenticator_id: str | None, *, by: str
) -> tuple[list[Authenticator], int]:
    """An administrator's revocation (console, ``admin authenticators revoke``): the authenticators, then every session
    of the account; returns them and the sessions ended.

    Whoever presented a revoked authenticator lately (a thief with a stolen key) may hold a session in which it
    still counts: a key verified in the last 15 minutes enrols new factors and administers. The professional's
    own page revokes without ending sessions: its session has just proved another key (``admin/own_account.py``).
    """
    revoked = revoke(authenticators, account_id, authenticator_id, by=by)
    return revoked, store.revoke_sessions(account_id, "authenticator_revoked") if revoked else 0


def revoke_recovery_codes(recovery: RecoveryCodes, account_id: str, *, by: str) -> int:
    """Delete the account's recovery codes; its next enrolment (through a link) hands out a new set."""
    revoked = recovery.revoke(account_id)
    alert("recovery_codes_revoked", account_id, count=revoked, by=by)
    return revoked


def take_password(accounts: Accounts, store: Store, account_id: str, *, by: str) -> bool:
    """Make the password stop working at once and end every session; False when the account has no password here.

    Until the professional sets a new one through a password link, no password logs in,
    and ``account resume`` refuses the account (``containment.PasswordNotReset``).
    """
    if not accounts.reset_password(account_id):
        return False
    sessions = store.revoke_sessions(account_id, "password_reset")
    alert("password_reset", account_id, sessions_revoked=sessions, by=by)
    return True


@dataclass(frozen=True)
class Containment:
    """What ``contain`` removed: authenticators held back, recovery codes deleted (unused ones, per account), passwords taken."""

    authenticators: list[Authenticator]
    recovery_codes: dict[str, int]
    passwords_reset: list[str]

    @property
    def accounts(self) -> list[str]:
        return sorted({a.account_id for a in self.authenticators} | set(self.recovery_codes))


def contain_preview(accounts: Accounts, authenticators: Authenticators, enrolled_after: float) -> Containment:
    """What ``contain`` would do now, changing nothing: the authenticators and recovery codes it would remove.

    Each account it names would also lose its password and its sessions.
    """
    codes = RecoveryCodes(accounts.database).unused_issued_after(enrolled_after)
    return Containment(authenticators.enrolled_after(enrolled_after), codes, [])


def contain(accounts: Accounts, authenticators: Authenticators, store: Store, enrolled_after: float, *, by: str) -> Containment:
    """Remove every foothold set up after a time: authenticators enrolled since are held back until re-verified,
    recovery codes issued since are deleted, and each account touched loses its password, its sessions and its unused links.

    Ending the sessions matters: a thief's live session already counted the factor. Taking the
    password matters: whoever enrolled in the window held it.
    """
    contained = authenticators.contain(enrolled_after)
    codes = RecoveryCodes(accounts.database).revoke_issued_after(enrolled_after)
    result = Containment(contained, codes, [])
    for account_id in result.accounts:
        if take_password(accounts, store, account_id, by=by):
            result.passwords_reset.append(account_id)
        store.revoke_sessions(account_id, "authenticators_contained")
        links = EnrolmentLinks(accounts.database).expire(account_id)
        ids = ",".join(a.id for a in contained if a.account_id == account_id)
        alert(
            "authenticators_contained",
            account_id,
            authenticators=ids,
            recovery_codes_revoked=codes.get(account_id, 0),
            links_expired=links,
            enrolled_after=int(enrolled_after),
            by=by,
        )
    return result


def _link(base_url: str, page: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{page}?{urlencode({'token': token})}"


def enrolment_link(links: EnrolmentLinks, account_id: str, kind: str, ttl_s: int, base_url: str, now: float, *, by: str) -> str:
    """A one-time enrolment link for an account: ``<base_url>/accessguard/enroll?token=…``."""
    token = links.issue(account_id, kind, ttl_s, now)
    alert("enrolment_link_issued", account_id, authenticator_kind=kind, ttl_s=ttl_s, by=by)
    return _link(base_url, ENROL_PAGE, token)


def password_link(links: EnrolmentLinks, account_id: str, ttl_s: int, base_url: str, now: float, *, by: str) -> str:
    """A one-time link to set a new password: ``<base_url>/accessguard/password/reset?token=…``."""
    token = links.issue(account_id, PASSWORD, ttl_s, now)
    alert("enrolment_link_issued", account_id, authenticator_kind=PASSWORD, ttl_s=ttl_s, by=by)
    return _link(base_url, PASSWORD_RESET_PAGE, token)
