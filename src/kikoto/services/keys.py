"""The master key, and the keys derived from it: one purpose each, so a leaked paging-token key
says nothing of the master key, and no service holds the raw key."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from cryptography.fernet import Fernet


@dataclass(frozen=True)
class Keys:
    master: bytes = field(repr=False)  # a Fernet key (url-safe base64 of 32 bytes)

    def derived(self, purpose: bytes) -> bytes:
        return hashlib.sha256(purpose + b"\0" + self.master).digest()

    def secrets_at_rest(self) -> Fernet:
        """Encrypts what must be read back (access keys, signing keys, peer and webhook secrets)."""
        return Fernet(self.master)

    def console_sessions(self) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(self.derived(b"kikoto console sessions")))

    @property
    def tokens(self) -> bytes:
        """Signs paging tokens (keyset positions)."""
        return self.derived(b"kikoto paging tokens")

    @property
    def urls(self) -> bytes:
        """Signs presigned layer URLs."""
        return self.derived(b"kikoto presigned urls")

    @property
    def logins(self) -> bytes:
        """Signs login passwords (GetAuthorizationToken, /v2/token)."""
        return self.derived(b"kikoto login tokens")
