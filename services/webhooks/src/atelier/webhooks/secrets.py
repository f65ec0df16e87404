"""Signing secrets: made here, on the log only encrypted.

A secret is `whsec_` and 32 random bytes in base64 (the Standard Webhooks form). The
`webhook.registered` event carries it encrypted with Fernet (AES-128-CBC and
HMAC-SHA256, `cryptography`) under `WEBHOOK_SECRET_KEYS`; a `MultiFernet` decrypts with
any of the keys listed, so keys rotate by putting the new one first. A rebuild of the
webhooks table therefore restores every secret, and neither the log, nor its backups,
nor a client of `/v1/events` ever sees one.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class SecretBox:
    def __init__(self, keys: str) -> None:
        parsed = [Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()]
        if not parsed:
            raise ValueError("WEBHOOK_SECRET_KEYS names no key")
        self._fernet = MultiFernet(parsed)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret; ValueError when no key of ours sealed it."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as error:
            raise ValueError(
                "the secret was sealed with a key not in WEBHOOK_SECRET_KEYS"
            ) from error


def generate_key() -> str:
    return Fernet.generate_key().decode()
