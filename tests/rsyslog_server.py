"""A real rsyslogd (Debian's ``rsyslog``), unprivileged, on a free loopback TCP port, writing what it receives to a file."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.redis_server import free_port

RSYSLOGD = shutil.which("rsyslogd") or next((p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if Path(p).exists()), None)

_CONFIG = """
global(workDirectory="{directory}" maxMessageSize="64k")
module(load="imtcp")
template(name="line" type="string" string="%msgid% %structured-data% %msg%\\n")
input(type="imtcp" port="{port}" address="127.0.0.1")
*.* action(type="omfile" file="{output}" template="line")
"""


class RsyslogServer:
    """One rsyslogd with its own configuration; ``stop``/``start`` again keep the port and the output file."""

    def __init__(self, directory: Path) -> None:
        assert RSYSLOGD is not None
        self.directory = directory
        self.port = free_port()
        self.url = f"syslog+tcp://127.0.0.1:{self.port}"
        self.output = directory / "received.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RsyslogServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "rsyslog.conf"
        config.write_text(_CONFIG.format(directory=self.directory, port=self.port, output=self.output))
        log = (self.directory / "rsyslogd.log").open("ab")
        self._process = subprocess.Popen(
            [str(RSYSLOGD), "-n", "-f", str(config), "-i", str(self.directory / "rsyslogd.pid")], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError(f"rsyslogd did not start on port {self.port}: see {self.directory / 'rsyslogd.log'}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def received(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Each message written so far: MSGID, structured data, and the JSON document of its MSG."""
        if not self.output.exists():
            return []
        messages = []
        for line in self.output.read_text().splitlines():
            msgid, rest = line.split(" ", 1)
            structured, message = rest.split("] ", 1)
            messages.append((msgid, structured + "]", json.loads(message)))
        return messages
