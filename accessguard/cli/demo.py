"""``accessguard demo``: the demo patient directory behind accessguard."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from accessguard.cli.common import add_data_dir
from accessguard.errors import ConfigurationError
from accessguard.policy.engine import EMBEDDED_ENGINES


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("demo", help="run the demo patient directory behind accessguard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="where browsers open the demo, for security keys (default: http://localhost:PORT when listening on loopback)",
    )
    add_data_dir(parser)
    parser.add_argument("--oidc-issuer", metavar="URL", help="also accept Bearer tokens from this OpenID provider")
    parser.add_argument("--oidc-audience", metavar="AUD", help="the aud those tokens must carry (required with --oidc-issuer)")
    parser.add_argument("--oidc-discovery-url", metavar="URL", help="the provider's metadata URL, if not the standard one")
    parser.add_argument(
        "--engine",
        choices=(*EMBEDDED_ENGINES, "opa"),
        default=EMBEDDED_ENGINES[0],
        help="policy engine: OPA-compiled WebAssembly, rego-cpp or an OPA server (default: %(default)s)",
    )
    parser.add_argument("--opa-url", default="http://127.0.0.1:8181", help="OPA server for --engine opa (default: %(default)s)")
    parser.add_argument("--policies", type=Path, help="policy directory to serve and watch; changes go live once proven")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="shared state: redis://HOST:PORT/DB (several demo processes then share sessions and limits);"
        " default: SQLite in the data directory",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="accounts and other durable records: postgresql://USER@HOST:PORT/DB shared by several demo processes"
        " (run `accessguard db upgrade --database URL` first; give them the same keys.json); default: SQLite in the data directory",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from accessguard.demo.app import build
    from accessguard.oidc.settings import OIDCSettings

    public_url = (args.public_url or _loopback_url(args.host, args.port)).rstrip("/")
    overrides: dict[str, Any] = {
        "opa_url": args.opa_url if args.engine == "opa" else None,
        "store_url": args.store,
        "database": args.database,
        "webauthn_rp_id": urlsplit(public_url).hostname,
        "webauthn_origins": (public_url,),
        "public_url": public_url,
    }
    if args.engine in EMBEDDED_ENGINES:
        overrides["policy_engine"] = args.engine
    if args.oidc_issuer or args.oidc_audience:
        if not (args.oidc_issuer and args.oidc_audience):
            raise ConfigurationError("--oidc-issuer and --oidc-audience go together")
        overrides["oidc"] = OIDCSettings(args.oidc_issuer, args.oidc_audience, args.oidc_discovery_url)
    if args.policies:
        overrides.update(policy_dir=args.policies, watch_policies=True)
    app, guard = build(args.data_dir, **overrides)
    print(f"accessguard demo: {public_url}  (accounts in {args.data_dir / 'demo-accounts.json'})")
    print(f"policies: {guard.settings.policy_dir} on the {args.engine} engine, revision {guard.engine.revision}")
    print(f"access log witness: {guard.settings.audit.witness} (for `accessguard audit verify --witness`)", flush=True)
    try:
        # proxy_headers=False: the guard alone reads X-Forwarded-For, from its trusted proxies only
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=False)
    finally:
        guard.close()
    return 0


def _loopback_url(host: str, port: int) -> str:
    """The demo's address as a browser opens it: security keys refuse IP addresses, so loopback is ``localhost``."""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigurationError(f"--public-url: the demo listens on {host}; say where browsers open it (e.g. https://demo.example)")
    return f"http://localhost:{port}"
