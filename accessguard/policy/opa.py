"""The OPA-server engine: decisions from Open Policy Agent over HTTP.

Set-up goes through opa-python-client: the readiness check, pushing the
policy set, removing what earlier pushes left. A decision is one POST of the
input to the decision rule (never the client's ``check_permission``, which
fetches the policy first) on a keep-alive connection of the engine's own
pool. The client's ``query_rule`` makes the same POST through requests, whose
own cost measured here (0.5 ms or more) is as much as OPA's whole answer; urllib3
still adds 0.1 ms; ``http.client`` adds next to nothing (docs/benchmarks.md,
"OPA engine").

Policies reach OPA one of two ways: pushed at start from a ``PolicySet``, or
from a bundle (``accessguard policy bundle``) the server was started or
configured with; decisions then ask for provenance, so each carries the
revision of the bundle that actually decided.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import ssl
import threading
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import ConnectionsError, DeletePolicyError, RegoParseError

from accessguard.decision import Decision
from accessguard.errors import ConfigurationError, PolicyCompileError
from accessguard.policy.engine import DECISION_ENTRYPOINT
from accessguard.policy.policyset import PolicySet

log = logging.getLogger("accessguard.policy")

#: Policy ids pushed by accessguard start with this; stale ones are removed on push.
POLICY_ID_PREFIX = "accessguard/"
DECISION_PATH = f"/v1/data/{DECISION_ENTRYPOINT}"
_JSON = {"Content-Type": "application/json"}
_PACKAGE = re.compile(r"package\s")
_IMPORT = re.compile(r"import\s")


class OpaEngine:
    """PolicyEngine on an OPA server. Build once; share between threads.

    ``policy_set`` given: its modules and data are pushed to the server.
    None: the server already has the policies from a bundle.
    ``timeout_s`` bounds each decision; ``setup_timeout_s`` bounds the
    readiness wait and the push at start.
    """

    def __init__(self, url: str, policy_set: PolicySet | None = None, *, timeout_s: float = 0.5, setup_timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
            raise ConfigurationError(f"opa_url: {url!r} must be http(s)://host[:port] with no path")
        self.url = url
        self._path = DECISION_PATH if policy_set else DECISION_PATH + "?provenance=true"
        self._timeout_s = timeout_s
        self._pool = _KeepAlive(parts)
        client = OpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            ssl=parts.scheme == "https",
            retries=0,
            timeout=setup_timeout_s,
        )
        try:
            self._revision = self._start(client, policy_set, setup_timeout_s)
        except BaseException:
            self._pool.close()
            raise
        finally:
            client.close_connection()

    def _start(self, client: OpaClient, policy_set: PolicySet | None, setup_timeout_s: float) -> str:
        """Wait for readiness, push the policy set, probe the decision rule; returns the revision."""
        try:
            client.wait_for_ready(timeout=setup_timeout_s, interval=0.1, query=None if policy_set else {"bundles": True})
        except ConnectionsError:
            raise ConfigurationError(
                f"opa_url: no OPA server became ready at {self.url} within {setup_timeout_s:g} s; start one with `opa run --server`"
            ) from None
        try:
            if policy_set:
                push(client, policy_set)
            probe = self._decide({"version": 1}, setup_timeout_s)
        except (requests.RequestException, OSError, http.client.HTTPException, RegoParseError, DeletePolicyError, ValueError) as exc:
            raise ConfigurationError(f"opa_url: OPA at {self.url} failed at start: {exc}") from None
        if "result" not in probe:
            raise ConfigurationError(
                f"opa_url: OPA at {self.url} gives no decision at {DECISION_PATH}; "
                "start it with a bundle from `accessguard policy bundle`, or let accessguard push the policy set"
            )
        return policy_set.revision if policy_set else bundle_revision(probe)

    @property
    def revision(self) -> str:
        return self._revision

    def _decide(self, policy_input: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """One POST; OPA's answer, ``result`` absent when the rule is undefined."""
        status, body = self._pool.post(self._path, json.dumps({"input": policy_input}).encode(), timeout_s)
        if status != 200:
            raise ValueError(f"OPA answered {status}: {body[:300].decode(errors='replace')}")
        answer = json.loads(body)
        if not isinstance(answer, dict):
            raise ValueError("OPA's answer is not a JSON object")
        return answer

    def evaluate(self, policy_input: dict[str, Any]) -> Decision:
        try:
            answer = self._decide(policy_input, self._timeout_s)
            if "result" not in answer:
                raise ValueError(f"{DECISION_ENTRYPOINT} is undefined for this input")
            if self._path != DECISION_PATH:
                self._revision = bundle_revision(answer)
            return Decision.from_document(answer["result"], self._revision)
        except Exception as exc:  # any transport, server or document fault must fail closed
            log.error("OPA decision failed, denying: %s", exc)
            return Decision.fail_closed(self._revision)

    def close(self) -> None:
        self._pool.close()


class _KeepAlive:
    """One keep-alive connection per thread to one OPA server: the engine's connection pool."""

    def __init__(self, url: SplitResult) -> None:
        self._https = url.scheme == "https"
        self._address = (url.hostname or "", url.port or (443 if self._https else 80))
        self._local = threading.local()
        self._opened: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()

    def post(self, path: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        """POST ``body``; the status and body of the answer."""
        kept: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if kept is not None:
            try:
                return self._exchange(kept, path, body, timeout_s)
            except ConnectionError:
                pass  # the server closed the idle connection: once more, on a new one
        host, port = self._address
        if self._https:
            fresh: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, context=ssl.create_default_context())
        else:
            fresh = http.client.HTTPConnection(host, port)
        self._opened.add(fresh)
        return self._exchange(fresh, path, body, timeout_s)

    def _exchange(self, connection: http.client.HTTPConnection, path: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        self._local.connection = None
        connection.timeout = timeout_s
        if connection.sock is not None:
            connection.sock.settimeout(timeout_s)
        try:
            connection.request("POST", path, body, _JSON)
            response = connection.getresponse()
            answer = response.status, response.read()
        except BaseException:
            connection.close()  # half-used connections are never reused
            raise
        self._local.connection = connection
        return answer

    def close(self) -> None:
        for connection in list(self._opened):
            connection.close()


def bundle_revision(body: dict[str, Any]) -> str:
    """The revision of the bundle(s) behind a decision answered with provenance."""
    bundles = (body.get("provenance") or {}).get("bundles") or {}
    revisions = sorted(str(b.get("revision", "")) for b in bundles.values())
    return ",".join(revisions) if revisions else "unknown"


def push(client: OpaClient, policy_set: PolicySet) -> None:
    """Put one module per package, then the data, then remove modules left by earlier pushes.

    OPA's policy API takes one module per request and compiles after each, so
    mutually dependent modules of one package (the usual layout) cannot be
    pushed one by one: they are joined into one module per package, and
    compile errors are mapped back to the original file and line. Packages
    that import each other's functions are retried until no progress is made.
    The data goes last, so a set OPA refuses to compile leaves the server's
    data as it was (a refused hot reload must not half-apply).
    """
    for key, value in policy_set.data.items():
        if not isinstance(value, dict):
            raise ConfigurationError(f"{policy_set.directory}/data.json: top-level {key!r} must be an object to push it to OPA")
    joined = {POLICY_ID_PREFIX + package: module for package, module in join_by_package(policy_set).items()}
    pending = dict(joined)
    while pending:
        failed: dict[str, list[str]] = {}
        for policy_id, module in pending.items():
            try:
                client.update_policy_from_string(module.source, policy_id, rego_compat=False)
            except RegoParseError as exc:
                failed[policy_id] = [module.locate(e) for e in exc.errors] or [str(exc)]
        if len(failed) == len(pending):
            raise PolicyCompileError([error for errors in failed.values() for error in errors])
        pending = {policy_id: pending[policy_id] for policy_id in failed}
    for key, value in policy_set.data.items():
        client.update_or_create_data(value, key)
    for stale in set(client.get_policies_list()) - set(joined):
        if stale.startswith(POLICY_ID_PREFIX):
            client.delete_policy(stale)


@dataclass(frozen=True)
class JoinedModule:
    """The modules of one package as one module, with a map back to file and line."""

    source: str
    origins: tuple[tuple[str, int], ...]  # (file, line) of each line of ``source``

    def locate(self, error: dict[str, Any]) -> str:
        """An OPA error as ``file.rego:line:col: message``."""
        location = error.get("location") or {}
        row, col = int(location.get("row") or 0), int(location.get("col") or 0)
        if 1 <= row <= len(self.origins):
            name, line = self.origins[row - 1]
        else:
            name, line = self.origins[-1]
        return f"{name}:{line}:{col}: {error.get('message', error)}"


def join_by_package(policy_set: PolicySet) -> dict[str, JoinedModule]:
    """One module per package: its ``package`` line, the imports of all its files, then their rules."""
    files: dict[str, list[str]] = {}
    for name, package in policy_set.packages.items():
        if not package:
            raise PolicyCompileError([f"{name}:1:1: no package declaration"])
        files.setdefault(package, []).append(name)
    joined = {}
    for package, names in files.items():
        header: list[tuple[str, tuple[str, int]]] = [(f"package {package}", (names[0], 1))]
        body: list[tuple[str, tuple[str, int]]] = []
        for name in names:
            for number, line in enumerate(policy_set.modules[name].splitlines(), 1):
                if _IMPORT.match(line) and all(line != text for text, _ in header):
                    header.append((line, (name, number)))
                body.append(("" if _PACKAGE.match(line) or _IMPORT.match(line) else line, (name, number)))
        lines = header + body
        joined[package] = JoinedModule("\n".join(text for text, _ in lines) + "\n", tuple(origin for _, origin in lines))
    return joined
