"""Compiled policy modules for the Wasm engine: shipped, cached on disk, or built by ``opa build -t wasm``.

The module depends on the Rego modules only (the data is loaded into each
instance at run time), so it is keyed by ``module_revision``: the modules of
``policies/`` ship compiled in the package (``default-policy.wasm``, and
``default-policy.json`` naming the revision), so the default policy set
needs no Go toolchain. Any other set is compiled with the ``opa`` binary
once and cached under ``$ACCESSGUARD_CACHE/wasm`` (default
``~/.cache/accessguard``, where scripts/install-opa.sh keeps OPA), in a
directory only its owner may write.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

from accessguard.errors import ConfigurationError, PolicyCompileError
from accessguard.policy.engine import DECISION_ENTRYPOINT
from accessguard.policy.opa_tool import check, find_opa
from accessguard.policy.policyset import PolicySet

SHIPPED_MODULE = Path(__file__).with_name("default-policy.wasm")
SHIPPED_REVISION = Path(__file__).with_name("default-policy.json")
OPA_NEEDED = (
    "compiling a policy set other than the shipped one needs the opa binary: "
    "set ACCESSGUARD_OPA or put opa on PATH (scripts/install-opa.sh builds it)"
)
_TIMEOUT_S = 120
_LOCATION = re.compile(r"\S+\.rego:\d+")


def module_revision(policy_set: PolicySet) -> str:
    """``sha256:`` over the module paths and sources: what the compiled module depends on."""
    digest = hashlib.sha256()
    for name, source in sorted(policy_set.modules.items()):
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    return "sha256:" + digest.hexdigest()


def cache_directory() -> Path:
    return Path(os.environ.get("ACCESSGUARD_CACHE") or Path.home() / ".cache" / "accessguard") / "wasm"


def policy_module(policy_set: PolicySet) -> bytes:
    """The compiled module for the set's modules: the shipped one, a cached one, or a new one from ``opa``."""
    revision = module_revision(policy_set)
    if shipped_revision().get("module_revision") == revision:
        return SHIPPED_MODULE.read_bytes()
    cached = cache_directory() / (revision.removeprefix("sha256:") + ".wasm")
    try:
        return cached.read_bytes()
    except OSError:
        pass
    module = compile_module(policy_set)
    _store(cached, module)
    return module


def shipped_revision() -> dict[str, str]:
    """What the shipped module was built from (empty when the package holds none)."""
    try:
        loaded = json.loads(SHIPPED_REVISION.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def compile_module(policy_set: PolicySet, opa: str | None = None) -> bytes:
    """``opa build -t wasm`` of the set's modules (never its tests or data); PolicyCompileError on a Rego error."""
    opa = opa or find_opa()
    if opa is None:
        raise ConfigurationError(OPA_NEEDED)
    with tempfile.TemporaryDirectory(prefix="accessguard-wasm-") as scratch:
        source = Path(scratch) / "policies"
        for name, text in policy_set.modules.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_text(text, encoding="utf-8")
        bundle = Path(scratch) / "bundle.tar.gz"
        # relative paths: the module embeds its source file names, and the same sources must give the same bytes
        command = [opa, "build", "--target", "wasm", "--entrypoint", DECISION_ENTRYPOINT, "--output", bundle.name, "--bundle", source.name]
        try:
            done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigurationError(f"{opa} build failed to run: {exc}") from None
        if done.returncode != 0:  # opa check locates errors to the column, opa build to the line only
            located = [error.replace(f"{source}/", f"{policy_set.directory}/") for error in check(opa, source)]
            raise PolicyCompileError(located or _errors(done.stderr or done.stdout, source.name, policy_set.directory))
        with tarfile.open(bundle) as archive:
            member = archive.extractfile("/policy.wasm")
            if member is None:
                raise PolicyCompileError([f"{policy_set.directory}: opa build made no policy.wasm"])
            return member.read()


def _errors(output: str, copy: str, directory: Path) -> list[str]:
    """OPA's errors, one per line, with the scratch copy's paths turned back into the policy directory's."""
    lines = [re.sub(rf"(?<![\w/.-]){copy}/", f"{directory}/", line).strip() for line in output.splitlines()]
    located = [line[found.start() :] for line in lines if (found := _LOCATION.search(line))]
    return located or [line for line in lines if line] or ["opa build failed"]


def _store(path: Path, module: bytes) -> None:
    """Write atomically into a directory only this user may write; a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as partial:
            partial.write(module)
        os.replace(partial.name, path)
    except OSError:
        return


def write_shipped(policy_set: PolicySet, opa: str | None = None) -> dict[str, str]:
    """Compile the set and write it as the shipped module with its revision file; returns that file's content."""
    module = compile_module(policy_set, opa)
    SHIPPED_MODULE.write_bytes(module)
    described = {
        "module_revision": module_revision(policy_set),
        "policy_revision": policy_set.revision,
        "module_sha256": hashlib.sha256(module).hexdigest(),
        "opa_version": opa_version(opa),
    }
    SHIPPED_REVISION.write_text(json.dumps(described, indent=2) + "\n", encoding="utf-8")
    return described


def opa_version(opa: str | None = None) -> str:
    opa = opa or find_opa()
    if opa is None:
        raise ConfigurationError(OPA_NEEDED)
    done = subprocess.run([opa, "version"], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    found = re.search(r"^Version:\s*(\S+)", done.stdout, re.MULTILINE)
    return found.group(1) if found else "unknown"


def main(argv: list[str] | None = None) -> int:
    """``python -m accessguard.policy.wasm_build [OPA]``: rebuild the shipped module from policies/ (scripts/build-wasm.sh)."""
    import sys

    from accessguard.policy.policyset import DEFAULT_POLICY_DIR, load_policy_set

    arguments = sys.argv[1:] if argv is None else argv
    described = write_shipped(load_policy_set(DEFAULT_POLICY_DIR), arguments[0] if arguments else None)
    print(f"{SHIPPED_MODULE}: {json.dumps(described)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
