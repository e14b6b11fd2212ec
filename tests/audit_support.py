"""Helpers for the audit, containment and break-the-glass tests."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import httpx

from accessguard.cli import main
from accessguard.database import Database, open_database
from accessguard.database.migrations import upgrade


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


class LogBackend:
    """An access log on one backend, for the audit tests that run on both: where it lives, raw SQL on it, the CLI's options.

    ``url`` None: ``audit.db`` in ``data_dir`` (the SQLite default); else a fleet's PostgreSQL, its audit schema upgraded.
    """

    def __init__(self, data_dir: Path, url: str | None = None) -> None:
        self.data_dir = data_dir
        self.url = url
        self.database: Database | None = None
        if url is not None:
            self.database = open_database(url)
            upgrade(self.database, "audit")

    @property
    def location(self) -> Path | Database:
        return self.database if self.database is not None else self.data_dir / "audit.db"

    def sql(self, *statements: str | tuple[str, tuple[object, ...]]) -> list[tuple[object, ...]]:
        """Run statements (or statements and their arguments) in one transaction, as someone with write access to the
        database would; the last one's rows."""
        database = self.database or open_database(f"sqlite:///{self.data_dir / 'audit.db'}")
        rows: list[tuple[object, ...]] = []
        try:
            with database.transaction() as tx:
                for statement in statements:
                    sql, args = (statement, ()) if isinstance(statement, str) else statement
                    if database.dialect == "postgresql":
                        sql = sql.replace("zeroblob(32)", "decode(repeat('00', 32), 'hex')")
                    rows = tx.execute(sql, args)
        finally:
            if database is not self.database:
                database.close()
        return rows

    def cli(self, *argv: str) -> tuple[int, str, str]:
        """``accessguard ARGV`` on this log (``--data-dir`` for the keys, ``--database`` on PostgreSQL)."""
        return run_cli(*argv, "--data-dir", str(self.data_dir), *(("--database", self.url) if self.url else ()))

    def close(self) -> None:
        if self.database is not None:
            self.database.close()
