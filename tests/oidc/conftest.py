"""A real OpenID provider (oidc-provider from npm, tests/oidc_provider) on loopback, and demos trusting it."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from accessguard.oidc.settings import OIDCSettings
from tests.conftest import Clock, Demo, _copy_demo, make_demo, require_part

PROVIDER_DIR = Path(__file__).resolve().parents[1] / "oidc_provider"
CLIENT_ID = "accessguard-demo"
CLIENT_SECRET = "test-client-secret-not-for-production-use"
REDIRECT_URI = "http://localhost/accessguard/oidc/callback"
RESOURCE = "urn:accessguard:demo"
SCOPES = "openid profile patients"


def signing_keys() -> KeySet:
    """A fresh private JWK Set: RS256 signs ID tokens, ES256 signs access tokens."""
    return KeySet([RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}), ECKey.generate_key("P-256", {"use": "sig", "alg": "ES256"})])


@dataclass
class Tokens:
    access_token: str
    id_token: str


class TestProvider:
    """The provider process, its private keys (so tests can forge tokens it would sign) and a user agent for it."""

    __test__ = False

    def __init__(self, workdir: Path) -> None:
        self.keys = signing_keys()
        self.jwks_file = workdir / "jwks.json"
        self.jwks_file.write_text(json.dumps(self.keys.as_dict(private=True)))
        config = workdir / "provider.json"
        client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]}
        config.write_text(json.dumps({"jwks_file": str(self.jwks_file), "client": client}))
        self.process = subprocess.Popen(
            ["node", str(PROVIDER_DIR / "provider.mjs"), str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.issuer = self._wait_ready()

    def _wait_ready(self, timeout_s: float = 20.0) -> str:
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout], daemon=True).start()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if line.startswith("READY "):
                return line.split()[1]
        self.close()
        raise RuntimeError("the test OpenID provider did not start (run npm ci in tests/oidc_provider)")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    # what tests do with it

    def jwks_requests(self) -> int:
        count: int = requests.get(f"{self.issuer}/test/stats", timeout=5).json()["jwks_requests"]
        return count

    def rotate(self) -> None:
        """New signing keys, published first; the old ones stay in the set."""
        self.keys = KeySet([*signing_keys().keys, *self.keys.keys])
        self.jwks_file.write_text(json.dumps(self.keys.as_dict(private=True)))
        requests.post(f"{self.issuer}/test/rotate", timeout=5).raise_for_status()

    def sign(self, claims: dict[str, Any], alg: str = "ES256", **header: Any) -> str:
        """A token signed with the provider's own key: only the claims can make it invalid."""
        key = next(k for k in self.keys if k.get("alg") == alg)
        return jwt.encode({"alg": alg, "kid": key.kid, **header}, claims, key)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Claims of a fresh eidas1 + mfa access token for ext.nobody (no local account), with overrides (None removes a claim)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": RESOURCE,
            "sub": "ext.nobody",
            "iat": now,
            "exp": now + 600,
            "acr": "eidas1",
            "amr": ["pwd", "mfa"],
            "auth_time": now,
            "roles": ["doctor"],
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def authorize(self, browser: requests.Session, url: str, account: str, amr: str, ts: int | None = None) -> str:
        """Follow an authorization URL as the user, log in with these methods; the redirect back to the client."""
        response = browser.get(url, allow_redirects=False)
        location = urljoin(url, response.headers["location"])
        if "/interaction/" in location:
            form = {"account": account, "amr": amr, **({"ts": str(ts)} if ts is not None else {})}
            response = browser.post(location + "/login", data=form, allow_redirects=False)
            response = browser.get(response.headers["location"], allow_redirects=False)
            location = urljoin(url, response.headers["location"])
        return location

    def tokens(self, account: str, amr: str, ts: int | None = None) -> Tokens:
        """Tokens an API client obtains with authorization code + PKCE, the user logging in with ``amr``."""
        client = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope=SCOPES, redirect_uri=REDIRECT_URI, code_challenge_method="S256")
        verifier = "v" * 64
        url, _ = client.create_authorization_url(f"{self.issuer}/auth", code_verifier=verifier, nonce="n", prompt="login")
        callback = self.authorize(requests.Session(), url, account, amr, ts)
        token = client.fetch_token(f"{self.issuer}/token", authorization_response=callback, code_verifier=verifier)
        return Tokens(token["access_token"], token["id_token"])


def _node_ready() -> bool:
    return shutil.which("node") is not None and (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir()


def start_provider(workdir: Path) -> TestProvider:
    require_part(_node_ready(), "node with tests/oidc_provider/node_modules (npm ci)")
    workdir.mkdir(parents=True, exist_ok=True)
    return TestProvider(workdir)


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestProvider]:
    started = start_provider(tmp_path_factory.mktemp("oidc-provider"))
    yield started
    started.close()


def oidc_settings(provider: TestProvider, **overrides: Any) -> OIDCSettings:
    """The provider as the demo trusts it, found at Pro Santé Connect's non-standard metadata path."""
    settings: dict[str, Any] = {
        "issuer": provider.issuer,
        "audience": RESOURCE,
        "discovery_url": f"{provider.issuer}/.well-known/wallet-openid-configuration",
        **overrides,
    }
    return OIDCSettings(**settings)


DemoFactory = Callable[..., Demo]


@pytest.fixture
def oidc_demo(demo_template: Path, tmp_path: Path) -> Iterator[DemoFactory]:
    """Builds demos (ASGI or WSGI) trusting a provider, each on its own data directory; ``overrides`` go to Settings.

    The clock starts at the real time, like the provider's.
    """
    guards = []

    def make(oidc: OIDCSettings, adapter: str = "asgi", **overrides: Any) -> Demo:
        data_dir = _copy_demo(demo_template, tmp_path / f"data-{len(guards)}")
        demo = make_demo(adapter, data_dir, clock=Clock(time.time()), follow_redirects=False, oidc=oidc, **overrides)
        guards.append(demo.guard)
        return demo

    yield make
    for guard in guards:
        guard.close()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
