"""``accessguard db upgrade`` (the schema to this release's version, database/migrations.py) and ``db migrate``
(database/copy.py; the access log and emergencies: audit/log_copy.py)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from accessguard.audit.chain import CheckpointSigner
from accessguard.audit.log_copy import ChainsDiffer, copy_access_log
from accessguard.audit.settings import AuditSettings
from accessguard.audit.verify import verify
from accessguard.cli.common import CommandError, add_data_dir, add_database, audit_key, database_of, stored_key
from accessguard.database import Database, default_database_url, open_database
from accessguard.database.copy import copy_records
from accessguard.database.migrations import COMPONENTS, SQLITE_FILES, ready, upgrade


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("db", help="the database of accounts and other durable records")
    actions = parser.add_subparsers(dest="db_command", required=True)
    upgrading = actions.add_parser("upgrade", help="apply the schema versions this release adds (once, whichever host runs it)")
    add_data_dir(upgrading)
    add_database(upgrading)
    upgrading.set_defaults(run=run_upgrade)
    migrating = actions.add_parser(
        "migrate",
        help="copy a data directory's accounts, authenticators, recovery codes, links, emergencies and access log into a shared"
        " database (idempotent; the copied chain is verified)",
    )
    migrating.add_argument("--from", dest="source", type=Path, required=True, metavar="DATA_DIR", help="the data directory to copy from")
    migrating.add_argument("--to", dest="target", required=True, metavar="URL", help="postgresql://USER@HOST:PORT/DB (upgraded first)")
    migrating.set_defaults(run=run_migrate)


def run_upgrade(args: argparse.Namespace) -> int:
    database = open_database(database_of(args))
    try:
        for component in COMPONENTS:
            target = database
            if database.dialect == "sqlite" and component != "accounts":  # on SQLite, each component has its own file
                path = Path(args.data_dir) / SQLITE_FILES[component]
                if not path.is_file():
                    continue  # the service creates it at its first start
                target = open_database(f"sqlite:///{path}")
            try:
                before, after = upgrade(target, component)
            finally:
                if target is not database:
                    target.close()
            state = f"version {before} → {after}" if before != after else f"already at version {after}"
            print(f"{component}: {state} ({target.location})")
    finally:
        database.close()
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    path = Path(args.source) / "accounts.db"
    if not path.is_file():
        raise CommandError(f"--from: no account directory at {path}")
    source = open_database(default_database_url(args.source))
    try:
        ready(source, "accounts")  # a file from an earlier release is brought up to date first
        target = open_database(args.target)
        try:
            ready(target, "accounts")
            _report(copy_records(source, target))
            audit_db = Path(args.source) / "audit.db"
            if audit_db.is_file():
                return _migrate_access_log(args.source, audit_db, target)
        finally:
            target.close()
    finally:
        source.close()
    return 0


def _migrate_access_log(data_dir: Path, path: Path, target: Database) -> int:
    """Copy the access log and the emergencies, then verify the fleet's chain under the data directory's keys."""
    source = open_database(f"sqlite:///{path}")
    try:
        ready(source, "audit")
        ready(target, "audit")
        try:
            _report(copy_access_log(source, target))
        except ChainsDiffer as exc:
            raise CommandError(str(exc)) from None
    finally:
        source.close()
    signer = CheckpointSigner(audit_key(data_dir), stored_key(data_dir, "pseudonym_key"))
    result = verify(target, signer, now=time.time(), retention_s=AuditSettings.retention_days * 86400.0, new=True)
    print(f"access log in {target.location}: {result.describe()}")
    return 0 if result.ok else 1


def _report(copied: dict[str, tuple[int, int]]) -> None:
    for table, (held, count) in copied.items():
        print(f"{table}: {count} of {held} copied ({held - count} already there)")
