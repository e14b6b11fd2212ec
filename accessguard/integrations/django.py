"""Django: the guard in front of Django's WSGI handler, its Settings read from Django's settings module.

``ACCESSGUARD`` in the settings module is a dict of :class:`Settings` fields
(``{"data_dir": ..., "routes": [...], "session_key": ...}``), so the project
configures the guard where it configures everything else; or the path of a
configuration file (docs/configuration.md), its secrets from the environment. The guard wraps the
whole handler rather than sitting in ``MIDDLEWARE``: it decides before any
Django middleware or view runs, on the path Django routes on (``PATH_INFO``
below ``SCRIPT_NAME``). Views report the patients they served with
``accessguard.report_served(request.META, ids)``: under WSGI, ``request.META``
is the environ the guard put its recorder in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from accessguard.errors import ConfigurationError
from accessguard.guard import Guard
from accessguard.middleware.wsgi import WSGIAccessGuard
from accessguard.settings import Settings

#: The name of the dict in Django's settings module.
SETTING = "ACCESSGUARD"


def settings_from_django() -> Settings:
    """``Settings(**ACCESSGUARD)``, or ``Settings.from_file(ACCESSGUARD)``; a missing dict, an unknown key or a missing
    required one is refused by name."""
    from django.conf import settings as django_settings

    configured = getattr(django_settings, SETTING, None)
    if isinstance(configured, (str, Path)):
        return Settings.from_file(configured)
    if not isinstance(configured, Mapping):
        raise ConfigurationError(
            f"Django settings: {SETTING} must be a dict of accessguard Settings fields or a configuration file's path,"
            f" found {type(configured).__name__}"
        )
    fields = dataclasses.fields(Settings)
    unknown = sorted(str(key) for key in configured if key not in {f.name for f in fields})
    if unknown:
        raise ConfigurationError(f"Django settings: {SETTING} has unknown keys: {', '.join(unknown)}")
    required = (f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    missing = [name for name in required if name not in configured]
    if missing:
        raise ConfigurationError(f"Django settings: {SETTING} lacks required keys: {', '.join(missing)}")
    return Settings(**configured)


def guarded_application(guard: Guard | None = None) -> WSGIAccessGuard:
    """Django's WSGI application behind ``guard`` (default: one built from ``ACCESSGUARD``): the project's ``wsgi.py``."""
    from django.core.wsgi import get_wsgi_application

    handler = get_wsgi_application()
    return WSGIAccessGuard(handler, Guard(settings_from_django()) if guard is None else guard)
