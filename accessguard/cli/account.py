"""``accessguard account suspend|resume``: containment of a compromised account, in one command.

Like ``accessguard admin``, it needs no encryption key: it handles no TOTP seed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accessguard.audit.access_log import AccessLog
from accessguard.audit.alerts import AlertBridge, alert_log
from accessguard.authn.accounts import Accounts
from accessguard.authn.authenticators import Authenticators
from accessguard.cli.common import CommandError, add_data_dir, open_access_log, operator
from accessguard.containment import resume, suspend
from accessguard.store import Store, open_store


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
        action.add_argument("--store", metavar="URL", help="the state store the service uses (default: sqlite:///DATA_DIR/accessguard.db)")


@dataclass
class _Parts:
    accounts: Accounts
    authenticators: Authenticators
    store: Store
    access_log: AccessLog
    bridge: AlertBridge

    def close(self) -> None:
        alert_log.removeHandler(self.bridge)
        self.access_log.close()
        self.store.close()
        self.accounts.close()


def _open(args: argparse.Namespace) -> _Parts:
    data_dir: Path = args.data_dir
    if not (data_dir / "accounts.db").exists():
        raise CommandError(f"no account directory at {data_dir / 'accounts.db'}")
    accounts = Accounts(data_dir / "accounts.db")
    store = open_store(args.store or f"sqlite:///{data_dir / 'accessguard.db'}")
    access_log = open_access_log(data_dir)
    bridge = AlertBridge(access_log)  # authenticator revocations reach the sinks too
    alert_log.addHandler(bridge)
    return _Parts(accounts, Authenticators(accounts.database), store, access_log, bridge)


def run_suspend(args: argparse.Namespace) -> int:
    parts = _open(args)
    try:
        done = suspend(
            parts.accounts,
            parts.authenticators,
            parts.store,
            parts.access_log,
            args.user,
            args.reason,
            operator=operator(),
            revoke_authenticators=args.revoke_authenticators,
        )
    finally:
        parts.close()
    revoked = f", {done.authenticators_revoked} authenticators revoked" if args.revoke_authenticators else ""
    print(f"suspended {done.account}: {done.sessions_revoked} sessions revoked{revoked}; logged and alerted")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    parts = _open(args)
    try:
        sessions = resume(parts.accounts, parts.store, parts.access_log, args.user, operator=operator())
    finally:
        parts.close()
    print(f"resumed {args.user} ({sessions} sessions revoked on the way; it must log in again)")
    return 0
