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

With ``revoke_authenticators`` a suspension removes every credential an
attacker may hold: TOTP apps and security keys, every recovery code, and the
password (``actions.take_password``). ``resume`` then refuses the account until
the professional has set a new password through a password link, unless the
administrator explicitly keeps the old one (``keep_password``).
"""

from __future__ import annotations

from dataclasses import dataclass

from accessguard.admin import actions
from accessguard.audit.access_log import AccessLog
from accessguard.authn.accounts import Accounts
from accessguard.authn.authenticators import Authenticators
from accessguard.authn.enrolment import EnrolmentLinks
from accessguard.authn.recovery import RecoveryCodes
from accessguard.errors import AccessGuardError
from accessguard.store.base import Store


class UnknownAccount(AccessGuardError):
    """No account has that id."""


class PasswordNotReset(AccessGuardError):
    """The account's password was taken away after a compromise and no new one is set yet."""


@dataclass(frozen=True)
class Suspension:
    account: str
    sessions_revoked: int
    authenticators_revoked: int
    recovery_codes_revoked: int = 0
    password_reset: bool = False


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
    """Suspend an account, revoke its sessions and unused links (and its TOTP apps, security keys, recovery codes and
    password), log and alert.

    ``known_elsewhere``: the account may be missing from this account directory
    (made by an OpenID Connect login on another host sharing the store); it is
    then suspended in the store, which every host reads.
    """
    if not accounts.set_status(account_id, "suspended") and not known_elsewhere:
        raise UnknownAccount(f"no account {account_id!r}")
    store.set_suspended(account_id, True)
    sessions = store.revoke_sessions(account_id, "account_suspended")
    links = EnrolmentLinks(accounts.database).expire(account_id)
    done = Suspension(account_id, sessions, 0)
    if revoke_authenticators:
        done = Suspension(
            account_id,
            sessions,
            len(actions.revoke(authenticators, account_id, None, by=operator)),
            actions.revoke_recovery_codes(RecoveryCodes(accounts.database), account_id, by=operator),
            actions.take_password(accounts, store, account_id, by=operator),
        )
    access_log.event(
        account_id,
        {
            "event": "account_suspended",
            "reason": reason,
            "operator": operator,
            "sessions_revoked": sessions,
            "links_expired": links,
            "authenticators_revoked": done.authenticators_revoked,
            "recovery_codes_revoked": done.recovery_codes_revoked,
            "password_reset": done.password_reset,
        },
        alert=("account_suspended",),
    )
    return done


def resume(
    accounts: Accounts,
    store: Store,
    access_log: AccessLog,
    account_id: str,
    *,
    operator: str,
    known_elsewhere: bool = False,
    keep_password: bool = False,
) -> int:
    """Give a suspended account back, with no session alive; returns the sessions revoked on the way.

    An account whose password was taken away stays suspended until a new one is set,
    unless ``keep_password`` gives the old one back.
    """
    account = accounts.get(account_id)
    if account is None and not known_elsewhere:
        raise UnknownAccount(f"no account {account_id!r}")
    if account is not None and account.password_reset:
        if not keep_password:
            raise PasswordNotReset(
                f"{account_id}'s password was reset after a compromise and no new one is set yet: send a password link"
                f" (accessguard account reset-password {account_id}) and resume once it is used, or pass --keep-password"
                " to give back the password that may have been phished"
            )
        if not accounts.restore_password(account_id):
            raise PasswordNotReset(f"{account_id}'s old password cannot be given back; send a password link")
    # before the status: a session born during the suspension must never see the account active
    sessions = store.revoke_sessions(account_id, "account_suspended")
    accounts.set_status(account_id, "active")
    store.set_suspended(account_id, False)
    access_log.event(
        account_id,
        {"event": "account_resumed", "operator": operator, "sessions_revoked": sessions, "password_kept": keep_password},
        alert=("account_resumed",),
    )
    return sessions
