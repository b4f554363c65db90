"""The Secrets Manager subset a pull-through cache needs: users store upstream credentials as
on AWS (`aws secretsmanager create-secret --name ecr-pullthroughcache/...`), and Kikötő reads
them when it pulls. Values are encrypted with the master key and never returned by any API.
"""

from __future__ import annotations

import json
import secrets as random
import string
import time
import uuid
from typing import Any

from cryptography.fernet import InvalidToken

from ...domain.errors import InvalidParameter, SecretAlreadyExists, SecretNotFound, SecretUnusable
from ...domain.paging import sign_token
from ...services.keys import Keys
from ...services.registry import RegistryIdentity, token_position
from .model import SecretRow
from .store import PullThroughStore

DEFAULT_RECOVERY_DAYS = 30
SUFFIX_ALPHABET = string.ascii_letters + string.digits


class Secrets:
    def __init__(self, store: PullThroughStore, keys: Keys, registry: RegistryIdentity) -> None:
        self.store = store
        self._fernet = keys.secrets_at_rest()
        self.account, self.region, self.token_key = registry.account, registry.region, keys.tokens

    def resource(self, secret: str | None) -> str:
        """What a Secrets Manager request is authorised on: the secret's ARN (by name when the
        request names it so, without the random suffix), or `*` for ListSecrets."""
        if not secret:
            return "*"
        if secret.startswith("arn:"):
            return secret
        return f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{secret}"

    def _arn(self, name: str) -> str:
        suffix = "".join(random.choice(SUFFIX_ALPHABET) for _ in range(6))  # as AWS: name-XXXXXX
        return f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{name}-{suffix}"

    async def create(
        self, name: str, value: str | None, description: str | None, tags: list[dict[str, Any]]
    ) -> SecretRow:
        existing = await self.store.secret(name)
        if existing is not None:
            if existing.deletion_date is not None:
                raise SecretUnusable(
                    "You can't create this secret because a secret with this name is already scheduled for deletion."
                )
            raise SecretAlreadyExists(f"The operation failed because the secret {name} already exists.")
        now = time.time()
        row = SecretRow(
            name,
            self._arn(name),
            self._fernet.encrypt(value.encode()).decode() if value is not None else None,
            str(uuid.uuid4()) if value is not None else None,
            description,
            tags,
            now,
            now,
            None,
        )
        if not await self.store.add_secret(row):
            raise SecretAlreadyExists(f"The operation failed because the secret {name} already exists.")
        return row

    async def describe(self, secret_id: str) -> SecretRow:
        row = await self.store.secret(secret_id)
        if row is None:
            raise SecretNotFound("Secrets Manager can't find the specified secret.")
        return row

    async def _usable(self, secret_id: str) -> SecretRow:
        row = await self.describe(secret_id)
        if row.deletion_date is not None:
            raise SecretUnusable("You can't perform this operation on the secret because it was marked for deletion.")
        return row

    async def put_value(self, secret_id: str, value: str) -> tuple[SecretRow, str]:
        row = await self._usable(secret_id)
        version = str(uuid.uuid4())
        await self.store.update_secret(
            row.name, value=self._fernet.encrypt(value.encode()).decode(), version_id=version, changed_at=time.time()
        )
        return row, version

    async def delete(self, secret_id: str, recovery_days: int | None, force: bool) -> tuple[SecretRow, float]:
        row = await self.describe(secret_id)
        if force and recovery_days is not None:
            raise InvalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
        if force:
            await self.store.delete_secret(row.name)
            return row, time.time()
        days = DEFAULT_RECOVERY_DAYS if recovery_days is None else recovery_days
        if not 7 <= days <= 30:
            raise InvalidParameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
        when = row.deletion_date or time.time() + days * 86400
        await self.store.update_secret(row.name, deletion_date=when)
        return row, when

    async def listing(self, max_results: int | None, next_token: str | None) -> tuple[list[SecretRow], str | None]:
        position = token_position(self.token_key, "ListSecrets", next_token, InvalidParameter("Invalid NextToken."))
        after = position[0] if position else None
        limit = max_results or 100
        rows = await self.store.list_secrets(after, limit + 1)
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], sign_token(self.token_key, "ListSecrets", [rows[limit - 1].name])

    async def credentials(self, arn: str) -> tuple[str, str]:
        """(username, accessToken) of a pull-through cache rule's secret."""
        row = await self.store.secret(arn)
        if row is None or row.deletion_date is not None:
            raise SecretNotFound(f"The specified secret '{arn}' does not exist or is scheduled for deletion.")
        try:
            value = json.loads(self._fernet.decrypt(row.value.encode()).decode()) if row.value else None
        except (InvalidToken, ValueError):
            value = None
        if not isinstance(value, dict) or not value.get("username") or not value.get("accessToken"):
            raise SecretUnusable(
                f"The secret '{arn}' must hold a JSON object with 'username' and 'accessToken' to be used by a "
                f"pull through cache rule."
            )
        return str(value["username"]), str(value["accessToken"])
