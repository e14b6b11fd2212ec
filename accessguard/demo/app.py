"""The demo service: a patient directory (Starlette) behind the accessguard middleware."""

from __future__ import annotations

import dataclasses
import fcntl
import html
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accessguard.admin.pages import SECURITY_HEADERS
from accessguard.audit.settings import AuditSettings
from accessguard.authn import totp
from accessguard.demo.geodb import DEMO_DATABASE
from accessguard.demo.patients import create_directory
from accessguard.guard import Guard
from accessguard.i18n import LANGUAGES, Language
from accessguard.middleware.asgi import AccessGuardMiddleware
from accessguard.routes import ProtectedRoute
from accessguard.settings import Settings, local_keys
from accessguard.sqlite_uri import sqlite_uri

ROUTES = (
    ProtectedRoute("/patients/{id}", name="patients.read", action="read", served_ids="id"),
    ProtectedRoute("/patients", name="patients.search", action="search", requested_count="limit", served_ids="patients[].id"),
)

#: Demo accounts: (username, role, organisation, kind).
DEMO_ACCOUNTS = [
    ("dr.martin", "doctor", "chu-caen", "professional"),
    ("dr.bernard", "doctor", "chu-lille", "professional"),
    ("inf.dubois", "nurse", "chu-caen", "professional"),
    ("inf.leroy", "nurse", "chu-caen", "professional"),
    ("sec.moreau", "secretary", "chu-caen", "professional"),
    ("dr.garcia", "doctor", "ch-nantes", "professional"),
    ("admin", "admin", "grades-normandie", "admin"),
]


def initialise(data_dir: Path, guard: Guard) -> None:
    """First start: patient directory and accounts; writes demo-accounts.json.

    With a database shared by several demo hosts, the first one makes the accounts
    and lists them; the others list none (use the first one's listing).
    """
    accounts_file = data_dir / "demo-accounts.json"
    if accounts_file.exists():
        return
    create_directory(data_dir / "patients.db")
    listing = []
    for username, role, organisation, kind in DEMO_ACCOUNTS:
        if guard.accounts.get(username) is not None:
            continue
        password = secrets.token_urlsafe(12)
        guard.accounts.add(username, password, kind=kind, roles=(role,), organisation=organisation)
        secret = totp.generate_secret()
        guard.authenticators.add_totp(username, secret, label="demo authenticator app", enrolled_via="demo", now=guard.settings.clock())
        listing.append({"username": username, "password": password, "role": role, "totp_secret": secret})
    accounts_file.touch(mode=0o600)
    accounts_file.write_text(json.dumps(listing, indent=2))


def demo_witness(data_dir: Path) -> Path:
    """The demo's access-log witness: in a sibling of the data directory, ``DATA_DIR-witness/audit-witness.jsonl``.

    Outside the data directory, so that copying, resetting or rolling back the
    data directory leaves it; on the same volume, so it shows the idea, not the
    protection: production keeps its witness on another volume or host.
    """
    return Path(f"{Path(data_dir).absolute()}-witness") / "audit-witness.jsonl"


def demo_settings(data_dir: Path, **overrides: Any) -> Settings:
    """The demo's settings; ``overrides`` replace any of them (tests swap the geo database, say).

    Security keys work at ``http://localhost`` unless ``webauthn_origins`` says where the demo listens.
    """
    keys = local_keys(data_dir)
    audit: AuditSettings = overrides.pop("audit", AuditSettings())
    witness = audit.witness or demo_witness(data_dir)
    witness.parent.mkdir(mode=0o700, exist_ok=True)
    settings = Settings(
        data_dir=data_dir,
        session_key=keys["session_key"],
        pseudonym_key=keys["pseudonym_key"],
        encryption_key=keys["encryption_key"],
        routes=ROUTES,
        geoip_database=DEMO_DATABASE,
        trusted_proxies=("127.0.0.1/32",),
        login_path="/login",
        cookie_secure=False,
        webauthn_rp_id="localhost",
        webauthn_origins=("http://localhost",),
        public_url="http://localhost",
        default_locale="fr",
        time_zone="Europe/Paris",
        audit=dataclasses.replace(audit, key=audit.key or keys["audit_key"], witness=witness),
    )
    return dataclasses.replace(settings, **overrides)


def landing_page(data_dir: Path, public_url: str, language: Language) -> bytes:
    """The demo's home page in ``language``: what it is, where its accounts are, links to walk the scenario (no secret in it)."""
    listing = json.loads((data_dir / "demo-accounts.json").read_text()) if (data_dir / "demo-accounts.json").exists() else []
    rows = "".join(f"<tr><td>{html.escape(a['username'])}</td><td>{html.escape(a['role'])}</td></tr>" for a in listing)
    page = language.template((Path(__file__).parent / "templates" / "landing.html").read_text())
    return page.substitute(
        lang=language.code,
        accounts_file=html.escape(str(data_dir / "demo-accounts.json")),
        accounts=rows,
        data_dir=html.escape(str(data_dir)),
        public_url=html.escape(public_url),
    ).encode()


class PatientDirectory:
    """The unprotected application: a realistic SQLite-backed patient lookup."""

    def __init__(self, path: Path, landing: Callable[[str | None], bytes] = lambda accept_language: b"") -> None:
        """``landing``: the home page for a request's ``Accept-Language``."""
        self.path = path
        self._landing = landing
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(sqlite_uri(self.path, "ro"), uri=True, check_same_thread=False)
            db.row_factory = sqlite3.Row
        return db

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        """One patient's identity record, or None."""
        row = self._db().execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
        return dict(row) if row is not None else None

    def patients(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """A page of patients by last name: the ``q``, ``limit`` and ``offset`` parameters of ``query`` (bad numbers: defaults)."""
        raw_limit, raw_offset = query.get("limit", "20"), query.get("offset", "0")
        limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() else 20
        offset = int(raw_offset) if raw_offset.isascii() and raw_offset.isdigit() else 0
        rows = self._db().execute(
            "SELECT * FROM patients WHERE last_name LIKE ? ORDER BY id LIMIT ? OFFSET ?", (query.get("q", "") + "%", limit, offset)
        )
        return [dict(r) for r in rows.fetchall()]

    async def read(self, request: Request) -> JSONResponse:
        found = self.patient(request.path_params["id"])
        if found is None:
            return JSONResponse({"detail": "no such patient"}, status_code=404)
        return JSONResponse(found)

    async def search(self, request: Request) -> JSONResponse:
        return JSONResponse({"patients": self.patients(request.query_params)})

    def app(self) -> Starlette:
        async def healthz(request: Request) -> JSONResponse:
            return JSONResponse({"status": "ok"})

        async def home(request: Request) -> Response:
            page = self._landing(request.headers.get("accept-language"))
            return Response(page, media_type="text/html", headers={**dict(SECURITY_HEADERS), "vary": "accept-language"})

        return Starlette(
            routes=[
                Route("/", home),
                Route("/patients/{id}", self.read),
                Route("/patients", self.search),
                Route("/healthz", healthz),
            ]
        )


def demo_guard(settings: Settings) -> Guard:
    """A guard on ``settings`` whose data directory holds the demo's patients and accounts (made on first start)."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    directory = os.open(data_dir, os.O_RDONLY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)  # demos started together: one makes the accounts, the others wait
        guard = Guard(settings)
        initialise(data_dir, guard)
    finally:
        os.close(directory)
    return guard


def build(data_dir: Path, **overrides: Any) -> tuple[AccessGuardMiddleware, Guard]:
    """The protected demo application and its guard."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return build_from(demo_settings(data_dir, **overrides))


def demo_keys(data_dir: Path) -> dict[str, str]:
    """The data directory's ``keys.json`` (made on first use) by configuration key: the secrets a demo's file leaves out."""
    return {("audit.key" if name == "audit_key" else name): value for name, value in local_keys(data_dir).items()}


def build_from(settings: Settings) -> tuple[AccessGuardMiddleware, Guard]:
    """The demo patient directory behind a guard of these settings (from a configuration file, say)."""
    guard = demo_guard(settings)
    data_dir = Path(settings.data_dir)
    public_url = guard.settings.public_url or "http://localhost:8000"
    pages = {code: landing_page(data_dir, public_url, guard.languages.of(code)) for code in LANGUAGES}  # rendered once
    directory = PatientDirectory(data_dir / "patients.db", lambda accept_language: pages[guard.languages.of(accept_language).code])
    return AccessGuardMiddleware(directory.app(), guard), guard
