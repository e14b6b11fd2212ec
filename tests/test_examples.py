"""The examples (examples/) under real servers, at the root and below a prefix (issue 16, item 2).

Each framework's patient directory runs as its documentation says: uvicorn for
Starlette and FastAPI (the prefix by a ``Mount`` / a mounted sub-application),
gunicorn for Flask and Django (the prefix by ``SCRIPT_NAME``). Through each:
anonymous requests refused, a password alone asked to step up, a password and
TOTP login reading one patient, a page over the cap refused, and the patients
served landing in the access log (read from the response for the ASGI
examples, reported by the views with ``report_served`` for Flask and Django).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from accessguard import REPORTED_BY_APP
from accessguard.audit.pseudonym import Pseudonymiser
from accessguard.config.schema import env_name
from accessguard.demo.geodb import DEMO_DATABASE
from accessguard.errors import ConfigurationError
from tests.conftest import CAEN, Clock, Demo, _accounts, _copy_demo
from tests.demo_process import wait_for
from tests.opa_server import free_port
from tests.server_support import GUNICORN, UVICORN, server_process

#: framework → (server, the application as the server is told it)
EXAMPLES = {
    "starlette": ("uvicorn", "examples.starlette_directory:app"),
    "fastapi": ("uvicorn", "examples.fastapi_directory:app"),
    "flask": ("gunicorn", "examples.flask_directory:app"),
    "django": ("gunicorn", "examples.django_directory.wsgi"),
}
MOUNTS = ("", "/api")
LOCATED = {"x-forwarded-for": CAEN}
#: The frameworks whose views report the patients they served (``report_served``), not the responses.
REPORTING = ("flask", "django")
#: An example's guard from a configuration file (docs/configuration.md), as an operator deploys it.
CONFIGURATION = """
data_dir = "{data_dir}"
public_url = "http://localhost"
trusted_proxies = ["127.0.0.1/32"]
geoip_database = "{geoip}"
login_path = "/login"
cookie_secure = false

[audit]
witness = "{data_dir}-witness/audit-witness.jsonl"

[[routes]]
pattern = "/patients/{{id}}"
name = "patients.read"
action = "read"
served_ids = "{read}"

[[routes]]
pattern = "/patients"
name = "patients.search"
action = "search"
requested_count = "limit"
served_ids = "{search}"
"""


@dataclass
class Example:
    url: str  # below the mount
    mount: str
    data_dir: Path

    def demo(self) -> Demo:
        """Clients of this example on the real clock (no guard: it lives in the server)."""
        return Demo(None, Clock(time.time()), _accounts(self.data_dir), lambda: httpx.Client(base_url=self.url))  # type: ignore[arg-type]

    def served(self, route: str) -> list[str]:
        """Pseudonyms of the patients served by ``route`` to dr.martin, as the access log holds them."""
        with closing(sqlite3.connect(self.data_dir / "audit.db")) as db:
            query = "SELECT patient FROM entries WHERE kind = 'served' AND subject = 'dr.martin' AND route = ? ORDER BY seq"
            return [patient for (patient,) in db.execute(query, (route,))]


def _command(server: str, app: str, port: int, mount: str) -> list[str]:
    if server == "uvicorn":  # proxy headers: the guard alone reads X-Forwarded-For, from its trusted proxies
        return [UVICORN, app, "--host", "127.0.0.1", "--port", str(port), "--no-proxy-headers", "--log-level", "warning"]
    return [GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1", *(["--env", f"SCRIPT_NAME={mount}"] if mount else []), app]


def _configured(framework: str, data_dir: Path) -> dict[str, str]:
    """The environment of an example whose guard comes from a configuration file, its secrets from the environment."""
    reporting = framework in REPORTING
    text = CONFIGURATION.format(
        data_dir=data_dir,
        geoip=DEMO_DATABASE,
        read=REPORTED_BY_APP if reporting else "id",
        search=REPORTED_BY_APP if reporting else "patients[].id",
    )
    config = data_dir.parent / "accessguard.toml"
    config.write_text(text)
    (data_dir.parent / f"{data_dir.name}-witness").mkdir(mode=0o700, exist_ok=True)  # the operator makes it, on another volume
    keys = json.loads((data_dir / "keys.json").read_text())
    secrets = {env_name("audit.key" if name == "audit_key" else name): value for name, value in keys.items()}
    return {"ACCESSGUARD_CONFIG": str(config), **secrets}


@pytest.fixture(
    scope="module",
    params=[(framework, mount, False) for framework in EXAMPLES for mount in MOUNTS] + [(framework, "", True) for framework in EXAMPLES],
    ids=lambda p: f"{p[0]}{p[1]}{'-configured' if p[2] else ''}",
)
def example(request: pytest.FixtureRequest, demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    """One example served on its own copy of the demo's data, started once for the tests that use it."""
    framework, mount, configured = request.param
    work = tmp_path_factory.mktemp(framework)
    data_dir = _copy_demo(demo_template, work / "data")
    server, app = EXAMPLES[framework]
    port = free_port()
    env = _configured(framework, data_dir) if configured else {"ACCESSGUARD_DATA_DIR": str(data_dir), "ACCESSGUARD_EXAMPLE_MOUNT": mount}
    with server_process(_command(server, app, port, mount), f"http://127.0.0.1:{port}", work / f"{server}.log", env) as url:
        yield Example(f"{url}{mount}", mount, data_dir)


@pytest.mark.realpart
@pytest.mark.slow
def test_anonymous_requests_are_refused(example: Example) -> None:
    anonymous = example.demo().client()
    for path in ("/patients/pat-0001", "/patients?limit=5"):
        refused = anonymous.get(path, headers=LOCATED)
        assert refused.status_code == 401, (path, refused.text[:300])
        assert refused.json()["login"] == f"{example.mount}/login"  # the guard knows its mount
        assert "first_name" not in refused.text
    if example.mount:  # the same path outside the mount serves nothing either
        outside = httpx.get(example.url.removesuffix(example.mount) + "/patients/pat-0001", headers=LOCATED)
        assert outside.status_code != 200, outside.text[:300]  # gunicorn itself answers 500 outside SCRIPT_NAME
        assert "first_name" not in outside.text


@pytest.mark.realpart
@pytest.mark.slow
def test_a_password_alone_must_step_up(example: Example) -> None:
    refused = example.demo().login("inf.dubois", totp=False).get("/patients/pat-0001", headers=LOCATED)
    assert refused.status_code == 401, refused.text
    assert refused.json()["reasons"] == ["mfa_required"]
    assert refused.json()["step_up"]["url"] == f"{example.mount}/accessguard/step-up"


@pytest.mark.realpart
@pytest.mark.slow
def test_login_with_totp_reads_one_patient_and_no_bulk_page(example: Example) -> None:
    client = example.demo().login("dr.martin")
    read = client.get("/patients/pat-0001", headers=LOCATED)
    assert read.status_code == 200, read.text
    assert read.json()["id"] == "pat-0001"
    too_large = client.get("/patients?limit=500", headers=LOCATED)
    assert too_large.status_code == 403, too_large.text
    assert "page_too_large" in too_large.json()["reasons"]  # with the hard limits 500 reads would pass
    assert "first_name" not in too_large.text
    page = client.get("/patients?limit=5", headers=LOCATED)
    assert page.status_code == 200, page.text
    served_page = [p["id"] for p in page.json()["patients"]]
    assert len(served_page) == 5
    pseudonym = Pseudonymiser(json.loads((example.data_dir / "keys.json").read_text())["pseudonym_key"])
    wait_for(lambda: len(example.served("patients.search")) == 5, "the page's served entries", timeout_s=10)
    assert example.served("patients.read") == [pseudonym("pat-0001")]
    assert sorted(example.served("patients.search")) == sorted(pseudonym(p) for p in served_page)


@pytest.mark.parametrize(
    ("configured", "named"),
    [
        (42, "must be a dict of accessguard Settings fields or a configuration file"),
        (
            {"data_dir": "/tmp", "routes": [], "session_key": "k", "pseudonym_key": "k", "encryption_key": "k", "sesion_ttl_s": 5},
            "sesion_ttl_s",
        ),
        ({"data_dir": "/tmp", "routes": [], "session_key": "k"}, "pseudonym_key, encryption_key"),
    ],
)
def test_django_settings_are_refused_by_name(configured: object, named: str) -> None:
    from django.conf import settings
    from django.test import override_settings

    from accessguard.integrations.django import settings_from_django

    if not settings.configured:
        settings.configure()
    with override_settings(ACCESSGUARD=configured), pytest.raises(ConfigurationError, match=named):
        settings_from_django()
