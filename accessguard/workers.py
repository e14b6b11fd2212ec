"""The gunicorn worker for an ASGI service behind accessguard: uvicorn's, with forwarded headers left to the guard.

uvicorn replaces the client address with the one ``X-Forwarded-For`` names
when the peer is in gunicorn's ``forwarded_allow_ips`` (``FORWARDED_ALLOW_IPS``;
``*`` is a common copy-paste). The guard would then take a client-chosen
address for the peer, and believe the rest of the header if that address is a
trusted proxy. The guard reads forwarded headers itself, from
``trusted_proxies`` only (facts.py), so the server must hand it the peer the
socket saw: ``uvicorn --no-proxy-headers`` when uvicorn runs alone,
``gunicorn --worker-class accessguard.workers.UvicornWorker`` under gunicorn
(docs/deployment.md). Needs the ``gunicorn`` extra.
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):  # type: ignore[misc]  # uvicorn-worker ships no type hints
    CONFIG_KWARGS: dict[str, Any] = {**_UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}
