"""Options shared by every command."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DATA_DIR = Path(".accessguard")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where state, keys and logs live (default: %(default)s)")
