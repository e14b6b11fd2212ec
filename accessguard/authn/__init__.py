"""Authentication: sessions, passwords, TOTP and the authentication state they prove."""
