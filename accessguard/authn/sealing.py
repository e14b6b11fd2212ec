"""Secrets at rest (TOTP seeds) sealed with Fernet (AES-CBC + HMAC) under a settings key."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from accessguard.errors import ConfigurationError, StoreError


class Sealer:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError):
            raise ConfigurationError("encryption_key must be 32 url-safe base64-encoded bytes (Fernet.generate_key())") from None

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def unseal(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise StoreError("a sealed secret does not decrypt: wrong encryption_key or tampered record") from None
