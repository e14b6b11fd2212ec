"""Django settings of the example; ``ACCESSGUARD`` is the guard's (accessguard.integrations.django)."""

from __future__ import annotations

from accessguard.audit.settings import AuditSettings
from accessguard.demo.app import demo_witness
from accessguard.demo.geodb import DEMO_DATABASE
from accessguard.settings import local_keys
from examples.common import CONFIG, DATA_DIR, REPORTED_ROUTES

ROOT_URLCONF = "examples.django_directory.urls"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
DEBUG = False
SECRET_KEY = "example-only-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"  # Django sets the process time zone; its default is America/Chicago
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]

if CONFIG:  # a configuration file (docs/configuration.md): its routes declare served_ids = "@app"
    ACCESSGUARD: object = CONFIG
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    demo_witness(DATA_DIR).parent.mkdir(mode=0o700, exist_ok=True)
    _keys = local_keys(DATA_DIR)  # for the example; production reads them from its secret store

    ACCESSGUARD = {
        "data_dir": DATA_DIR,
        "routes": REPORTED_ROUTES,  # served ids reported by the views
        "session_key": _keys["session_key"],
        "pseudonym_key": _keys["pseudonym_key"],
        "encryption_key": _keys["encryption_key"],
        "audit": AuditSettings(key=_keys["audit_key"], witness=demo_witness(DATA_DIR)),
        "geoip_database": DEMO_DATABASE,
        "trusted_proxies": ["127.0.0.1/32"],
        "login_path": "/login",
        "cookie_secure": False,  # plain http on loopback; never in production
        "webauthn_rp_id": "localhost",
        "webauthn_origins": ["http://localhost"],
    }
