"""The ``accessguard`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

DEFAULT_DATA_DIR = Path(".accessguard")


def _demo(args: argparse.Namespace) -> int:
    import uvicorn

    from accessguard.demo.app import build

    app, guard = build(Path(args.data_dir))
    print(f"accessguard demo: http://{args.host}:{args.port}  (accounts in {Path(args.data_dir) / 'demo-accounts.json'})", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        guard.close()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="accessguard", description="Authorisation middleware for e-health patient directories.")
    commands = root.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demo patient directory behind accessguard")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="where state, keys and logs live (default: %(default)s)")
    demo.set_defaults(run=_demo)
    return root


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except Exception as exc:
        from accessguard.errors import AccessGuardError

        if not isinstance(exc, AccessGuardError):
            raise
        print(f"accessguard: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
