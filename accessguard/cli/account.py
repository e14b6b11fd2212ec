"""``accessguard account suspend|resume|reset-password``: containment of a compromised account, in one command.

Like ``accessguard admin``, it needs no encryption key: it handles no TOTP seed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accessguard.admin import actions
from accessguard.audit.access_log import AccessLog
from accessguard.authn.accounts import Accounts
from accessguard.authn.authenticators import Authenticators
from accessguard.authn.enrolment import DEFAULT_LINK_TTL_S, EnrolmentLinks
from accessguard.cli.common import (
    CommandError,
    CommandRefused,
    add_data_dir,
    add_database,
    add_store,
    alerts_recorded,
    open_accounts_of,
    open_store_of,
    operator,
)
from accessguard.containment import PasswordNotReset, UnknownAccount, resume, suspend
from accessguard.store import Store


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("account", help="suspend or resume a professional's account")
    actions = parser.add_subparsers(dest="account_command", required=True)
    suspending = actions.add_parser("suspend", help="refuse the account everywhere: status, sessions, optionally authenticators")
    suspending.add_argument("user")
    suspending.add_argument("--reason", required=True, help="why (kept in the access log and sent with the alert)")
    suspending.add_argument(
        "--revoke-authenticators",
        action="store_true",
        help="also revoke its TOTP apps, security keys and recovery codes, and take its password away (reset-password)",
    )
    suspending.set_defaults(run=run_suspend)
    resuming = actions.add_parser("resume", help="give a suspended account back (its sessions stay revoked)")
    resuming.add_argument("user")
    resuming.add_argument(
        "--keep-password",
        action="store_true",
        help="give back a password that was taken away (it may have been phished) instead of waiting for a new one",
    )
    resuming.set_defaults(run=run_resume)
    resetting = actions.add_parser(
        "reset-password", help="the password stops working now, every session ends; print a one-time link to set a new one (last line)"
    )
    resetting.add_argument("user")
    resetting.add_argument("--ttl", type=int, default=DEFAULT_LINK_TTL_S // 60, metavar="MINUTES", help="validity (default: %(default)s)")
    resetting.add_argument(
        "--base-url",
        default="http://localhost:8000",
        help="the service's public address, with the prefix the guard is mounted under if any (default: %(default)s)",
    )
    resetting.set_defaults(run=run_reset_password, known_elsewhere=False)
    add_data_dir(resetting)
    add_database(resetting)
    add_store(resetting)
    for action in (suspending, resuming):
        add_data_dir(action)
        add_database(action)
        add_store(action)
        action.add_argument(
            "--known-elsewhere",
            action="store_true",
            help="the account is not in this data directory but on another host sharing --store (an OpenID Connect login there)",
        )


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[Accounts, Store, AccessLog]]:
    data_dir: Path = args.data_dir
    if args.known_elsewhere and not args.store:
        raise CommandError("--known-elsewhere needs --store: the default store is this data directory's own")
    accounts = open_accounts_of(args)
    store = open_store_of(args)
    try:
        with alerts_recorded(data_dir, accounts.database) as access_log:  # authenticator revocations reach the sinks too
            yield accounts, store, access_log
    except UnknownAccount as exc:
        hint = "; if another host sharing this store knows it, add --known-elsewhere" if args.store else ""
        raise CommandRefused(f"{exc} in {accounts.database.location}{hint}") from None
    except PasswordNotReset as exc:
        raise CommandRefused(str(exc)) from None
    finally:
        store.close()
        accounts.close()


def run_suspend(args: argparse.Namespace) -> int:
    with _opened(args) as (accounts, store, access_log):
        done = suspend(
            accounts,
            Authenticators(accounts.database),
            store,
            access_log,
            args.user,
            args.reason,
            operator=operator(),
            revoke_authenticators=args.revoke_authenticators,
            known_elsewhere=args.known_elsewhere,
        )
    revoked = ""
    if args.revoke_authenticators:
        password = "password reset" if done.password_reset else "no password here to reset"
        revoked = (
            f", {done.authenticators_revoked} authenticators revoked, {done.recovery_codes_revoked} recovery codes revoked, {password}"
        )
    print(f"suspended {done.account}: {done.sessions_revoked} sessions revoked{revoked}; logged and alerted")
    if done.password_reset:
        print(f"before resuming, send a password link: accessguard account reset-password {done.account}")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    with _opened(args) as (accounts, store, access_log):
        sessions = resume(
            accounts,
            store,
            access_log,
            args.user,
            operator=operator(),
            known_elsewhere=args.known_elsewhere,
            keep_password=args.keep_password,
        )
    print(f"resumed {args.user} ({sessions} sessions revoked on the way; it must log in again)")
    return 0


def run_reset_password(args: argparse.Namespace) -> int:
    if args.ttl <= 0:
        raise CommandError("--ttl: must be a positive number of minutes")
    with _opened(args) as (accounts, store, _):
        if accounts.get(args.user) is None:
            raise UnknownAccount(f"no account {args.user!r}")
        if not actions.take_password(accounts, store, args.user, by=operator()):
            raise CommandRefused(f"{args.user} has no password here (its logins come from an OpenID provider)")
        url = actions.password_link(EnrolmentLinks(accounts.database), args.user, args.ttl * 60, args.base_url, time.time(), by=operator())
    print(f"The password of {args.user} no longer works and every session of the account has ended.")
    print(f"One-time link to set a new password, valid {args.ttl} minutes; hand it over out of band (in person, by phone):")
    print(url)
    return 0
