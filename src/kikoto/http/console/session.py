"""Console sessions: a cookie holding the access key id and a CSRF token, encrypted and signed
with a key derived from the master key (Fernet: AES-CBC + HMAC, with its issue time), valid for
12 hours like a login password, and worthless once its key is revoked (checked on every request)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

COOKIE = "kikoto_console"
LIFETIME = 12 * 3600


@dataclass(frozen=True)
class Session:
    key_id: str
    csrf: str


class Sessions:
    def __init__(self, master_key: bytes):
        derived = hashlib.sha256(b"kikoto console sessions\0" + master_key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def issue(self, key_id: str) -> tuple[str, Session]:
        session = Session(key_id, secrets.token_urlsafe(24))
        token = self._fernet.encrypt(json.dumps({"k": key_id, "c": session.csrf}).encode()).decode()
        return token, session

    def open(self, token: str | None) -> Session | None:
        if not token:
            return None
        try:
            data = json.loads(self._fernet.decrypt(token.encode(), ttl=LIFETIME))
            return Session(str(data["k"]), str(data["c"]))
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None
