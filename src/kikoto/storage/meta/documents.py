"""Registry-wide documents (the registry policy, replication, scanning and signing
configurations, each stored whole by name) and repository creation templates."""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy import delete, select, update

from ...domain.templates import CreationTemplate
from .base import SqlStore
from .schema import creation_templates, registry_documents


class SqlDocumentStore(SqlStore):
    async def document(self, name: str) -> str | None:
        async with self._read() as conn:
            return await conn.scalar(select(registry_documents.c.body).where(registry_documents.c.name == name))

    async def put_document(self, name: str, body: str | None) -> None:
        async with self._write() as conn:
            await conn.execute(delete(registry_documents).where(registry_documents.c.name == name))
            if body is not None:
                await conn.execute(registry_documents.insert().values(name=name, body=body, updated_at=self._clock()))

    async def templates(self) -> list[CreationTemplate]:
        async with self._read() as conn:
            rows = (await conn.execute(select(creation_templates).order_by(creation_templates.c.prefix))).all()
        return [_template(r.prefix, r.body, r.created_at, r.updated_at) for r in rows]

    async def put_template(self, template: CreationTemplate, create: bool) -> CreationTemplate | None:
        """Create (None if it exists) or update (None if it does not) a template."""
        now, body = self._clock(), _template_body(template)
        async with self._write() as conn:
            existing = (
                await conn.execute(select(creation_templates).where(creation_templates.c.prefix == template.prefix))
            ).first()
            if (existing is None) != create:
                return None
            if create:
                await conn.execute(
                    creation_templates.insert().values(
                        prefix=template.prefix, body=body, created_at=now, updated_at=now
                    )
                )
                created = now
            else:
                await conn.execute(
                    update(creation_templates)
                    .where(creation_templates.c.prefix == template.prefix)
                    .values(body=body, updated_at=now)
                )
                created = existing.created_at
        return dataclasses.replace(template, created_at=created, updated_at=now)

    async def delete_template(self, prefix: str) -> CreationTemplate | None:
        async with self._write() as conn:
            row = (await conn.execute(select(creation_templates).where(creation_templates.c.prefix == prefix))).first()
            if row is None:
                return None
            await conn.execute(delete(creation_templates).where(creation_templates.c.prefix == prefix))
        return _template(row.prefix, row.body, row.created_at, row.updated_at)


def _template_body(template: CreationTemplate) -> str:
    """A template's settings by field name (the prefix and the times are columns)."""
    stored = dataclasses.asdict(template)
    for column in ("prefix", "created_at", "updated_at"):
        del stored[column]
    return json.dumps({k: v for k, v in stored.items() if v not in (None, [], ())})


def _template(prefix: str, body: str, created_at: float, updated_at: float) -> CreationTemplate:
    stored = json.loads(body)
    stored["applied_for"] = tuple(stored.get("applied_for", ()))
    return CreationTemplate(prefix=prefix, created_at=created_at, updated_at=updated_at, **stored)
