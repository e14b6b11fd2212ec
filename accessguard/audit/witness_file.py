"""The file witness: signed checkpoints and heads as JSON lines appended to a file outside the data directory.

One line per point: ``{"label", "seq", "time", "hash", "signature"}``, the
same signature the database holds. Each publication opens the file with
``O_APPEND`` (lines from several processes never overwrite each other),
writes one line in one call and fsyncs before returning; a short write (a
full volume) is truncated away, so a torn line never fuses with the next. The file belongs on
another volume or host, writable append-only by the service (``chattr +a``,
a mount or a log shipper the database's owner cannot rewrite): what it holds
is only as safe from rollback as the file itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from accessguard.audit.chain import Checkpoint
from accessguard.audit.witness import LABELS, Witnessed, WitnessError
from accessguard.errors import ConfigurationError

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
#: How much of the file's end ``latest`` reads: many lines, whatever their length.
_TAIL_BYTES = 65536


class FileWitness:
    """Appends to ``path``; created (mode 0640) at start-up, so a path the service cannot write stops it then."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        created = not self.path.exists()
        try:
            os.close(os.open(self.path, _FLAGS, 0o640))
            if created:  # the new name survives a crash too
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except OSError as exc:
            raise ConfigurationError(f"audit.witness: cannot append to {self.path}: {exc.strerror}") from None

    def latest(self) -> Witnessed | None:
        """The last point the file holds (None while it is empty), read from its end: cheap at start-up."""
        with self.path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - _TAIL_BYTES))
            lines = file.read().splitlines()
        if not lines:
            return None
        return _point(lines[-1].decode("utf-8", "replace"), f"{self.path}:end")

    def publish(self, label: str, point: Checkpoint) -> None:
        line = json.dumps(
            {"label": label, "seq": point.seq, "time": point.time, "hash": point.hash.hex(), "signature": point.signature},
            separators=(",", ":"),
        )
        data = (line + "\n").encode()
        fd = os.open(self.path, _FLAGS, 0o640)
        try:
            written = os.write(fd, data)
            if written != len(data):  # a full volume: take the torn line back, or the next one would be fused to it
                os.ftruncate(fd, os.lseek(fd, 0, os.SEEK_CUR) - written)
                raise WitnessError(f"witness {self.path}: short write (disk full?)")
            os.fsync(fd)
        finally:
            os.close(fd)


def read_witness_file(path: Path) -> list[Witnessed]:
    """Every point in a witness file, oldest first; WitnessError naming the file (and line) if it is missing or damaged."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WitnessError(f"witness {path}: no such file (deleted, or the wrong path?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessError(f"witness {path}: unreadable: {exc}") from None
    return [_point(line, f"{path}:{number}") for number, line in enumerate(text.splitlines(), start=1)]


def _point(line: str, where: str) -> Witnessed:
    try:
        document = json.loads(line)
        label, seq, at, digest, signature = (document[k] for k in ("label", "seq", "time", "hash", "signature"))
        if label not in LABELS or type(seq) is not int or seq < 1 or not isinstance(at, int | float) or not isinstance(signature, str):
            raise ValueError("a field has the wrong type")
        hash_bytes = bytes.fromhex(digest)
        if len(hash_bytes) != 32:
            raise ValueError("hash is not 32 bytes")
    except (ValueError, TypeError, KeyError) as exc:
        raise WitnessError(f"witness {where}: not a witnessed checkpoint ({exc})") from None
    return Witnessed(label, Checkpoint(seq, float(at), hash_bytes, signature), where)
