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
    errors: list[tuple[int, str]]


def new_account(line: int, username: str, kind: str, roles: str, organisation: str) -> tuple[NewAccount | None, str | None]:
    """One account checked: it, or what is wrong with it."""
    username, kind, organisation = username.strip(), kind.strip() or "professional", organisation.strip()
    role_list = tuple(r for r in re.split(r"[;\s]+", roles.strip()) if r)
    if not _USERNAME.fullmatch(username):
        return None, f"username {username!r} must be 1 to 64 letters, digits or . _ @ - (starting with a letter or digit)"
    if kind not in ACCOUNT_KINDS:
        return None, f"kind {kind!r} must be one of {', '.join(ACCOUNT_KINDS)}"
    if not role_list or not all(_ROLE.fullmatch(r) for r in role_list):
        return None, "roles must be one or more lower-case names separated by ';' (doctor;nurse)"
    if len(organisation) > 128 or any(ord(c) < 32 for c in organisation):
        return None, "organisation must be at most 128 characters on one line"
    return NewAccount(line, username, kind, role_list, organisation), None


def read_import(text: str, accounts: Accounts) -> Reading:
    """Every line of a CSV import checked against the others and the accounts that exist."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))  # CR, LF or CRLF ends a line, as the csv module expects
    if not rows or tuple(c.strip().lower() for c in rows[0]) != HEADER:
        return Reading([], [(1, f"the first line must be the header {','.join(HEADER)}")])
    found: list[NewAccount] = []
    errors: list[tuple[int, str]] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(HEADER):
            errors.append((number, f"{len(row)} fields, expected {len(HEADER)} ({','.join(HEADER)})"))
            continue
        account, problem = new_account(number, *row)
        if account is not None and account.username in seen:
            problem = f"{account.username} appears twice in the file"
        elif account is not None and accounts.get(account.username) is not None:
            problem = f"an account {account.username} exists already"
        if problem is not None or account is None:
            errors.append((number, problem or "unreadable"))
            continue
        seen.add(account.username)
        found.append(account)
    if len(found) + len(errors) > MAX_ACCOUNTS:
        return Reading([], [(1, f"at most {MAX_ACCOUNTS} accounts per import")])
    if not found and not errors:
        errors.append((2, "no account in the file"))
    return Reading(found, errors)
