"""Principals and their access keys."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .base import SqlStore
from .ports import (
    AccessKeyRow,
    AlreadyExists,
    GroupRow,
    ManagedRow,
    PrincipalRow,
    ProviderRow,
    RoleRow,
    SessionKeyRow,
)
from .schema import (
    access_keys,
    group_members,
    group_policies,
    iam_groups,
    managed_policies,
    oidc_providers,
    policy_attachments,
    policy_versions,
    principal_policies,
    principal_tags,
    principals,
    revoked_sessions,
    role_policies,
    roles,
    session_keys,
)


class SqlIdentityStore(SqlStore):
    async def count_principals(self) -> int:
        async with self._read() as conn:
            return await conn.scalar(select(func.count()).select_from(principals))

    async def principal(self, name: str) -> PrincipalRow | None:
        async with self._read() as conn:
            row = (await conn.execute(select(principals).where(principals.c.name == name))).first()
        return PrincipalRow(row.id, row.name, row.policy, row.created_at, row.account) if row else None

    async def create_principal(self, name: str, policy: str, account: str | None = None) -> PrincipalRow:
        try:
            async with self._write() as conn:
                result = await conn.execute(
                    principals.insert().values(name=name, policy=policy, created_at=self._clock(), account=account)
                )
        except IntegrityError:
            raise AlreadyExists(name) from None
        return PrincipalRow(result.inserted_primary_key[0], name, policy, self._clock(), account)

    async def set_policy(self, principal_id: int, policy: str) -> None:
        async with self._write() as conn:
            await conn.execute(update(principals).where(principals.c.id == principal_id).values(policy=policy))

    async def add_key(self, principal_id: int, key_id: str, encrypted_secret: str) -> None:
        try:
            async with self._write() as conn:
                await conn.execute(
                    access_keys.insert().values(
                        id=key_id,
                        principal_id=principal_id,
                        secret=encrypted_secret,
                        status="Active",
                        created_at=self._clock(),
                    )
                )
        except IntegrityError:
            raise AlreadyExists(key_id) from None

    async def key(self, key_id: str) -> AccessKeyRow | None:
        owner = access_keys.c.principal_id
        extras = or_(
            select(principal_policies.c.name).where(principal_policies.c.principal_id == owner).exists(),
            select(principal_tags.c.key).where(principal_tags.c.principal_id == owner).exists(),
            select(group_members.c.group_id).where(group_members.c.principal_id == owner).exists(),
            select(policy_attachments.c.policy_arn)
            .where(policy_attachments.c.kind == "user", policy_attachments.c.holder_id == owner)
            .exists(),
        )
        query = (
            select(access_keys, principals.c.name, principals.c.policy, principals.c.account, extras.label("extras"))
            .join(principals, principals.c.id == access_keys.c.principal_id)
            .where(access_keys.c.id == key_id)
        )
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        principal = PrincipalRow(row.principal_id, row.name, row.policy, account=row.account)
        return AccessKeyRow(row.id, principal, row.secret, row.status, row.created_at, bool(row.extras))

    async def keys(self) -> list[AccessKeyRow]:
        query = (
            select(access_keys, principals.c.name, principals.c.policy, principals.c.account)
            .join(principals, principals.c.id == access_keys.c.principal_id)
            .order_by(principals.c.name, access_keys.c.created_at)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AccessKeyRow(
                r.id,
                PrincipalRow(r.principal_id, r.name, r.policy, account=r.account),
                r.secret,
                r.status,
                r.created_at,
            )
            for r in rows
        ]

    async def set_key_status(self, key_id: str, status: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(update(access_keys).where(access_keys.c.id == key_id).values(status=status))
        return result.rowcount == 1

    async def principals_page(self, after: str, limit: int) -> list[PrincipalRow]:
        query = select(principals).where(principals.c.name > after).order_by(principals.c.name).limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [PrincipalRow(r.id, r.name, r.policy, r.created_at, r.account) for r in rows]

    async def delete_principal(self, principal_id: int) -> None:
        async with self._write() as conn:  # children first: SQLite enforces no foreign key by default
            for table in (access_keys, principal_policies, principal_tags, group_members):
                await conn.execute(delete(table).where(table.c.principal_id == principal_id))
            mine = (policy_attachments.c.kind == "user") & (policy_attachments.c.holder_id == principal_id)
            await conn.execute(delete(policy_attachments).where(mine))
            await conn.execute(delete(principals).where(principals.c.id == principal_id))

    async def principal_keys(self, principal_id: int) -> list[AccessKeyRow]:
        query = (
            select(
                access_keys,
                principals.c.name,
                principals.c.policy,
                principals.c.account,
                principals.c.created_at.label("born"),
            )
            .join(principals, principals.c.id == access_keys.c.principal_id)
            .where(access_keys.c.principal_id == principal_id)
            .order_by(access_keys.c.created_at, access_keys.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AccessKeyRow(
                r.id,
                PrincipalRow(r.principal_id, r.name, r.policy, r.born, r.account),
                r.secret,
                r.status,
                r.created_at,
            )
            for r in rows
        ]

    async def delete_key(self, key_id: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(delete(access_keys).where(access_keys.c.id == key_id))
        return bool(result.rowcount == 1)

    async def put_document(self, principal_id: int, name: str, document: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._insert(principal_policies)
                .values(principal_id=principal_id, name=name, document=document)
                .on_conflict_do_update(index_elements=["principal_id", "name"], set_={"document": document})
            )

    async def documents(self, principal_id: int) -> dict[str, str]:
        query = (
            select(principal_policies.c.name, principal_policies.c.document)
            .where(principal_policies.c.principal_id == principal_id)
            .order_by(principal_policies.c.name)
        )
        async with self._read() as conn:
            return {r.name: r.document for r in await conn.execute(query)}

    async def delete_document(self, principal_id: int, name: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                delete(principal_policies).where(
                    principal_policies.c.principal_id == principal_id, principal_policies.c.name == name
                )
            )
        return bool(result.rowcount == 1)

    async def set_tags(self, principal_id: int, tags: dict[str, str]) -> None:
        async with self._write() as conn:
            for key, value in tags.items():
                await conn.execute(
                    self._insert(principal_tags)
                    .values(principal_id=principal_id, key=key, value=value)
                    .on_conflict_do_update(index_elements=["principal_id", "key"], set_={"value": value})
                )

    async def remove_tags(self, principal_id: int, keys: list[str]) -> None:
        async with self._write() as conn:
            await conn.execute(
                delete(principal_tags).where(
                    principal_tags.c.principal_id == principal_id, principal_tags.c.key.in_(keys)
                )
            )

    async def principal_tags(self, principal_id: int) -> dict[str, str]:
        query = (
            select(principal_tags.c.key, principal_tags.c.value)
            .where(principal_tags.c.principal_id == principal_id)
            .order_by(principal_tags.c.key)
        )
        async with self._read() as conn:
            return {r.key: r.value for r in await conn.execute(query)}

    # -- roles, OpenID Connect providers, session keys -------------------------------------------

    async def create_role(self, name: str, trust_policy: str, max_session: int) -> RoleRow:
        now = self._clock()
        try:
            async with self._write() as conn:
                result = await conn.execute(
                    roles.insert().values(name=name, trust_policy=trust_policy, max_session=max_session, created_at=now)
                )
        except IntegrityError:
            raise AlreadyExists(name) from None
        return RoleRow(result.inserted_primary_key[0], name, trust_policy, max_session, now)

    async def role(self, name: str) -> RoleRow | None:
        async with self._read() as conn:
            row = (await conn.execute(select(roles).where(roles.c.name == name))).first()
        if row is None:
            return None
        return RoleRow(row.id, row.name, row.trust_policy, row.max_session, row.created_at, json.loads(row.tags))

    async def set_trust(self, role_id: int, trust_policy: str) -> None:
        async with self._write() as conn:
            await conn.execute(update(roles).where(roles.c.id == role_id).values(trust_policy=trust_policy))

    async def set_role_tags(self, role_id: int, tags: dict[str, str]) -> None:
        async with self._write() as conn:
            await conn.execute(update(roles).where(roles.c.id == role_id).values(tags=json.dumps(tags)))

    async def delete_role(self, role_id: int) -> None:
        async with self._write() as conn:
            for table in (session_keys, role_policies):
                await conn.execute(delete(table).where(table.c.role_id == role_id))
            mine = (policy_attachments.c.kind == "role") & (policy_attachments.c.holder_id == role_id)
            await conn.execute(delete(policy_attachments).where(mine))
            await conn.execute(delete(roles).where(roles.c.id == role_id))

    async def put_role_document(self, role_id: int, name: str, document: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._insert(role_policies)
                .values(role_id=role_id, name=name, document=document)
                .on_conflict_do_update(index_elements=["role_id", "name"], set_={"document": document})
            )

    async def role_documents(self, role_id: int) -> dict[str, str]:
        query = select(role_policies).where(role_policies.c.role_id == role_id).order_by(role_policies.c.name)
        async with self._read() as conn:
            return {r.name: r.document for r in await conn.execute(query)}

    async def delete_role_document(self, role_id: int, name: str) -> bool:
        async with self._write() as conn:
            mine = role_policies.c.role_id == role_id
            result = await conn.execute(delete(role_policies).where(mine, role_policies.c.name == name))
        return bool(result.rowcount == 1)

    async def add_provider(self, url: str, issuer: str, client_ids: list[str]) -> ProviderRow:
        now = self._clock()
        try:
            async with self._write() as conn:
                await conn.execute(
                    oidc_providers.insert().values(
                        url=url, issuer=issuer, client_ids=json.dumps(client_ids), created_at=now
                    )
                )
        except IntegrityError:
            raise AlreadyExists(url) from None
        return ProviderRow(url, issuer, tuple(client_ids), now)

    async def provider(self, url: str) -> ProviderRow | None:
        async with self._read() as conn:
            row = (await conn.execute(select(oidc_providers).where(oidc_providers.c.url == url))).first()
        return ProviderRow(row.url, row.issuer, tuple(json.loads(row.client_ids)), row.created_at) if row else None

    async def providers(self) -> list[ProviderRow]:
        async with self._read() as conn:
            rows = (await conn.execute(select(oidc_providers).order_by(oidc_providers.c.url))).all()
        return [ProviderRow(r.url, r.issuer, tuple(json.loads(r.client_ids)), r.created_at) for r in rows]

    async def delete_provider(self, url: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(delete(oidc_providers).where(oidc_providers.c.url == url))
        return bool(result.rowcount == 1)

    async def add_session_key(
        self,
        key_id: str,
        role_id: int,
        session_name: str,
        secret: str,
        token_hash: str,
        expires_at: float,
        tags: dict[str, str] | None = None,
    ) -> None:
        async with self._write() as conn:
            await conn.execute(delete(session_keys).where(session_keys.c.expires_at < self._clock()))
            await conn.execute(
                session_keys.insert().values(
                    id=key_id,
                    role_id=role_id,
                    session_name=session_name,
                    secret=secret,
                    token_hash=token_hash,
                    expires_at=expires_at,
                    tags=json.dumps(tags or {}),
                )
            )

    async def session_key(self, key_id: str) -> SessionKeyRow | None:
        query = (
            select(
                session_keys,
                roles.c.name,
                roles.c.trust_policy,
                roles.c.max_session,
                roles.c.created_at,
                roles.c.tags.label("role_tags"),
            )
            .join(roles, roles.c.id == session_keys.c.role_id)
            .where(session_keys.c.id == key_id)
        )
        async with self._read() as conn:
            r = (await conn.execute(query)).first()
        if r is None:
            return None
        role = RoleRow(r.role_id, r.name, r.trust_policy, r.max_session, r.created_at, json.loads(r.role_tags))
        return SessionKeyRow(r.id, role, r.session_name, r.secret, r.token_hash, r.expires_at, json.loads(r.tags))

    # -- groups, managed policies, attachments ------------------------------------------------

    async def create_group(self, name: str) -> GroupRow:
        now = self._clock()
        try:
            async with self._write() as conn:
                result = await conn.execute(iam_groups.insert().values(name=name, created_at=now))
        except IntegrityError:
            raise AlreadyExists(name) from None
        return GroupRow(result.inserted_primary_key[0], name, now)

    async def group(self, name: str) -> GroupRow | None:
        async with self._read() as conn:
            row = (await conn.execute(select(iam_groups).where(iam_groups.c.name == name))).first()
        return GroupRow(row.id, row.name, row.created_at) if row else None

    async def delete_group(self, group_id: int) -> None:
        async with self._write() as conn:
            for table in (group_members, group_policies):
                await conn.execute(delete(table).where(table.c.group_id == group_id))
            mine = (policy_attachments.c.kind == "group") & (policy_attachments.c.holder_id == group_id)
            await conn.execute(delete(policy_attachments).where(mine))
            await conn.execute(delete(iam_groups).where(iam_groups.c.id == group_id))

    async def add_member(self, group_id: int, principal_id: int) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._insert(group_members)
                .values(group_id=group_id, principal_id=principal_id)
                .on_conflict_do_nothing(index_elements=["group_id", "principal_id"])
            )

    async def remove_member(self, group_id: int, principal_id: int) -> bool:
        async with self._write() as conn:
            mine = (group_members.c.group_id == group_id) & (group_members.c.principal_id == principal_id)
            result = await conn.execute(delete(group_members).where(mine))
        return bool(result.rowcount == 1)

    async def groups_of(self, principal_id: int) -> list[GroupRow]:
        query = (
            select(iam_groups)
            .join(group_members, group_members.c.group_id == iam_groups.c.id)
            .where(group_members.c.principal_id == principal_id)
            .order_by(iam_groups.c.name)
        )
        async with self._read() as conn:
            return [GroupRow(r.id, r.name, r.created_at) for r in await conn.execute(query)]

    async def members(self, group_id: int) -> list[PrincipalRow]:
        query = (
            select(principals)
            .join(group_members, group_members.c.principal_id == principals.c.id)
            .where(group_members.c.group_id == group_id)
            .order_by(principals.c.name)
        )
        async with self._read() as conn:
            return [PrincipalRow(r.id, r.name, r.policy, r.created_at, r.account) for r in await conn.execute(query)]

    async def put_group_document(self, group_id: int, name: str, document: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._insert(group_policies)
                .values(group_id=group_id, name=name, document=document)
                .on_conflict_do_update(index_elements=["group_id", "name"], set_={"document": document})
            )

    async def group_documents(self, group_id: int) -> dict[str, str]:
        query = select(group_policies).where(group_policies.c.group_id == group_id).order_by(group_policies.c.name)
        async with self._read() as conn:
            return {r.name: r.document for r in await conn.execute(query)}

    async def delete_group_document(self, group_id: int, name: str) -> bool:
        async with self._write() as conn:
            mine = (group_policies.c.group_id == group_id) & (group_policies.c.name == name)
            result = await conn.execute(delete(group_policies).where(mine))
        return bool(result.rowcount == 1)

    async def create_managed(self, name: str, document: str) -> ManagedRow:
        now = self._clock()
        try:
            async with self._write() as conn:
                result = await conn.execute(
                    managed_policies.insert().values(name=name, default_version=1, created_at=now)
                )
                policy_id = result.inserted_primary_key[0]
                await conn.execute(
                    policy_versions.insert().values(policy_id=policy_id, version=1, document=document, created_at=now)
                )
        except IntegrityError:
            raise AlreadyExists(name) from None
        return ManagedRow(policy_id, name, 1, now)

    async def managed(self, name: str) -> ManagedRow | None:
        async with self._read() as conn:
            row = (await conn.execute(select(managed_policies).where(managed_policies.c.name == name))).first()
        return ManagedRow(row.id, row.name, row.default_version, row.created_at) if row else None

    async def managed_page(self, after: str, limit: int) -> list[ManagedRow]:
        query = (
            select(managed_policies)
            .where(managed_policies.c.name > after)
            .order_by(managed_policies.c.name)
            .limit(limit)
        )
        async with self._read() as conn:
            return [ManagedRow(r.id, r.name, r.default_version, r.created_at) for r in await conn.execute(query)]

    async def add_version(self, policy_id: int, document: str, default: bool) -> int:
        now = self._clock()
        async with self._write() as conn:
            latest = await conn.scalar(
                select(func.max(policy_versions.c.version)).where(policy_versions.c.policy_id == policy_id)
            )
            version = int(latest or 0) + 1
            await conn.execute(
                policy_versions.insert().values(policy_id=policy_id, version=version, document=document, created_at=now)
            )
            if default:
                await conn.execute(
                    update(managed_policies).where(managed_policies.c.id == policy_id).values(default_version=version)
                )
        return version

    async def versions(self, policy_id: int) -> list[tuple[int, str, float]]:
        query = (
            select(policy_versions).where(policy_versions.c.policy_id == policy_id).order_by(policy_versions.c.version)
        )
        async with self._read() as conn:
            return [(r.version, r.document, r.created_at) for r in await conn.execute(query)]

    async def delete_managed(self, policy_id: int) -> None:
        async with self._write() as conn:
            await conn.execute(delete(policy_versions).where(policy_versions.c.policy_id == policy_id))
            await conn.execute(delete(managed_policies).where(managed_policies.c.id == policy_id))

    async def attach(self, kind: str, holder_id: int, policy_arn: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                self._insert(policy_attachments)
                .values(kind=kind, holder_id=holder_id, policy_arn=policy_arn)
                .on_conflict_do_nothing(index_elements=["kind", "holder_id", "policy_arn"])
            )

    async def detach(self, kind: str, holder_id: int, policy_arn: str) -> bool:
        c = policy_attachments.c
        async with self._write() as conn:
            result = await conn.execute(
                delete(policy_attachments).where(c.kind == kind, c.holder_id == holder_id, c.policy_arn == policy_arn)
            )
        return bool(result.rowcount == 1)

    async def attached(self, kind: str, holder_id: int) -> list[str]:
        c = policy_attachments.c
        query = select(c.policy_arn).where(c.kind == kind, c.holder_id == holder_id).order_by(c.policy_arn)
        async with self._read() as conn:
            return list((await conn.scalars(query)).all())

    async def attachment_count(self, policy_arn: str) -> int:
        query = (
            select(func.count()).select_from(policy_attachments).where(policy_attachments.c.policy_arn == policy_arn)
        )
        async with self._read() as conn:
            return int(await conn.scalar(query) or 0)

    async def default_documents(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        query = (
            select(managed_policies.c.name, policy_versions.c.document)
            .join(
                policy_versions,
                (policy_versions.c.policy_id == managed_policies.c.id)
                & (policy_versions.c.version == managed_policies.c.default_version),
            )
            .where(managed_policies.c.name.in_(names))
        )
        async with self._read() as conn:
            return {r.name: r.document for r in await conn.execute(query)}

    async def revoke_session(self, session_id: str, expires_at: float) -> None:
        """Remember a signed-out console session until it expires (and forget expired ones)."""
        async with self._write(changed=False) as conn:
            await conn.execute(delete(revoked_sessions).where(revoked_sessions.c.expires_at < self._clock()))
            await conn.execute(
                self._insert(revoked_sessions)
                .values(id=session_id, expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=["id"])
            )

    async def session_revoked(self, session_id: str) -> bool:
        async with self._read() as conn:
            found = await conn.scalar(select(revoked_sessions.c.id).where(revoked_sessions.c.id == session_id))
        return found is not None
