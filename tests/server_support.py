"""Real servers for the adapters' tests: uvicorn in a thread, gunicorn and wsgiref serving the tests' WSGI applications."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import uvicorn

from tests.demo_process import wait_for
from tests.opa_server import free_port

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
UVICORN = str(Path(sys.executable).with_name("uvicorn"))
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def uvicorn_server(app: object, **config: object) -> Iterator[str]:
    """A real uvicorn server in a thread; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **config))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "uvicorn to start", timeout_s=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def server_process(command: Sequence[str], url: str, log: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``command`` (a server listening at ``url``) as a child process run from the repository, output to ``log``; yields ``url``
    once it answers, stops it after."""
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT)

    def answering() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"{command[0]} exited {server.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=5)
            return True
        except httpx.TransportError:
            return False

    try:
        wait_for(answering, f"{Path(command[0]).name} to answer")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def gunicorn_server(app: str, data_dir: Path, log: Path, *options: str) -> Iterator[str]:
    """gunicorn serving ``app`` (a ``module:factory()`` of the tests) on ``data_dir``; yields its URL."""
    port = free_port()
    command = [GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--env", f"ACCESSGUARD_TEST_DATA={data_dir}", *options, app]
    with server_process(command, f"http://127.0.0.1:{port}", log) as url:
        yield url


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def wsgiref_server(app: Any) -> Iterator[str]:
    """The standard library's wsgiref server in a thread; yields its URL."""
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
