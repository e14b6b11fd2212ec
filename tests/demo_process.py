"""The ``accessguard demo`` command as a child process on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.opa_server import free_port

ACCESSGUARD = str(Path(sys.executable).with_name("accessguard"))  # the console script of this environment


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def demo_process(data_dir: Path, log: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the demo, wait until it answers; yields its base URL and the process. Output goes to ``log``."""
    port = free_port()
    with log.open("w") as output:
        demo = subprocess.Popen(
            [ACCESSGUARD, "demo", "--port", str(port), "--data-dir", str(data_dir), *options], stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if demo.poll() is not None:
            raise AssertionError(f"the demo exited {demo.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answering, "the demo to answer")
        yield url, demo
    finally:
        demo.terminate()
        demo.wait(timeout=10)
