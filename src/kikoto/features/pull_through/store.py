"""Pull-through cache rules, the secrets they name, and when cached tags were last checked."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import delete, select, update

from ...storage.meta.base import SqlStore, record
from ...storage.meta.schema import pull_through_rules, repositories, secrets, upstream_checks
from .model import Rule, SecretRow


def _rule(row: Any) -> Rule:
    return record(Rule, row)


def _secret(row: Any) -> SecretRow:
    return record(SecretRow, row, json_fields=("tags",), empty=[])


class PullThroughStore(SqlStore):
    # -- rules ------------------------------------------------------------------------------------

    async def rules(self) -> list[Rule]:
        """Every rule, by prefix (a registry holds at most 50)."""
        async with self._read() as conn:
            rows = (await conn.execute(select(pull_through_rules).order_by(pull_through_rules.c.prefix))).all()
        return [_rule(r) for r in rows]

    async def add_rule(self, rule: Rule) -> bool:
        """False when a rule with that prefix exists."""
        return await self._insert_new(pull_through_rules, dataclasses.asdict(rule))

    async def update_rule(self, prefix: str, **values) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                update(pull_through_rules).where(pull_through_rules.c.prefix == prefix).values(**values)
            )
        return result.rowcount == 1

    async def delete_rule(self, prefix: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(delete(pull_through_rules).where(pull_through_rules.c.prefix == prefix))
        return result.rowcount == 1

    async def mark_repository(self, name: str, prefix: str) -> None:
        async with self._write() as conn:
            await conn.execute(update(repositories).where(repositories.c.name == name).values(upstream=prefix))

    # -- cached tags --------------------------------------------------------------------------------

    async def checked_at(self, repo_id: int, tag: str) -> float | None:
        async with self._read() as conn:
            return await conn.scalar(
                select(upstream_checks.c.checked_at).where(
                    upstream_checks.c.repo_id == repo_id, upstream_checks.c.tag == tag
                )
            )

    async def mark_checked(self, repo_id: int, tag: str, at: float) -> None:
        async with self._write(changed=False) as conn:
            statement = self._insert(upstream_checks).values(repo_id=repo_id, tag=tag, checked_at=at)
            await conn.execute(
                statement.on_conflict_do_update(index_elements=["repo_id", "tag"], set_={"checked_at": at})
            )

    # -- secrets ------------------------------------------------------------------------------------

    async def secret(self, name_or_arn: str) -> SecretRow | None:
        """By name, full ARN, or partial ARN (an ARN without the random suffix)."""
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(secrets).where((secrets.c.name == name_or_arn) | (secrets.c.arn == name_or_arn))
                )
            ).first()
            if row is None and ":secret:" in name_or_arn:
                name = name_or_arn.split(":secret:", 1)[1]
                row = (await conn.execute(select(secrets).where(secrets.c.name == name))).first()
        return _secret(row) if row else None

    async def add_secret(self, row: SecretRow) -> bool:
        values = {**dataclasses.asdict(row), "tags": json.dumps(row.tags) if row.tags else None}
        return await self._insert_new(secrets, values, changed=False)

    async def update_secret(self, name: str, **values) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(update(secrets).where(secrets.c.name == name).values(**values))

    async def delete_secret(self, name: str) -> None:
        async with self._write(changed=False) as conn:
            await conn.execute(delete(secrets).where(secrets.c.name == name))

    async def list_secrets(self, after: str | None, limit: int) -> list[SecretRow]:
        """Secrets not scheduled for deletion, by name, after `after` (keyset paging)."""
        query = select(secrets).where(secrets.c.deletion_date.is_(None)).order_by(secrets.c.name).limit(limit)
        if after is not None:
            query = query.where(secrets.c.name > after)
        async with self._read() as conn:
            return [_secret(r) for r in (await conn.execute(query)).all()]
