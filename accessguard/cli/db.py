"""``accessguard db upgrade``: bring the durable records' schema to this release's version (database/migrations.py)."""

from __future__ import annotations

import argparse
from typing import Any

from accessguard.cli.common import add_data_dir, add_database, database_of
from accessguard.database import open_database
from accessguard.database.migrations import COMPONENTS, upgrade


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("db", help="the database of accounts and other durable records")
    actions = parser.add_subparsers(dest="db_command", required=True)
    upgrading = actions.add_parser("upgrade", help="apply the schema versions this release adds (once, whichever host runs it)")
    add_data_dir(upgrading)
    add_database(upgrading)
    upgrading.set_defaults(run=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    database = open_database(database_of(args))
    try:
        for component in COMPONENTS:
            before, after = upgrade(database, component)
            state = f"version {before} → {after}" if before != after else f"already at version {after}"
            print(f"{component}: {state} ({database.location})")
    finally:
        database.close()
    return 0
