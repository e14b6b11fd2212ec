"""``accessguard account suspend|resume``: containment of a compromised account, in one command.

Like ``accessguard admin``, it needs no encryption key: it handles no TOTP seed.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accessguard.audit.access_log import AccessLog
from accessguard.authn.accounts import Accounts
from accessguard.authn.authenticators import Authenticators
from accessguard.cli.common import CommandError, add_data_dir, add_store, alerts_recorded, open_store_of, operator
from accessguard.containment import UnknownAccount, resume, suspend
from accessguard.store import Store


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("account", help="suspend or resume a professional's account")
    actions = parser.add_subparsers(dest="account_command", required=True)
    suspending = actions.add_parser("suspend", help="refuse the account everywhere: status, sessions, optionally authenticators")
    suspending.add_argument("user")
    suspending.add_argument("--reason", required=True, help="why (kept in the access log and sent with the alert)")
    suspending.add_argument("--revoke-authenticators", action="store_true", help="also revoke its TOTP apps and security keys")
    suspending.set_defaults(run=run_suspend)
    resuming = actions.add_parser("resume", help="give a suspended account back (its sessions stay revoked)")
    resuming.add_argument("user")
    resuming.set_defaults(run=run_resume)
    for action in (suspending, resuming):
        add_data_dir(action)
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
    if not (data_dir / "accounts.db").exists():
        raise CommandError(f"no account directory at {data_dir / 'accounts.db'}")
    accounts = Accounts(data_dir / "accounts.db")
    store = open_store_of(args)
    try:
        with alerts_recorded(data_dir) as access_log:  # authenticator revocations reach the sinks too
            yield accounts, store, access_log
    except UnknownAccount as exc:
        hint = "; if another host sharing this store knows it, add --known-elsewhere" if args.store else ""
        raise CommandError(f"{exc} in {data_dir / 'accounts.db'}{hint}") from None
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
    revoked = f", {done.authenticators_revoked} authenticators revoked" if args.revoke_authenticators else ""
    print(f"suspended {done.account}: {done.sessions_revoked} sessions revoked{revoked}; logged and alerted")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    with _opened(args) as (accounts, store, access_log):
        sessions = resume(accounts, store, access_log, args.user, operator=operator(), known_elsewhere=args.known_elsewhere)
    print(f"resumed {args.user} ({sessions} sessions revoked on the way; it must log in again)")
    return 0
