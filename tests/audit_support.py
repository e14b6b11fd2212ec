"""Helpers for the audit, containment and break-the-glass tests."""

from __future__ import annotations

import contextlib
import io

import httpx

from accessguard.cli import main


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run ``accessguard ARGV`` in this process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def session_id(client: httpx.Client, cookie_name: str = "accessguard_session") -> str:
    """The server-side session id behind a client's session cookie."""
    return str(client.cookies[cookie_name]).split(".")[0]
