"""docs/deployment.md's production recipe, run as written: its `<!-- test: … -->` blocks, paths moved into a temporary directory.

The keys are made and the configuration checked by the documented commands;
the documented application module is served by the documented uvicorn,
gunicorn and systemd ExecStart command lines (systemd's ``%d`` and ``${VAR}``
expanded as systemd would), each told by ``FORWARDED_ALLOW_IPS=*`` to believe
forwarded headers from anyone: the guard must still see the socket's peer. The
core scenario runs through each (login, step-up, read, a spoofed address
ignored, a trusted proxy's believed); the backup commands then copy and verify
the access log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest

from accessguard.demo.app import initialise
from accessguard.demo.geodb import DEMO_DATABASE
from accessguard.guard import Guard
from accessguard.settings import Settings
from tests.conftest import CAEN, LAGOS
from tests.demo_process import wait_for
from tests.opa_server import free_port

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "deployment.md").read_text()
BLOCKS = dict(re.findall(r"<!-- test: (\w+) -->\n```\w*\n(.*?)```", DOC, re.S))
BIN = Path(sys.executable).parent


@dataclass
class Host:
    """The documented host's layout under a temporary directory."""

    root: Path
    port: int

    def localised(self, text: str) -> str:
        """``text`` with the documented paths and port moved here (and two workers: the test machine is small)."""
        moves = {
            "/opt/accessguard/bin/": f"{BIN}/",
            "/etc/accessguard": str(self.root / "etc"),
            "/var/lib/accessguard": str(self.root / "lib"),
            "/var/log/accessguard-witness": str(self.root / "witness"),
            "/var/backups/accessguard": str(self.root / "backups"),
            "/opt/myservice": str(self.root / "app"),
            "/var/lib/GeoIP/GeoLite2-City.mmdb": str(DEMO_DATABASE),
            "127.0.0.1:8000": f"127.0.0.1:{self.port}",
            "--port 8000": f"--port {self.port}",
            "--workers 4": "--workers 2",
        }
        for documented, here in moves.items():
            text = text.replace(documented, here)
        return text

    def run(self, block: str) -> subprocess.CompletedProcess[str]:
        """A documented shell block, as a script."""
        return subprocess.run(["bash", "-e", "-c", self.localised(BLOCKS[block])], capture_output=True, text=True, timeout=120)

    @property
    def keys_env(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in (self.root / "etc" / "keys.env").read_text().splitlines())


def test_every_documented_block_is_tested() -> None:
    assert set(BLOCKS) == {"keys", "check", "app", "uvicorn", "gunicorn", "unit", "backup"}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """Keys made and the example configuration checked as documented; the application module written; accounts made."""
    host = Host(tmp_path, free_port())
    for made_by_systemd in ("lib", "witness"):  # StateDirectory=, LogsDirectory=
        (tmp_path / made_by_systemd).mkdir()
    made = host.run("keys")
    assert made.returncode == 0, made.stderr
    assert set(host.keys_env) == {f"ACCESSGUARD_{n}_KEY_FILE" for n in ("SESSION", "PSEUDONYM", "ENCRYPTION", "AUDIT")}
    assert (tmp_path / "etc" / "keys").stat().st_mode & 0o777 == 0o700
    config = tmp_path / "etc" / "accessguard.toml"
    config.write_text(host.localised((ROOT / "examples" / "accessguard.toml").read_text()))
    checked = host.run("check")
    assert checked.returncode == 0 and "valid" in checked.stdout, checked.stderr
    for key_file in host.keys_env.values():
        assert Path(key_file).read_text().strip() not in checked.stdout

    module = host.localised(BLOCKS["app"])
    path = Path(module.splitlines()[0].removeprefix("# "))
    path.parent.mkdir(parents=True)
    path.write_text(module)
    (path.parent / "__init__.py").write_text("")
    patients = tmp_path / "lib" / "patients.db"
    stand_in = "from pathlib import Path\nfrom accessguard.demo.app import PatientDirectory\n"
    (path.parent / "directory.py").write_text(f"{stand_in}app = PatientDirectory(Path({str(patients)!r})).app()\n")  # the demo's stands in
    guard = Guard(Settings.from_file(config, host.keys_env))
    try:
        initialise(tmp_path / "lib", guard)  # the operator's accounts: the demo's, each with a TOTP app
    finally:
        guard.close()
    yield host


def _command(host: Host, name: str) -> tuple[list[str], dict[str, str], Path]:
    """The documented command line of ``name``, its environment and working directory."""
    environ = {**os.environ, "FORWARDED_ALLOW_IPS": "*"}  # servers told to believe anyone's forwarded headers
    if name != "unit":
        lines = host.localised(BLOCKS[name]).strip().splitlines()
        assert lines[0].startswith("cd ")
        return ["bash", "-c", f"exec {lines[-1]}"], environ, Path(lines[0].removeprefix("cd "))
    unit = host.localised(BLOCKS["unit"])
    settings = [line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")]
    credentials = str(host.root / "etc" / "keys")  # LoadCredential= names each file as it is named there
    for name_value in (value for key, value in settings if key == "Environment"):
        variable, value = name_value.split("=", 1)
        environ[variable] = value.replace("%d", credentials)
    for key, value in settings:
        if key == "LoadCredential":
            name, source = value.split(":", 1)
            assert Path(source) == Path(credentials) / name
    expanded = {key: re.sub(r"\$\{(\w+)\}", lambda m: environ[m[1]], value) for key, value in settings if key.startswith("Exec")}
    pre = subprocess.run(expanded["ExecStartPre"].split(), capture_output=True, text=True, env=environ, timeout=120)
    assert pre.returncode == 0 and "valid" in pre.stdout, pre.stderr
    return expanded["ExecStart"].split(), environ, Path(dict(settings)["WorkingDirectory"])


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "gunicorn", "unit"])
def test_the_documented_servers_serve_the_guarded_directory(host: Host, server: str) -> None:
    command, environ, cwd = _command(host, server)
    log = host.root / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=cwd, env=environ, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{host.port}"
    try:

        def answering() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answering, f"{server} to answer")
        _core_scenario(url, host)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    if server == "unit":  # the service stopped: its backup, verified as documented
        backed_up = host.run("backup")
        assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
        assert (host.root / "backups" / "accounts.db").is_file()


def _core_scenario(url: str, host: Host) -> None:
    """Anonymous refused; login and TOTP through the trusted proxy; a read; an untrusted peer's header ignored, the proxy's believed.

    Cookies are ``Secure`` (production): the TLS terminator is left out, so they are carried by hand.
    """
    account = next(a for a in json.loads((host.root / "lib" / "demo-accounts.json").read_text()) if a["username"] == "dr.bernard")
    via_proxy = {"x-forwarded-for": CAEN}
    with httpx.Client(base_url=url) as client:
        assert client.get("/patients/pat-0001", headers={"accept": "application/json"}).status_code == 401
        page = client.get("/patients/pat-0001", headers={"accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith("/accessguard/login")
        login = client.post("/accessguard/login", json={"username": "dr.bernard", "password": account["password"]}, headers=via_proxy)
        assert login.status_code == 200, login.text
        assert "secure" in login.headers["set-cookie"].lower()
        cookie = {"cookie": f"accessguard_session={login.cookies['accessguard_session']}"}
        code = pyotp.TOTP(account["totp_secret"]).now()
        stepped = client.post("/accessguard/step-up/totp", json={"code": code}, headers={**via_proxy, **cookie})
        assert stepped.status_code == 200, stepped.text
        cookie = {"cookie": f"accessguard_session={stepped.cookies['accessguard_session']}"}
        read = client.get("/patients/pat-0001", headers={**via_proxy, **cookie})
        assert read.status_code == 200 and read.json()["id"] == "pat-0001"
    with httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.5")) as stranger:
        spoofed = stranger.get("/patients/pat-0002", headers={"x-forwarded-for": LAGOS, **cookie})
    assert spoofed.status_code == 200, spoofed.text  # 127.0.0.5 is no trusted proxy: its header is not the client's address
    with httpx.Client(base_url=url) as client:  # the trusted proxy says Lagos, seconds after Caen: believed, and challenged
        lagos = client.get("/patients/pat-0003", headers={"x-forwarded-for": LAGOS, **cookie})
    assert lagos.status_code == 401 and "impossible_travel" in lagos.json()["reasons"], lagos.text
