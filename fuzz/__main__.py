"""Run the fuzz targets.

    python -m fuzz TARGET [libFuzzer options...]     one target in this process (e.g. -runs=20000, -max_total_time=600, CORPUS_DIR)
    python -m fuzz --all SECONDS [--corpus DIR]      every target in turn, each in a child process for SECONDS

A crash leaves its input as ``crash-*`` in the artifact directory (``--corpus``'s
``artifacts/``, or the current directory) and exits non-zero; turn it into a
regression test, then fix. The long run (``fuzz/run.sh``) keeps a corpus so
each run starts where the last one stopped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        from fuzz.targets import TARGETS

        print(__doc__ + "\ntargets: " + ", ".join(sorted(TARGETS)))
        return 0
    if argv[0] == "--all":
        return _all(int(argv[1]), Path(argv[3]) if argv[2:3] == ["--corpus"] else None)
    import logging

    import atheris

    from fuzz.targets import TARGETS

    logging.disable(logging.CRITICAL)  # refusals are logged by design; millions of lines would hide the crash

    if argv[0] not in TARGETS:
        print(f"unknown target {argv[0]!r}; targets: {', '.join(sorted(TARGETS))}", file=sys.stderr)
        return 2
    atheris.Setup([f"fuzz {argv[0]}", *argv[1:]], TARGETS[argv[0]])
    atheris.Fuzz()
    return 0


def _all(seconds: int, corpus: Path | None) -> int:
    from fuzz.targets import TARGETS

    failed = []
    for name in sorted(TARGETS):
        options = [f"-max_total_time={seconds}"]
        if corpus is not None:
            (corpus / name).mkdir(parents=True, exist_ok=True)
            (corpus / "artifacts").mkdir(parents=True, exist_ok=True)
            options += [f"-artifact_prefix={corpus / 'artifacts'}/{name}-", str(corpus / name)]
        print(f"fuzz: {name} for {seconds} s", flush=True)
        if subprocess.run([sys.executable, "-m", "fuzz", name, *options]).returncode != 0:
            failed.append(name)
    print(f"fuzz: {len(TARGETS) - len(failed)} passed, {len(failed)} failed" + (f" ({', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
