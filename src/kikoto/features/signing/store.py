"""Signing keys and image signing statuses."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ...storage.meta.base import SqlStore, record
from ...storage.meta.schema import image_signing, signing_keys


@dataclass(frozen=True)
class SigningKeyRow:
    name: str
    private_key: str  # encrypted
    certificate_chain: str
    created_at: float


@dataclass(frozen=True)
class SigningStatus:
    profile_arn: str
    status: str
    failure_code: str | None
    failure_reason: str | None
    updated_at: float


class SigningStore(SqlStore):
    async def add_key(self, name: str, private_key: str, chain: str) -> bool:
        async with self._write(changed=False) as conn:
            if await conn.scalar(select(signing_keys.c.name).where(signing_keys.c.name == name)) is not None:
                return False
            await conn.execute(
                signing_keys.insert().values(
                    name=name, private_key=private_key, certificate_chain=chain, created_at=self._clock()
                )
            )
        return True

    async def key(self, name: str) -> SigningKeyRow | None:
        async with self._read() as conn:
            row = (await conn.execute(select(signing_keys).where(signing_keys.c.name == name))).first()
        return SigningKeyRow(row.name, row.private_key, row.certificate_chain, row.created_at) if row else None

    async def keys(self) -> list[SigningKeyRow]:
        async with self._read() as conn:
            rows = (await conn.execute(select(signing_keys).order_by(signing_keys.c.name))).all()
        return [record(SigningKeyRow, r) for r in rows]

    async def set_status(
        self,
        repo_id: int,
        digest: str,
        profile_arn: str,
        status: str,
        failure_code: str | None = None,
        failure_reason: str | None = None,
    ) -> None:
        key = (
            (image_signing.c.repo_id == repo_id)
            & (image_signing.c.digest == digest)
            & (image_signing.c.profile_arn == profile_arn)
        )
        values = {
            "status": status,
            "failure_code": failure_code,
            "failure_reason": failure_reason,
            "updated_at": self._clock(),
        }
        async with self._write(changed=False) as conn:
            updated = await conn.execute(image_signing.update().where(key).values(**values))
            if updated.rowcount == 0:
                await conn.execute(
                    image_signing.insert().values(repo_id=repo_id, digest=digest, profile_arn=profile_arn, **values)
                )

    async def statuses(self, repo_id: int, digest: str) -> list[SigningStatus]:
        query = (
            select(image_signing)
            .where(image_signing.c.repo_id == repo_id, image_signing.c.digest == digest)
            .order_by(image_signing.c.profile_arn)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [record(SigningStatus, r) for r in rows]

    async def stale(self, before: float, limit: int = 100) -> list[tuple[int, str, str]]:
        """(repo_id, digest, profile) of signings still IN_PROGRESS since before `before`
        (the process doing them died): the scheduler tries them again."""
        query = (
            select(image_signing.c.repo_id, image_signing.c.digest, image_signing.c.profile_arn)
            .where(image_signing.c.status == "IN_PROGRESS", image_signing.c.updated_at < before)
            .limit(limit)
        )
        async with self._read() as conn:
            return [tuple(r) for r in await conn.execute(query)]
