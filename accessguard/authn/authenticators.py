"""The authenticators of each account (TOTP apps, WebAuthn credentials), in the accounts' database.

An authenticator moves through these states:

- ``pending``: a TOTP seed handed out but not yet confirmed with a code; never counts.
- ``active``: counts as a factor.
- ``contained``: enrolled after a containment time; counts again only once re-verified
  from a session allowed to enrol an authenticator of its kind.
- ``clone_suspected``: its signature counter went backwards; never counts again.
- ``revoked``: never counts again.

TOTP seeds are sealed at rest; WebAuthn credentials hold only public keys, and the
relying-party id each was registered for (None for credentials stored before it was kept).
Without a sealer (the admin command line) everything but the seeds can be handled.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from accessguard.authn.sealing import Sealer
from accessguard.database import Database, Row
from accessguard.errors import ConfigurationError

TOTP = "totp"
WEBAUTHN = "webauthn"
KINDS = (TOTP, WEBAUTHN)
#: States in which an authenticator is still in the account's hands (listed to the professional, excluded on registration).
HELD_STATES = ("active", "contained")
#: A TOTP seed not confirmed within this time is discarded.
PENDING_TTL_S = 600

_COLUMNS = "id, account_id, kind, label, state, created, last_used, enrolled_via, credential, sign_count, aaguid, user_verifying, rp_id"


@dataclass(frozen=True)
class Authenticator:
    """One authenticator, without its secret. ``credential`` is the WebAuthn attested credential data."""

    id: str
    account_id: str
    kind: str
    label: str
    state: str
    created: int
    last_used: int | None
    enrolled_via: str
    credential: bytes | None = None
    sign_count: int | None = None
    aaguid: str | None = None
    user_verifying: bool | None = None
    rp_id: str | None = None


class Authenticators:
    def __init__(self, database: Database, sealer: Sealer | None = None) -> None:
        self._db = database
        self._sealer = sealer

    def _sealing(self) -> Sealer:
        if self._sealer is None:
            raise ConfigurationError("encryption_key: needed to handle TOTP seeds")
        return self._sealer

    # TOTP

    def add_totp(self, account_id: str, secret: str, *, label: str, enrolled_via: str, now: float, pending: bool = False) -> Authenticator:
        """Store a sealed TOTP seed; a pending one replaces the account's previous pending seed."""
        authenticator_id = _new_id()
        with self._db.transaction() as db:
            if pending:
                db.execute("DELETE FROM authenticators WHERE account_id = ? AND kind = ? AND state = 'pending'", (account_id, TOTP))
            db.execute(
                "INSERT INTO authenticators (id, account_id, kind, label, state, created, enrolled_via, sealed_secret)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    authenticator_id,
                    account_id,
                    TOTP,
                    label,
                    "pending" if pending else "active",
                    int(now),
                    enrolled_via,
                    self._sealing().seal(secret),
                ),
            )
        found = self.get(authenticator_id)
        assert found is not None
        return found

    def pending_totp(self, account_id: str, now: float) -> tuple[Authenticator, str] | None:
        """The account's TOTP seed awaiting confirmation, if handed out recently enough."""
        seeds = self._seeds(account_id, ("pending",))
        return next(((a, s) for a, s in seeds if a.created > now - PENDING_TTL_S), None)

    def totp_seeds(self, account_id: str) -> list[tuple[Authenticator, str]]:
        """The TOTP authenticators still held (active or contained), each with its unsealed seed."""
        return self._seeds(account_id, HELD_STATES)

    def _seeds(self, account_id: str, states: tuple[str, ...]) -> list[tuple[Authenticator, str]]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS}, sealed_secret FROM authenticators WHERE account_id = ? AND kind = ?"
            f" AND state IN ({','.join('?' * len(states))}) ORDER BY created",
            (account_id, TOTP, *states),
        )
        return [(_authenticator(row[:-1]), self._sealing().unseal(row[-1])) for row in rows]  # type: ignore[arg-type]

    # WebAuthn

    def add_webauthn(
        self,
        account_id: str,
        *,
        credential_id: bytes,
        credential: bytes,
        rp_id: str,
        sign_count: int,
        aaguid: str,
        user_verifying: bool,
        label: str,
        enrolled_via: str,
        now: float,
    ) -> Authenticator | None:
        """Store a new credential; None when this credential id is already registered."""
        rows = self._db.execute(
            "INSERT INTO authenticators (id, account_id, kind, label, state, created, enrolled_via, credential_id, credential,"
            " sign_count, aaguid, user_verifying, rp_id) VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (credential_id) DO NOTHING RETURNING {_COLUMNS}",
            (
                _new_id(),
                account_id,
                WEBAUTHN,
                label,
                int(now),
                enrolled_via,
                credential_id,
                credential,
                sign_count,
                aaguid,
                int(user_verifying),
                rp_id,
            ),
        )
        return _authenticator(rows[0]) if rows else None

    def by_credential_id(self, account_id: str, credential_id: bytes) -> Authenticator | None:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM authenticators WHERE account_id = ? AND kind = ? AND credential_id = ?",
            (account_id, WEBAUTHN, credential_id),
        )
        return _authenticator(rows[0]) if rows else None

    def advance_sign_count(self, authenticator_id: str, sign_count: int, rp_id: str, now: float) -> bool:
        """Record a newer signature counter atomically; False when it did not move forward.

        Authenticators without a counter always report 0, and so does the stored value:
        that pair is not a regression. A credential stored before RP ids were kept
        takes the RP id its verified assertion was signed for.
        """
        rows = self._db.execute(
            "UPDATE authenticators SET sign_count = ?, last_used = ?, rp_id = COALESCE(rp_id, ?) WHERE id = ?"
            " AND (sign_count < ? OR (sign_count = 0 AND ? = 0)) RETURNING id",
            (sign_count, int(now), rp_id, authenticator_id, sign_count, sign_count),
        )
        return bool(rows)

    # every kind

    def get(self, authenticator_id: str) -> Authenticator | None:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM authenticators WHERE id = ?", (authenticator_id,))
        return _authenticator(rows[0]) if rows else None

    def of_account(self, account_id: str, kind: str | None = None, states: tuple[str, ...] | None = None) -> list[Authenticator]:
        """The account's authenticators, oldest first, optionally of one kind and in some states."""
        sql, args = f"SELECT {_COLUMNS} FROM authenticators WHERE account_id = ?", [account_id]
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        if states is not None:
            sql, args = sql + f" AND state IN ({','.join('?' * len(states))})", [*args, *states]
        return [_authenticator(row) for row in self._db.execute(sql + " ORDER BY created, id", tuple(args))]

    def move(self, authenticator_id: str, from_state: str, to_state: str) -> bool:
        """Change the state only if it still is ``from_state`` (confirm, reinstate, flag); True when it moved."""
        rows = self._db.execute(
            "UPDATE authenticators SET state = ? WHERE id = ? AND state = ? RETURNING id", (to_state, authenticator_id, from_state)
        )
        return bool(rows)

    def touch(self, authenticator_id: str, now: float) -> None:
        self._db.execute("UPDATE authenticators SET last_used = ? WHERE id = ?", (int(now), authenticator_id))

    def revoke(self, account_id: str, authenticator_id: str | None = None) -> list[Authenticator]:
        """Revoke one authenticator of the account, or all of them; those revoked now."""
        sql = "UPDATE authenticators SET state = 'revoked' WHERE account_id = ? AND state != 'revoked'"
        args: tuple[object, ...] = (account_id,)
        if authenticator_id is not None:
            sql, args = sql + " AND id = ?", (*args, authenticator_id)
        return [_authenticator(row) for row in self._db.execute(sql + f" RETURNING {_COLUMNS}", args)]

    def enrolled_after(self, enrolled_after: float) -> list[Authenticator]:
        """The active authenticators ``contain`` would hold back, changing nothing (its preview)."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM authenticators WHERE created > ? AND state = 'active'", (enrolled_after,))
        return [_authenticator(row) for row in rows]

    def contain(self, enrolled_after: float) -> list[Authenticator]:
        """Mark every active authenticator enrolled after a time as needing re-verification."""
        rows = self._db.execute(
            f"UPDATE authenticators SET state = 'contained' WHERE created > ? AND state = 'active' RETURNING {_COLUMNS}",
            (enrolled_after,),
        )
        return [_authenticator(row) for row in rows]


def _new_id() -> str:
    return secrets.token_hex(5)


def _authenticator(row: Row) -> Authenticator:
    aid, account_id, kind, label, state, created, last_used, via, credential, sign_count, aaguid, uv, rp_id = row
    return Authenticator(
        id=str(aid),
        account_id=str(account_id),
        kind=str(kind),
        label=str(label),
        state=str(state),
        created=int(created),  # type: ignore[call-overload]
        last_used=int(last_used) if last_used is not None else None,  # type: ignore[call-overload]
        enrolled_via=str(via),
        credential=bytes(credential) if credential is not None else None,  # type: ignore[call-overload]
        sign_count=int(sign_count) if sign_count is not None else None,  # type: ignore[call-overload]
        aaguid=str(aaguid) if aaguid is not None else None,
        user_verifying=bool(uv) if uv is not None else None,
        rp_id=str(rp_id) if rp_id is not None else None,
    )
