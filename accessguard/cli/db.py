"""``accessguard db upgrade`` (the schema to this release's version, database/migrations.py) and ``db migrate``
(database/copy.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from accessguard.cli.common import CommandError, add_data_dir, add_database, database_of
from accessguard.database import default_database_url, open_database
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
        help="copy a data directory's accounts, authenticators, recovery codes and links into a shared database (idempotent)",
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
        finally:
            target.close()
    finally:
        source.close()
    return 0


def _report(copied: dict[str, tuple[int, int]]) -> None:
    for table, (held, count) in copied.items():
        print(f"{table}: {count} of {held} copied ({held - count} already there)")
