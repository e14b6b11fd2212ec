"""A real PostgreSQL server (Debian's) on a free loopback port, for the fleet tests.

``initdb`` refuses to run as root, so under root the cluster belongs to the
``postgres`` user (``runuser``) in a temporary directory it owns; the server
trusts loopback connections and is stopped (and its directory removed) after.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.redis_server import free_port


def _bin_dir() -> Path | None:
    """The newest Debian PostgreSQL's programs (``/usr/lib/postgresql/<major>/bin``), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


BIN_DIR = _bin_dir()
DATABASE = "accessguard"


def _as_owner() -> list[str]:
    """The command prefix that runs a program as the cluster's owner: ``postgres`` when we are root."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PostgresServer:
    """One PostgreSQL cluster; ``stop()`` then ``start()`` keeps its data (a restart, as in a failover)."""

    def __init__(self) -> None:
        assert BIN_DIR is not None
        self.directory = Path(tempfile.mkdtemp(prefix="accessguard-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        owner = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.url = f"postgresql://{owner}@127.0.0.1:{self.port}/{DATABASE}"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", owner, "-E", "UTF8", "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        assert BIN_DIR is not None
        result = subprocess.run([*_as_owner(), str(BIN_DIR / program), *args], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stdout}{result.stderr}")

    def start(self) -> PostgresServer:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "server.log"), "-o", options, "-w", "start")
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
            if db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                db.execute(f"CREATE DATABASE {DATABASE}")
        return self

    def stop(self, mode: str = "fast") -> None:
        """``mode="immediate"``: no shutdown checkpoint, as in a crash; the next start recovers from the WAL."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def reset(self) -> None:
        """An empty database for the next test (every connection to it ended first)."""
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
            db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (DATABASE,))
            db.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
            db.execute(f"CREATE DATABASE {DATABASE}")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
