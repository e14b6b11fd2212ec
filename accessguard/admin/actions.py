"""Administrator operations on authenticators, shared by the admin pages and ``accessguard admin``.

Each raises its alert, so whichever door an administrator uses leaves the same trace.
"""

from __future__ import annotations

from urllib.parse import urlencode

from accessguard.authn.alerts import alert
from accessguard.authn.authenticators import Authenticator, Authenticators
from accessguard.authn.enrolment import EnrolmentLinks
from accessguard.store.base import Store

ENROL_PAGE = "/accessguard/enroll"


def revoke(authenticators: Authenticators, account_id: str, authenticator_id: str | None, *, by: str) -> list[Authenticator]:
    """Revoke one authenticator of an account (or all with None); it stops working at its next ceremony."""
    revoked = authenticators.revoke(account_id, authenticator_id)
    for authenticator in revoked:
        alert("authenticator_revoked", account_id, authenticator=authenticator.id, authenticator_kind=authenticator.kind, by=by)
    return revoked


def contain(authenticators: Authenticators, store: Store, enrolled_after: float, *, by: str) -> list[Authenticator]:
    """Hold back every authenticator enrolled after a time until re-verified; end the sessions of those accounts.

    Ending the sessions matters: a thief's live session already counted the factor.
    """
    contained = authenticators.contain(enrolled_after)
    for account_id in sorted({a.account_id for a in contained}):
        store.revoke_sessions(account_id, "authenticators_contained")
        ids = ",".join(a.id for a in contained if a.account_id == account_id)
        alert("authenticators_contained", account_id, authenticators=ids, enrolled_after=int(enrolled_after), by=by)
    return contained


def enrolment_link(links: EnrolmentLinks, account_id: str, kind: str, ttl_s: int, base_url: str, now: float, *, by: str) -> str:
    """A one-time enrolment link for an account: ``<base_url>/accessguard/enroll?token=…``."""
    token = links.issue(account_id, kind, ttl_s, now)
    alert("enrolment_link_issued", account_id, authenticator_kind=kind, ttl_s=ttl_s, by=by)
    return f"{base_url.rstrip('/')}{ENROL_PAGE}?{urlencode({'token': token})}"
