"""Real servers for the adapters' tests: uvicorn in a thread, gunicorn and wsgiref serving the tests' WSGI applications."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import uvicorn

from tests.demo_process import wait_for
from tests.opa_server import free_port

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
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
def gunicorn_server(app: str, data_dir: Path, log: Path, *options: str) -> Iterator[str]:
    """gunicorn serving ``app`` (a ``module:factory()`` of the tests) on ``data_dir``; yields its URL."""
    port = free_port()
    env = ["--env", f"ACCESSGUARD_TEST_DATA={data_dir}"]
    with log.open("w") as output:
        server = subprocess.Popen(
            [GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1", *env, *options, app],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited {server.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=5)
            return True
        except httpx.TransportError:
            return False

    try:
        wait_for(answering, "gunicorn to answer")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


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
