"""``accessguard demo``: the demo patient directory behind accessguard."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from accessguard.cli.common import DEFAULT_DATA_DIR, CommandError
from accessguard.errors import ConfigurationError
from accessguard.logs import LOG_FORMATS, configure_logging
from accessguard.policy.engine import EMBEDDED_ENGINES

if TYPE_CHECKING:
    from accessguard.guard import Guard
    from accessguard.middleware.asgi import AccessGuardMiddleware
    from accessguard.settings import Settings


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("demo", help="run the demo patient directory behind accessguard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="where browsers open the demo, for security keys (default: http://localhost:PORT when listening on loopback)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"where state, keys and logs live (default: {DEFAULT_DATA_DIR}, or the configuration file's data_dir, which this replaces)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings from this configuration file (docs/configuration.md); secrets it leaves out come from keys.json",
    )
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
    parser.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on 127.0.0.1:PORT (docs/operations.md); default: none"
    )
    parser.add_argument("--log-format", choices=LOG_FORMATS, help="plain lines or one JSON object per line (default: plain)")
    parser.set_defaults(run=run)


#: Options that say what a configuration file says: refused beside ``--config``, which would silently win or lose.
_SETTINGS_OPTIONS = (
    "public_url",
    "oidc_issuer",
    "oidc_audience",
    "oidc_discovery_url",
    "policies",
    "store",
    "database",
    "metrics_port",
    "log_format",
)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from accessguard.demo.app import build_from

    if args.config:
        given = [f"--{name.replace('_', '-')}" for name in _SETTINGS_OPTIONS if getattr(args, name)]
        if given or args.engine != EMBEDDED_ENGINES[0]:
            raise CommandError(f"{', '.join(given or ['--engine'])}: with --config, set this in the configuration file")
        settings = _file_settings(args.config, args.data_dir)
        configure_logging(settings.log_format)
        app, guard = build_from(settings)
        public_url = next(iter(guard.settings.webauthn_origins), f"http://localhost:{args.port}")
        engine = "opa" if guard.settings.opa_url else guard.settings.policy_engine
    else:
        app, guard = _built(args)
        public_url, engine = _public_url(args), args.engine
    print(f"accessguard demo: {public_url}  (accounts in {Path(guard.settings.data_dir) / 'demo-accounts.json'})")
    print(f"policies: {guard.settings.policy_dir} on the {engine} engine, revision {guard.engine.revision}")
    if guard.settings.audit.witness:
        print(f"access log witness: {guard.settings.audit.witness} (for `accessguard audit verify --witness`)")
    print(end="", flush=True)
    try:
        # proxy_headers=False: the guard alone reads X-Forwarded-For, from its trusted proxies only
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=False)
    finally:
        guard.close()
    return 0


def _file_settings(config: Path, data_dir: Path | None) -> Settings:
    """The settings of ``config``; ``data_dir`` (made if missing) replaces its own; keys it leaves out come from keys.json."""
    from accessguard.config import load
    from accessguard.demo.app import demo_keys

    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    replace = {"data_dir": str(data_dir.absolute())} if data_dir is not None else {}
    return load(config, replace=replace, fallback_secrets=demo_keys).settings


def _public_url(args: argparse.Namespace) -> str:
    return str((args.public_url or _loopback_url(args.host, args.port)).rstrip("/"))


def _built(args: argparse.Namespace) -> tuple[AccessGuardMiddleware, Guard]:
    """The demo from its command-line options."""
    from accessguard.demo.app import build
    from accessguard.oidc.settings import OIDCSettings

    public_url = _public_url(args)
    overrides: dict[str, Any] = {
        "opa_url": args.opa_url if args.engine == "opa" else None,
        "store_url": args.store,
        "database": args.database,
        "metrics_port": args.metrics_port,
        "log_format": args.log_format or "plain",
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
    configure_logging(overrides["log_format"])
    return build(args.data_dir or DEFAULT_DATA_DIR, **overrides)


def _loopback_url(host: str, port: int) -> str:
    """The demo's address as a browser opens it: security keys refuse IP addresses, so loopback is ``localhost``."""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigurationError(f"--public-url: the demo listens on {host}; say where browsers open it (e.g. https://demo.example)")
    return f"http://localhost:{port}"
