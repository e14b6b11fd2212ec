"""Settings of the audit trail: the access log, its checkpoints and retention, alert sinks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from accessguard.audit.log_sink import open_log_sink
from accessguard.errors import ConfigurationError

MIN_KEY_LENGTH = 32


@dataclass(frozen=True)
class AuditSettings:
    """Configuration of the access log and of alert delivery.

    ``key`` signs checkpoints (HMAC-SHA-256); when None it is derived from the
    pseudonym key, which lets whoever resolves pseudonyms also re-sign the log:
    production sets its own. ``commit_window_s`` is how long the writer lets
    a small batch wait for more entries before committing: each commit is an
    fsync, so a longer window costs less CPU per request, and a crash can lose
    the entries not yet committed, at most about that long of traffic. ``webhook_url`` adds a webhook sink to the log
    sink; its requests are signed with ``webhook_key``.

    ``witness`` is a file, outside the data directory (another volume or a
    host the service cannot rewrite), that keeps every signed checkpoint and,
    at most every ``witness_interval_s``, the signed head, as append-only
    JSON lines (audit/witness_file.py): ``accessguard audit verify --witness``
    catches with it a log rolled back or wiped together with its head, which
    the database alone cannot show. Without it, the log proves authorship, not
    freshness.

    ``log_sink`` streams every entry and signed checkpoint to a copy outside
    the host (audit/log_sink.py): ``syslog+tcp://HOST:PORT`` (RFC 5424) or
    ``file:///PATH`` (JSON lines), at least once, retried like alerts
    (``retry_base_s``, ``retry_max_s``); its outage never stops decisions.

    ``alert_window_s`` de-duplicates alerts (audit/outbox.py): the first
    alert of an account for a reason is sent at once; further occurrences
    within this many seconds are counted, and one summary with the count is
    sent when the window closes.
    """

    key: str | None = None
    retention_days: int = 365
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 60.0
    max_backlog: int = 100_000
    commit_window_s: float = 0.02
    log_alerts: bool = True
    webhook_url: str | None = None
    webhook_key: str | None = None
    webhook_timeout_s: float = 5.0
    retry_base_s: float = 2.0
    retry_max_s: float = 3600.0
    alert_window_s: float = 900.0
    witness: Path | None = None
    witness_interval_s: float = 5.0
    log_sink: str | None = None

    def validate(self) -> None:
        """Raise ConfigurationError naming the first bad audit setting."""
        if self.key is not None and len(self.key) < MIN_KEY_LENGTH:
            raise ConfigurationError(f"audit.key: must be at least {MIN_KEY_LENGTH} characters of secret")
        for name in ("retention_days", "checkpoint_every", "max_backlog"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"audit.{name}: must be positive")
        for name in ("checkpoint_interval_s", "webhook_timeout_s", "retry_base_s", "retry_max_s", "witness_interval_s", "alert_window_s"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"audit.{name}: must be positive")
        if not 0 <= self.commit_window_s <= 1:
            raise ConfigurationError("audit.commit_window_s: must be between 0 and 1 second")
        if self.log_sink is not None:
            open_log_sink(self.log_sink)
        if self.webhook_url is not None:
            if urlsplit(self.webhook_url).scheme not in ("http", "https") or not urlsplit(self.webhook_url).netloc:
                raise ConfigurationError(f"audit.webhook_url: {self.webhook_url!r} is not an http(s) URL")
            if len(self.webhook_key or "") < MIN_KEY_LENGTH:
                raise ConfigurationError(f"audit.webhook_key: a webhook needs a signing key of at least {MIN_KEY_LENGTH} characters")

    @property
    def sinks(self) -> tuple[str, ...]:
        """The names of the configured alert sinks."""
        return (*(("log",) if self.log_alerts else ()), *(("webhook",) if self.webhook_url else ()))
