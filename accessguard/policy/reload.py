"""Safe hot reload: a changed policy directory goes live only after a child process proved it.

A thread polls the directory's ``.rego`` and ``.json`` files. When they have
changed and then stayed unchanged for one poll (an editor saving several
files), the set is proven in a child (``accessguard.policy.prove``: compile
on ``prove_engine``, the in-process engine that will serve it, and run every
decision case; the Wasm engine's child leaves the compiled module in the
disk cache, where this process then takes it from), then checked by ``opa check`` when an opa binary is
found (rego-cpp's compiler accepts unsafe variables and unknown functions: such
a rule would go live and never fire). Only a clean proof builds the new engine here and
swaps it in with one attribute assignment; requests already running finish
on the engine they started with. Anything else leaves the live revision
serving and logs why, with file and line, and which files changed since
the live revision (a native-engine crash kills the child before it can say
where, so the changed files are where to look).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from accessguard.errors import AccessGuardError
from accessguard.policy.engine import EMBEDDED_ENGINES, PolicyEngine
from accessguard.policy.policyset import PolicySet, load_policy_set
from accessguard.policy.prove import prove

log = logging.getLogger("accessguard.policy")

Fingerprint = tuple[tuple[str, int, int], ...]


class EngineHolder(Protocol):
    """What the reloader swaps the engine of (the Guard)."""

    engine: PolicyEngine


class PolicyReloader:
    """Watches ``directory`` and swaps ``holder.engine`` to proven revisions built by ``engine_for``."""

    def __init__(
        self,
        holder: EngineHolder,
        directory: Path,
        engine_for: Callable[[PolicySet], PolicyEngine],
        *,
        interval_s: float = 1.0,
        prove_timeout_s: float = 120.0,
        prove_engine: str = EMBEDDED_ENGINES[0],
    ) -> None:
        self.holder = holder
        self.directory = Path(directory)
        self.engine_for = engine_for
        self.interval_s = interval_s
        self.prove_timeout_s = prove_timeout_s
        self.prove_engine = prove_engine
        self._applied = self._polled = self._live_files = self.fingerprint()
        self._retired: PolicyEngine | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accessguard-policy-reload", daemon=True)

    def fingerprint(self) -> Fingerprint:
        """Path, modification time and size of every policy, data and case file."""
        files = []
        for path in sorted(self.directory.rglob("*")):
            try:
                if path.suffix in (".rego", ".json") and path.is_file():
                    stat = path.stat()
                    files.append((path.relative_to(self.directory).as_posix(), stat.st_mtime_ns, stat.st_size))
            except OSError:
                continue  # removed while listing; the next poll sees the result
        return tuple(files)

    def start(self) -> PolicyReloader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._retired is not None:
            self._retired.close()
            self._retired = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:  # the watcher must outlive any one bad change, or an unreadable directory
                current = self.fingerprint()
                settled, self._polled = current == self._polled, current
                if settled and current != self._applied:
                    self._applied = current
                    self.reload()
            except Exception:
                log.exception("policy change in %s refused; the live revision stays", self.directory)

    def reload(self) -> bool:
        """Prove the directory as it is now; switch to it if proven. True when a new revision went live."""
        live = self.holder.engine.revision
        proving = self.fingerprint()
        proof = prove(self.directory, engine=self.prove_engine, opa_check=True, timeout_s=self.prove_timeout_s)
        if not proof.ok:
            log.error(
                "policy change in %s refused; revision %s stays live:\n  %s\n  (changed since the live revision: %s)",
                self.directory,
                live,
                "\n  ".join(proof.failures),
                _changed(self._live_files, proving),
            )
            return False
        try:
            policy_set = load_policy_set(self.directory)
            if policy_set.revision != proof.revision:
                self._applied = ()  # changed again while proving: prove again at the next poll
                log.warning("policy files in %s changed while being proven; proving again", self.directory)
                return False
            if policy_set.revision == live:
                return False
            engine = self.engine_for(policy_set)
        except AccessGuardError as exc:
            log.error("policy change in %s refused; revision %s stays live: %s", self.directory, live, exc)
            return False
        retired, self.holder.engine = self.holder.engine, engine
        self._live_files = proving
        if self._retired is not None:
            self._retired.close()  # retired a swap ago: requests take milliseconds, swaps come seconds apart
        self._retired = retired
        log.info("policy revision %s is live (was %s; %d decision cases passed)", policy_set.revision, live, len(proof.cases))
        return True


def _changed(before: Fingerprint, after: Fingerprint) -> str:
    """The files added, removed or rewritten between two fingerprints, as one line."""
    old, new = {name: rest for name, *rest in before}, {name: rest for name, *rest in after}
    names = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    return ", ".join(f"{name}{'' if name in new else ' (removed)'}" for name in names) or "none"
