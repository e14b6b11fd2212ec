"""Containment: neutralise a compromised account in one step, and give it back.

Order matters. The status changes first, in the account directory and in
the shared store (hosts with their own account directories share the store;
every protected request's reservation reads the suspension there): from then
on no process lets the account log in, and any request that reaches the
policy is denied ``account_suspended``. Then its sessions are revoked in the
shared store: each is kept, marked revoked, so a live session's next request
in any process reaches the policy as the suspended account with no factors
and is denied ``account_suspended``; after ``resume`` those sessions stay
refused (401). A login that was already past its status check when the
suspension began can still create a session after the revocation; that
session is denied by the policy while the account is suspended, and
``resume`` revokes sessions again, before the status changes back, so it
never comes back to life. ``resume`` lifts the store's suspension last: if it
fails half-way, the account is still suspended on every host.
"""

from __future__ import annotations

from dataclasses import dataclass

from accessguard.admin import actions
from accessguard.audit.access_log import AccessLog
from accessguard.authn.accounts import Accounts
from accessguard.authn.authenticators import Authenticators
from accessguard.errors import AccessGuardError
from accessguard.store.base import Store


class UnknownAccount(AccessGuardError):
    """No account has that id."""


@dataclass(frozen=True)
class Suspension:
    account: str
    sessions_revoked: int
    authenticators_revoked: int


def suspend(
    accounts: Accounts,
    authenticators: Authenticators,
    store: Store,
    access_log: AccessLog,
    account_id: str,
    reason: str,
    *,
    operator: str,
    revoke_authenticators: bool = False,
    known_elsewhere: bool = False,
) -> Suspension:
    """Suspend an account, revoke its sessions (and its TOTP apps and security keys), log and alert.

    ``known_elsewhere``: the account may be missing from this account directory
    (made by an OpenID Connect login on another host sharing the store); it is
    then suspended in the store, which every host reads.
    """
    if not accounts.set_status(account_id, "suspended") and not known_elsewhere:
        raise UnknownAccount(f"no account {account_id!r}")
    store.set_suspended(account_id, True)
    sessions = store.revoke_sessions(account_id, "account_suspended")
    revoked = len(actions.revoke(authenticators, account_id, None, by=operator)) if revoke_authenticators else 0
    access_log.event(
        account_id,
        {
            "event": "account_suspended",
            "reason": reason,
            "operator": operator,
            "sessions_revoked": sessions,
            "authenticators_revoked": revoked,
        },
        alert=("account_suspended",),
    )
    return Suspension(account_id, sessions, revoked)


def resume(
    accounts: Accounts, store: Store, access_log: AccessLog, account_id: str, *, operator: str, known_elsewhere: bool = False
) -> int:
    """Give a suspended account back, with no session alive; returns the sessions revoked on the way."""
    if accounts.get(account_id) is None and not known_elsewhere:
        raise UnknownAccount(f"no account {account_id!r}")
    # before the status: a session born during the suspension must never see the account active
    sessions = store.revoke_sessions(account_id, "account_suspended")
    accounts.set_status(account_id, "active")
    store.set_suspended(account_id, False)
    access_log.event(account_id, {"event": "account_resumed", "operator": operator, "sessions_revoked": sessions})
    return sessions
