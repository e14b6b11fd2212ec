"""Options and helpers shared by every command."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from accessguard.audit.access_log import AccessLog, ForeignAuditKey
from accessguard.audit.alerts import AlertBridge, alert_log
from accessguard.audit.log_store import log_location
from accessguard.audit.scope import iso_time as iso_time
from accessguard.audit.settings import AuditSettings
from accessguard.authn.accounts import Accounts, open_accounts
from accessguard.config.loader import from_environment
from accessguard.database import Database, default_database_url, open_database
from accessguard.errors import AccessGuardError, ConfigurationError
from accessguard.settings import default_store_url, stored_keys
from accessguard.store import Store, open_store
from accessguard.times import NotATime, parse_time

DEFAULT_DATA_DIR = Path(".accessguard")


class CommandError(AccessGuardError):
    """A command cannot run as asked (bad usage or configuration: exit status 2); the message says why."""


class CommandRefused(CommandError):
    """A command ran but was refused or found nothing to act on (exit status 1); the message says why."""


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where state, keys and logs live (default: %(default)s)")


def add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URL", help="the state store the service uses (default: the SQLite store in the data directory)")


def add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help="the durable records the service uses: postgresql://USER@HOST:PORT/DB in a fleet (default: accounts.db in the data directory)",
    )


def database_of(args: argparse.Namespace) -> str:
    """The database named by ``--database``, else the data directory's own."""
    return str(args.database or default_database_url(args.data_dir))


@contextmanager
def log_of(args: argparse.Namespace) -> Iterator[Path | Database]:
    """The access log of ``--database`` (a fleet's PostgreSQL holds every host's), else the data directory's, which must exist."""
    database = open_database(args.database) if args.database and not args.database.startswith("sqlite:") else None
    try:
        location = log_location(args.data_dir, database)
        if isinstance(location, Path) and not location.exists():
            raise CommandError(f"no access log at {location}")
        yield location
    finally:
        if database is not None:
            database.close()


def open_accounts_of(args: argparse.Namespace) -> Accounts:
    """The account directory of ``--database``, else of the data directory (which must hold one: never made up here)."""
    path = Path(args.data_dir) / "accounts.db"
    if not args.database and not path.is_file():
        raise CommandError(f"no account directory at {path}; pass --data-dir (the demo's is .accessguard) or --database")
    return open_accounts(database_of(args))


def open_store_of(args: argparse.Namespace) -> Store:
    """The store named by ``--store``, else the data directory's own."""
    return open_store(args.store or default_store_url(args.data_dir))


def stored_key(data_dir: Path, name: str) -> str:
    """A key from ``ACCESSGUARD_<NAME>``, the file ``ACCESSGUARD_<NAME>_FILE`` names, or else ``DATA_DIR/keys.json``; never made up here."""
    variable = "ACCESSGUARD_" + name.upper()
    found = from_environment(variable, os.environ)
    if found is not None:
        return found[0]
    path = Path(data_dir) / "keys.json"
    keys = stored_keys(path)
    if name not in keys:
        raise ConfigurationError(f"{name}: set {variable} or keep it in {path}")
    return keys[name]


def time_option(value: str, option: str, now: float | None = None) -> float:
    """A time option's value in Unix seconds (``accessguard.times.parse_time``); a usage error otherwise."""
    try:
        return parse_time(value, option, now)
    except NotATime as exc:
        raise CommandError(str(exc)) from None


def table(headings: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows under headings, in aligned columns."""
    cells = [[str(c) for c in row] for row in [headings, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headings))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def operator() -> str:
    """Who runs a command, as the logs and alerts name them."""
    return f"cli:{getpass.getuser()}"


def audit_key(data_dir: Path) -> str | None:
    """The audit key, or None where the service derives it from the pseudonym key."""
    try:
        return stored_key(data_dir, "audit_key")
    except ConfigurationError:
        return None


def witness_file(given: Path | None) -> Path | None:
    """The access log's witness file: ``given`` (an option), else ``ACCESSGUARD_AUDIT_WITNESS``; never found in the data directory."""
    return given or (Path(os.environ["ACCESSGUARD_AUDIT_WITNESS"]) if os.environ.get("ACCESSGUARD_AUDIT_WITNESS") else None)


def open_access_log(data_dir: Path, database: Database | None = None) -> AccessLog:
    """The access log for a command that appends events; the service alone prunes (it knows the retention).

    Appending signs the head, and sometimes a checkpoint: with an audit key other than the service's
    (ACCESSGUARD_AUDIT_KEY forgotten), the log would fail verification for good, so the command stops first.
    Its heads go to the witness named by ACCESSGUARD_AUDIT_WITNESS, if set, as the service's do.
    """
    location = log_location(data_dir, database)
    settings = AuditSettings(key=audit_key(data_dir), witness=witness_file(None))
    try:
        return AccessLog(location, settings, stored_key(data_dir, "pseudonym_key"), prune=False)
    except ForeignAuditKey:
        where = location if isinstance(location, Path) else location.location
        raise CommandError(
            f"{where}: its signed head does not verify with this audit key; set ACCESSGUARD_AUDIT_KEY to the service's"
            " (or keep audit_key in keys.json), or see `accessguard audit verify` if the log was tampered with"
        ) from None


@contextmanager
def alerts_recorded(data_dir: Path, database: Database | None = None) -> Iterator[AccessLog]:
    """While a command runs, its alert lines (enrolment links, revocations, containment) go into
    the access log (the fleet's, with a PostgreSQL ``database``), and from there to every alert sink, as they do in the service."""
    access_log = open_access_log(data_dir, database)
    bridge = AlertBridge(access_log, on_service_log=False)  # the service's log sink shows what only reached this stderr
    alert_log.addFilter(bridge)
    try:
        yield access_log
    finally:
        alert_log.removeFilter(bridge)
        access_log.close()
