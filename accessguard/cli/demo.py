"""``accessguard demo``: the demo patient directory behind accessguard."""

from __future__ import annotations

import argparse
from typing import Any

from accessguard.cli.common import add_data_dir


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("demo", help="run the demo patient directory behind accessguard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    add_data_dir(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from accessguard.demo.app import build

    app, guard = build(args.data_dir)
    print(f"accessguard demo: http://{args.host}:{args.port}  (accounts in {args.data_dir / 'demo-accounts.json'})", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        guard.close()
    return 0
