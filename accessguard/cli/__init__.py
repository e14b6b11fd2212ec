"""The ``accessguard`` command line; each command group lives in its own module here."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from accessguard.cli import account, admin, audit, config, db, demo, policy

#: Exit statuses, the same for every command (docs/cli.md): done; refused or not found; bad usage or configuration.
DONE, REFUSED, USAGE = 0, 1, 2
#: The exit status of a process killed by SIGPIPE (128 + 13), which shells report for `cmd | head`.
BROKEN_PIPE = 141


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="accessguard", description="Authorisation middleware for e-health patient directories.")
    commands = root.add_subparsers(dest="command", required=True)
    for register in (demo.register, config.register, policy.register, admin.register, audit.register, account.register, db.register):
        register(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as a filter killed by SIGPIPE does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return BROKEN_PIPE
    except Exception as exc:
        from accessguard.cli.common import CommandRefused
        from accessguard.errors import AccessGuardError

        if not isinstance(exc, AccessGuardError):
            raise
        print(f"accessguard: {exc}", file=sys.stderr)
        return REFUSED if isinstance(exc, CommandRefused) else USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
