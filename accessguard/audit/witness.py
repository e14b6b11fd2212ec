"""Witnesses: the access log's signed checkpoints and heads, kept where the log's database cannot rewrite them.

A signed head proves who wrote the log, not that it is the latest: whoever
can write ``audit.db`` can put back an older head and delete what followed,
or delete everything. A witness keeps each checkpoint, and the head every few
seconds, outside the database (certificate transparency's signed tree heads,
published away from the log, are the model); ``audit verify`` then requires
the log to reach the witness's latest point and to hash to each witnessed one.

Publication runs in a thread of its own, fed by the access-log writer after
each commit (so a witness is never ahead of the database), and never on the
request path. A witness that refuses is retried; once it has refused for
``WITNESS_GRACE_S`` the access log refuses new entries, so the guard refuses
protected requests (503) rather than serve reads that could be rolled back
unseen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from accessguard.audit.chain import Checkpoint
from accessguard.errors import StoreError

log = logging.getLogger("accessguard.audit")

#: How long a witness may refuse before the access log refuses entries: what could be rolled back unseen.
WITNESS_GRACE_S = 30.0
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
#: What a witness keeps, each signed under its label: periodic checkpoints, and the head.
LABELS = ("checkpoint", "head")


class WitnessError(StoreError):
    """A witness cannot take a checkpoint, or cannot be read back; the message names it."""


@dataclass(frozen=True)
class Witnessed:
    """A point of the chain kept outside the database.

    ``label`` is ``checkpoint`` or ``head`` (signed under that label) or
    ``expect`` (given by the operator, e.g. from the application log: unsigned);
    ``where`` names its source for messages (``FILE:LINE``).
    """

    label: str
    point: Checkpoint
    where: str


class Witness(Protocol):
    """Somewhere that keeps signed checkpoints append-only: a file on another volume, syslog, a webhook, another store."""

    where: str

    def publish(self, label: str, point: Checkpoint) -> None:
        """Keep ``point`` durably (returns once it is kept); WitnessError or OSError when it cannot."""


class WitnessPublisher:
    """Hands the access log's checkpoints and latest head to its witnesses, from a daemon thread.

    ``offer`` (the writer, after a commit) only stores: every checkpoint is
    published, and the latest head at most every ``interval_s``; ``close``
    publishes what is left.
    """

    def __init__(self, witnesses: Sequence[Witness], interval_s: float) -> None:
        self._witnesses = tuple(witnesses)
        self._interval_s = interval_s
        self._cond = threading.Condition()
        self._checkpoints: list[Checkpoint] = []
        self._head: Checkpoint | None = None
        self._failing_since: float | None = None
        self._last_error = ""
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="accessguard-witness", daemon=True)
        self._thread.start()

    def offer(self, checkpoint: Checkpoint | None, head: Checkpoint) -> None:
        """A commit's checkpoint (if it made one) and its head, to publish; never blocks on a witness."""
        with self._cond:
            if checkpoint is not None:
                self._checkpoints.append(checkpoint)
            self._head = head
            self._cond.notify()

    def refusal(self) -> str | None:
        """Why entries must be refused: the witnesses have refused for more than WITNESS_GRACE_S (else None)."""
        since = self._failing_since
        if since is None or time.monotonic() - since <= WITNESS_GRACE_S:
            return None
        return f"its witness has refused checkpoints for more than {WITNESS_GRACE_S:.0f} s ({self._last_error})"

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        backoff = RETRY_FIRST_S
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._head is not None or self._closed)
                head, checkpoints = self._head, self._checkpoints
                if head is None:
                    return
                self._head, self._checkpoints = None, []
            try:
                self._publish(checkpoints, head)
            except Exception as exc:  # any witness fault is reported and retried: it must not end the thread
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.error("access log witness: publishing the head at #%d failed, retrying: %s", head.seq, self._last_error)
                with self._cond:
                    self._checkpoints[:0] = checkpoints
                    self._head = self._head or head
                    if self._failing_since is None:
                        self._failing_since = time.monotonic()
                    if self._closed:  # the attempt at closing failed: say what the witness lacks
                        log.error("access log witness: closing with the head at #%d unpublished", head.seq)
                        return
                    self._cond.wait_for(lambda: self._closed, backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            backoff = RETRY_FIRST_S
            self._failing_since = None
            with self._cond:
                self._cond.wait_for(lambda: self._closed, self._interval_s)

    def _publish(self, checkpoints: list[Checkpoint], head: Checkpoint) -> None:
        for witness in self._witnesses:
            for point in checkpoints:
                witness.publish("checkpoint", point)
            witness.publish("head", head)
