"""New accounts from the admin console: one from a form, or many from a CSV file (``username,kind,roles,organisation``).

An import is read whole and checked first: every line's problem is named with its line number, and
nothing is created while any line is wrong or the set changed since the preview. A new account has no
password (``Accounts.create``): each gets a one-time password link to hand over, as after a reset.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from accessguard.authn.accounts import Accounts
from accessguard.errors import Phrase

HEADER = ("username", "kind", "roles", "organisation")
ACCOUNT_KINDS = ("professional", "admin")
MAX_ACCOUNTS = 500
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class NewAccount:
    line: int
    username: str
    kind: str
    roles: tuple[str, ...]
    organisation: str


@dataclass(frozen=True)
class Reading:
    """An import's accounts, and its problems as (line, what is wrong)."""

    accounts: list[NewAccount]
    errors: list[tuple[int, Phrase]]


def new_account(line: int, username: str, kind: str, roles: str, organisation: str) -> tuple[NewAccount | None, Phrase | None]:
    """One account checked: it, or what is wrong with it."""
    username, kind, organisation = username.strip(), kind.strip() or "professional", organisation.strip()
    role_list = tuple(r for r in re.split(r"[;\s]+", roles.strip()) if r)
    if not _USERNAME.fullmatch(username):
        return None, Phrase(
            "username {username!r} must be 1 to 64 letters, digits or . _ @ - (starting with a letter or digit)", username=username
        )
    if kind not in ACCOUNT_KINDS:
        return None, Phrase("kind {kind!r} must be one of {kinds}", kind=kind, kinds=", ".join(ACCOUNT_KINDS))
    if not role_list or not all(_ROLE.fullmatch(r) for r in role_list):
        return None, Phrase("roles must be one or more lower-case names separated by ';' (doctor;nurse)")
    if len(organisation) > 128 or any(ord(c) < 32 for c in organisation):
        return None, Phrase("organisation must be at most 128 characters on one line")
    return NewAccount(line, username, kind, role_list, organisation), None


def read_import(text: str, accounts: Accounts) -> Reading:
    """Every line of a CSV import checked against the others and the accounts that exist."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))  # CR, LF or CRLF ends a line, as the csv module expects
    if not rows or tuple(c.strip().lower() for c in rows[0]) != HEADER:
        return Reading([], [(1, Phrase("the first line must be the header {header}", header=",".join(HEADER)))])
    found: list[NewAccount] = []
    errors: list[tuple[int, Phrase]] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(HEADER):
            errors.append(
                (
                    number,
                    Phrase("{count} fields, expected {expected} ({header})", count=len(row), expected=len(HEADER), header=",".join(HEADER)),
                )
            )
            continue
        account, problem = new_account(number, *row)
        if account is not None and account.username in seen:
            problem = Phrase("{account} appears twice in the file", account=account.username)
        elif account is not None and accounts.get(account.username) is not None:
            problem = Phrase("an account {account} exists already", account=account.username)
        if problem is not None or account is None:
            errors.append((number, problem or Phrase("unreadable")))
            continue
        seen.add(account.username)
        found.append(account)
    if len(found) + len(errors) > MAX_ACCOUNTS:
        return Reading([], [(1, Phrase("at most {count} accounts per import", count=MAX_ACCOUNTS))])
    if not found and not errors:
        errors.append((2, Phrase("no account in the file")))
    return Reading(found, errors)
