"""``accessguard config check`` (a configuration file, validated and shown with secrets redacted) and ``config keys``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from accessguard.cli.common import CommandError
from accessguard.config import ConfigFileError, load
from accessguard.config.effective import effective_toml
from accessguard.config.schema import env_name
from accessguard.settings import KEY_MAKERS


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("config", help="the configuration file (docs/configuration.md)")
    actions = parser.add_subparsers(dest="config_command", required=True)
    checking = actions.add_parser("check", help="validate a configuration file and print the effective configuration, secrets redacted")
    checking.add_argument("file", type=Path, metavar="FILE")
    checking.set_defaults(run=run_check)
    making = actions.add_parser("keys", help="make new secret keys, one file each (mode 0600), for ACCESSGUARD_<KEY>_FILE")
    making.add_argument("directory", type=Path, metavar="DIR", help="made if missing (mode 0700); existing key files are never replaced")
    making.set_defaults(run=run_keys)


def run_check(args: argparse.Namespace) -> int:
    try:
        loaded = load(args.file)
    except ConfigFileError as exc:
        print(f"accessguard: {args.file}: {len(exc.problems)} problem(s)", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return 2
    print(f"# {args.file}: valid. The effective configuration (defaults included, secrets redacted):")
    print(effective_toml(loaded.settings, loaded.secret_sources), end="")
    return 0


def run_keys(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = [name for name in KEY_MAKERS if (directory / name).exists()]
    if existing:
        raise CommandError(
            f"{directory}: {', '.join(existing)} already exist; a new key orphans what the old one sealed or signed"
            " (docs/deployment.md, rotation): remove them first if that is meant"
        )
    for name, make in KEY_MAKERS.items():
        with os.fdopen(os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as file:
            file.write(make() + "\n")
        print(f"{env_name(name)}_FILE={(directory / name).absolute()}")
    return 0
