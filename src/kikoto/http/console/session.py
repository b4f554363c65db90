"""Console sessions: a cookie holding the access key id and a CSRF token, encrypted and signed
with a key derived from the master key (Fernet: AES-CBC + HMAC, with its issue time), valid for
12 hours like a login password, and worthless once its key is revoked or the session is signed
out (both checked on every request: signing out records the session's id server-side, so a
copied cookie dies with it)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from cryptography.fernet import InvalidToken

from ...services.keys import Keys

COOKIE = "kikoto_console"
LIFETIME = 12 * 3600


@dataclass(frozen=True)
class Session:
    key_id: str
    csrf: str
    id: str = ""
    expires_at: float = 0.0


class Sessions:
    def __init__(self, keys: Keys) -> None:
        self._fernet = keys.console_sessions()

    def issue(self, key_id: str) -> tuple[str, Session]:
        session = Session(key_id, secrets.token_urlsafe(24), secrets.token_urlsafe(24), time.time() + LIFETIME)
        data = {"k": key_id, "c": session.csrf, "s": session.id}
        return self._fernet.encrypt(json.dumps(data).encode()).decode(), session

    def open(self, token: str | None) -> Session | None:
        if not token:
            return None
        try:
            raw = token.encode()
            data = json.loads(self._fernet.decrypt(raw, ttl=LIFETIME))
            issued = self._fernet.extract_timestamp(raw)
            return Session(str(data["k"]), str(data["c"]), str(data["s"]), issued + LIFETIME)
        except (InvalidToken, ValueError, KeyError, TypeError):  # a session from before ids: sign in again
            return None
