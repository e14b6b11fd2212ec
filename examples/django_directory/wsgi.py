"""``gunicorn examples.django_directory.wsgi`` (below a prefix: ``--env SCRIPT_NAME=/api``).

The guard wraps Django's handler, built from ``ACCESSGUARD`` in the settings;
``demo_guard`` adds the demo's patients and accounts on first start.
"""

from __future__ import annotations

import atexit
import os

from accessguard.demo.app import demo_guard
from accessguard.integrations.django import guarded_application, settings_from_django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_directory.settings")

guard = demo_guard(settings_from_django())
atexit.register(guard.close)
application = guarded_application(guard)
