"""``accessguard audit``: verify the access log, scope a breach, work the review queue, watch alerts.

Keys come from ``ACCESSGUARD_PSEUDONYM_KEY`` / ``ACCESSGUARD_AUDIT_KEY`` (or the files ``…_FILE`` names) or
``DATA_DIR/keys.json``: ``scope`` and ``reviews`` need the pseudonym key
(to resolve patients), ``verify`` the audit key (to check signatures), and
``reviews close`` both (it appends to the log, signing its head). With
``--database postgresql://…`` each reads the fleet's one log, every host's entries. The
witness file comes from ``--witness`` or ``ACCESSGUARD_AUDIT_WITNESS``, never
from the data directory, whose owner it guards against.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from accessguard.audit.alerts import pending_alerts
from accessguard.audit.chain import Checkpoint, CheckpointSigner
from accessguard.audit.reviews import close_review, list_reviews
from accessguard.audit.scope import SCOPE_FIELDS, breach_scope, scope_csv, scope_records
from accessguard.audit.sealed_ids import PatientIdSealer
from accessguard.audit.settings import AuditSettings
from accessguard.audit.verify import verify
from accessguard.audit.witness import Witnessed, WitnessError
from accessguard.audit.witness_file import read_witness_file
from accessguard.cli.common import (
    CommandError,
    add_data_dir,
    add_database,
    audit_key,
    iso_time,
    log_of,
    open_access_log,
    operator,
    stored_key,
    table,
    time_option,
    witness_file,
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("audit", help="verify the access log, scope a breach, review emergencies")
    actions = parser.add_subparsers(dest="audit_command", required=True)

    check = actions.add_parser("verify", help="check the hash chain, checkpoints and signed head; exit 1 on any tampering")
    add_data_dir(check)
    add_database(check)
    check.add_argument(
        "--retention-days", type=int, default=AuditSettings.retention_days, help="the service's retention (default: %(default)s)"
    )
    check.add_argument("--expect", metavar="SEQ:HASH", help="a checkpoint kept elsewhere (the application log) that must still hold")
    check.add_argument(
        "--witness",
        type=Path,
        metavar="FILE",
        help="the witness file (AuditSettings.witness) the log must reach and match (default: $ACCESSGUARD_AUDIT_WITNESS)",
    )
    check.add_argument("--new", action="store_true", help="the log was just created: accept it empty when no witness holds anything")
    check.set_defaults(run=run_verify)

    scope = actions.add_parser("scope", help="patients whose identity records an account was served in a window")
    add_data_dir(scope)
    add_database(scope)
    scope.add_argument("--subject", required=True, help="the account (professional id)")
    scope.add_argument("--since", required=True, help="ISO 8601 time (UTC unless an offset is given), Unix seconds, or 72h / 7d ago")
    scope.add_argument("--until", help="same forms; default: now")
    scope.add_argument("--format", choices=("table", "csv", "json"), default="table")
    scope.set_defaults(run=run_scope)

    reviews = actions.add_parser("reviews", help="the after-the-fact review queue of emergency (break-the-glass) access")
    review_actions = reviews.add_subparsers(dest="reviews_command", required=True)
    listing = review_actions.add_parser("list", help="open reviews (--all: closed ones too)")
    add_data_dir(listing)
    add_database(listing)
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(run=run_reviews_list)
    closing = review_actions.add_parser("close", help="close a review with the reviewer's conclusion")
    add_data_dir(closing)
    add_database(closing)
    closing.add_argument("review", help="the declaration id shown by `reviews list`")
    closing.add_argument("--note", required=True, help="the conclusion (justified, escalated, ...)")
    closing.add_argument("--by", default=operator(), help="the reviewer (default: %(default)s)")
    closing.set_defaults(run=run_reviews_close)

    alerts = actions.add_parser("alerts", help="alerts not yet delivered to a sink, with their last error")
    add_data_dir(alerts)
    add_database(alerts)
    alerts.add_argument("--format", choices=("table", "json"), default="table")
    alerts.set_defaults(run=run_alerts)


FRESHNESS_UNPROVEN = (
    "accessguard: WARNING: no witness given (--witness FILE or ACCESSGUARD_AUDIT_WITNESS): freshness is UNPROVEN."
    " A log rolled back to an older signed head, its newer entries deleted, verifies as well as the real one."
)


def run_verify(args: argparse.Namespace) -> int:
    witnessed: list[Witnessed] | None = None
    witness = witness_file(args.witness)
    if witness is not None:
        try:
            witnessed = read_witness_file(witness)
        except WitnessError as exc:
            print(f"TAMPERED: {exc}")
            return 1
    if args.expect:
        seq, _, digest = args.expect.partition(":")
        if not seq.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise CommandError("--expect takes SEQ:HASH (the hex hash of a checkpoint line)")
        external = Witnessed("external checkpoint", Checkpoint(int(seq), 0.0, bytes.fromhex(digest), ""), "--expect")
        witnessed = [*(witnessed or ()), external]
    signer = CheckpointSigner(audit_key(args.data_dir), stored_key(args.data_dir, "pseudonym_key"))
    with log_of(args) as location:
        result = verify(location, signer, now=time.time(), retention_s=args.retention_days * 86400.0, witnessed=witnessed, new=args.new)
    if witness is None:
        print(FRESHNESS_UNPROVEN, file=sys.stderr)
    print(result.describe())
    return 0 if result.ok else 1


def run_scope(args: argparse.Namespace) -> int:
    now = time.time()
    since = time_option(args.since, "--since", now)
    until = time_option(args.until, "--until", now) if args.until else now
    if until <= since:
        raise CommandError("--until must be after --since")
    with log_of(args) as location:
        exposures = breach_scope(location, PatientIdSealer(stored_key(args.data_dir, "pseudonym_key")), args.subject, since, until)
    records = scope_records(exposures)
    unresolved = [e.pseudonym for e in exposures if e.patient is None]
    if args.format == "json":
        print(json.dumps(records, indent=2))
    elif args.format == "csv":
        print(scope_csv(records), end="")
    else:
        print(table(SCOPE_FIELDS, [[r["patient"] or "?", r["count"], r["first"], r["last"]] for r in records]))
        total = sum(e.count for e in exposures)
        print(f"\n{len(records)} patients, {total} identity records served to {args.subject} from {iso_time(since)} to {iso_time(until)}")
    if unresolved:
        print(
            f"accessguard: {len(unresolved)} pseudonyms could not be resolved (wrong pseudonym key or damaged log): "
            + ", ".join(unresolved[:5]),
            file=sys.stderr,
        )
        return 1
    return 0


def run_reviews_list(args: argparse.Namespace) -> int:
    with log_of(args) as location:
        reviews = list_reviews(location, PatientIdSealer(stored_key(args.data_dir, "pseudonym_key")), include_closed=args.all)
    if args.format == "json":
        print(json.dumps([asdict(r) for r in reviews], indent=2))
        return 0
    rows = [
        [
            r.id,
            r.subject,
            r.patient or "?",
            iso_time(r.declared_at),
            r.accesses,
            "open" if r.closed_at is None else f"closed by {r.closed_by}",
            r.reason,
        ]
        for r in reviews
    ]
    print(table(["review", "subject", "patient", "declared", "accesses", "status", "reason"], rows))
    return 0


def run_reviews_close(args: argparse.Namespace) -> int:
    with log_of(args) as location:
        access_log = open_access_log(args.data_dir, None if isinstance(location, Path) else location)
        try:
            close_review(access_log, args.review, args.by, args.note)
        finally:
            access_log.close()
    print(f"review {args.review} closed by {args.by}")
    return 0


def run_alerts(args: argparse.Namespace) -> int:
    with log_of(args) as location:
        alerts = pending_alerts(location)
    if args.format == "json":
        print(json.dumps([asdict(a) for a in alerts], indent=2))
        return 0
    rows = [[a.alert_id, a.sink, a.attempts, ",".join(a.reasons), a.last_error or ""] for a in alerts]
    print(table(["alert", "sink", "attempts", "reasons", "last error"], rows))
    return 0
