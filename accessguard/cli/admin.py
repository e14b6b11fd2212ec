"""``accessguard admin``: accounts and their authenticators, enrolment links, containment.

Exit codes: 0 done, 1 the user or authenticator named does not exist (or has
nothing left to revoke, or is suspended for an enrolment link), 2 bad usage or configuration. The command line never
needs the encryption key: it handles no TOTP seed.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from typing import Any

from accessguard.admin import actions
from accessguard.authn.accounts import Accounts, is_suspended
from accessguard.authn.authenticators import KINDS, WEBAUTHN, Authenticator, Authenticators
from accessguard.authn.enrolment import DEFAULT_LINK_TTL_S, EnrolmentLinks
from accessguard.cli.common import (
    add_data_dir,
    add_database,
    add_store,
    alerts_recorded,
    iso_time,
    open_accounts_of,
    open_store_of,
    operator,
    table,
    time_option,
)
from accessguard.errors import ConfigurationError

NOT_FOUND = 1


def register(commands: Any) -> None:
    admin = commands.add_parser("admin", help="manage accounts, authenticators, enrolment links and containment")
    groups = admin.add_subparsers(dest="admin_command", required=True)

    users = groups.add_parser("users", help="accounts").add_subparsers(dest="users_command", required=True)
    listing = users.add_parser("list", help="list the accounts with their authenticators")
    add_data_dir(listing)
    add_database(listing)
    listing.set_defaults(run=users_list)

    authenticators = groups.add_parser("authenticators", help="an account's authenticators").add_subparsers(
        dest="authenticators_command", required=True
    )
    listing = authenticators.add_parser("list", help="list a user's authenticators")
    listing.add_argument("user")
    add_data_dir(listing)
    add_database(listing)
    listing.set_defaults(run=authenticators_list)
    revoke = authenticators.add_parser("revoke", help="revoke one authenticator (ID) or all of them (--all)")
    revoke.add_argument("user")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="the authenticator's ID (see `authenticators list`)")
    which.add_argument("--all", action="store_true", help="revoke every authenticator of the user")
    add_data_dir(revoke)
    add_database(revoke)
    add_store(revoke)
    revoke.set_defaults(run=authenticators_revoke)

    link = groups.add_parser("enroll-link", help="print a one-time enrolment link for a user (last line)")
    link.add_argument("user")
    link.add_argument("--kind", choices=KINDS, default=WEBAUTHN, help="what the link may enrol (default: %(default)s)")
    link.add_argument("--ttl", type=int, default=DEFAULT_LINK_TTL_S // 60, metavar="MINUTES", help="validity (default: %(default)s)")
    link.add_argument(
        "--base-url",
        default="http://localhost:8000",
        help="the service's public address, with the prefix the guard is mounted under if any (default: %(default)s)",
    )
    add_data_dir(link)
    add_database(link)
    add_store(link)
    link.set_defaults(run=enroll_link)

    contain = groups.add_parser(
        "contain",
        help="hold back authenticators enrolled after TIME until re-verified, revoke recovery codes issued after it;"
        " the accounts touched lose their password and sessions",
    )
    contain.add_argument(
        "--enrolled-after", required=True, metavar="TIME", help="ISO 8601 (2025-09-08T10:00Z; naive: UTC), Unix seconds, or 72h / 7d ago"
    )
    add_data_dir(contain)
    add_database(contain)
    add_store(contain)
    contain.set_defaults(run=contain_after)


def _open(args: argparse.Namespace) -> tuple[Accounts, Authenticators]:
    accounts = open_accounts_of(args)
    return accounts, Authenticators(accounts.database)


def _when(epoch: int | None) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if epoch else "-"


def _authenticator_rows(authenticators: Sequence[Authenticator]) -> list[list[str]]:
    return [[a.id, a.kind, a.label, a.state, _when(a.created), _when(a.last_used), a.enrolled_via] for a in authenticators]


AUTHENTICATOR_HEADINGS = ("ID", "KIND", "LABEL", "STATE", "ENROLLED", "LAST USED", "VIA")


def _unknown_user(user: str) -> int:
    print(f"accessguard: no user {user!r}", file=sys.stderr)
    return NOT_FOUND


def users_list(args: argparse.Namespace) -> int:
    accounts, authenticators = _open(args)
    rows = []
    for account in accounts.all():
        held = [a for a in authenticators.of_account(account.id) if a.state in ("active", "contained")]
        kinds = ", ".join(f"{sum(a.kind == k for a in held)} {k}" for k in KINDS if any(a.kind == k for a in held)) or "none"
        contained = sum(a.state == "contained" for a in held)
        if contained:  # held back until re-verified (admin contain): what to follow up
            kinds += f" ({contained} contained)"
        rows.append([account.id, account.kind, ",".join(account.roles), account.organisation, account.status, kinds])
    print(table(("USER", "KIND", "ROLES", "ORGANISATION", "STATUS", "AUTHENTICATORS"), rows))
    return 0


def authenticators_list(args: argparse.Namespace) -> int:
    accounts, authenticators = _open(args)
    if accounts.get(args.user) is None:
        return _unknown_user(args.user)
    print(table(AUTHENTICATOR_HEADINGS, _authenticator_rows([a for a in authenticators.of_account(args.user) if a.state != "pending"])))
    return 0


def authenticators_revoke(args: argparse.Namespace) -> int:
    accounts, authenticators = _open(args)
    if accounts.get(args.user) is None:
        return _unknown_user(args.user)
    store = open_store_of(args)
    try:
        with alerts_recorded(args.data_dir, accounts.database):
            revoked, sessions = actions.revoke_ending_sessions(
                authenticators, store, args.user, None if args.all else args.id, by=operator()
            )
    finally:
        store.close()
    if not revoked:
        target = "no live authenticator" if args.all else f"no live authenticator {args.id!r}"
        print(f"accessguard: {args.user} has {target}", file=sys.stderr)
        return NOT_FOUND
    print(table(AUTHENTICATOR_HEADINGS, _authenticator_rows(revoked)))
    print(f"revoked {len(revoked)} authenticator(s) of {args.user}; each stops working at its next use")
    print(f"ended {sessions} session(s) of {args.user}: whoever used them lately logs in again")
    return 0


def enroll_link(args: argparse.Namespace) -> int:
    accounts, _ = _open(args)
    account = accounts.get(args.user)
    if account is None:
        return _unknown_user(args.user)
    store = open_store_of(args)
    try:
        suspended = is_suspended(account, store)  # here, or by any host sharing the store
    finally:
        store.close()
    if suspended:
        print(f"accessguard: {args.user} is suspended; resume the account first", file=sys.stderr)
        return NOT_FOUND
    if args.ttl <= 0:
        raise ConfigurationError("--ttl: must be a positive number of minutes")
    now = datetime.datetime.now(datetime.UTC).timestamp()
    with alerts_recorded(args.data_dir, accounts.database):
        url = actions.enrolment_link(
            EnrolmentLinks(accounts.database), args.user, args.kind, args.ttl * 60, args.base_url, now, by=operator()
        )
    print(f"One-time link for {args.user} to enrol a {args.kind} authenticator, valid {args.ttl} minutes.")
    print("Hand it over out of band (in person, by phone); whoever opens it and confirms first can enrol.")
    print(url)
    return 0


def contain_after(args: argparse.Namespace) -> int:
    after = time_option(args.enrolled_after, "--enrolled-after")
    accounts, authenticators = _open(args)
    store = open_store_of(args)
    try:
        with alerts_recorded(args.data_dir, accounts.database):
            done = actions.contain(accounts, authenticators, store, after, by=operator())
    finally:
        store.close()
    if not done.accounts:
        print(f"no active authenticator was enrolled, and no recovery code issued, after {iso_time(after)}")
        return 0
    if done.authenticators:
        print(
            table(
                ("USER", *AUTHENTICATOR_HEADINGS),
                [[a.account_id, *row] for a, row in zip(done.authenticators, _authenticator_rows(done.authenticators), strict=True)],
            )
        )
    print(f"contained {len(done.authenticators)} authenticator(s) of {len(done.accounts)} user(s); their sessions are ended.")
    for account_id, unused in sorted(done.recovery_codes.items()):
        print(f"{account_id}: recovery codes issued after that time revoked ({unused} unused)")
    print("Each contained authenticator counts again only once re-verified from a session that passed an older security key.")
    if done.passwords_reset:
        print(f"Passwords taken away (they may have been phished): {', '.join(done.passwords_reset)}.")
        print("Send each a link to set a new one: accessguard account reset-password USER")
    return 0
