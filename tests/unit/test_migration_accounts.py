"""Migration 0022 (accounts): a single-account registry upgrades in place. Its principals and
repositories, written by the schema before it, are the first account's, unchanged: the same key
signs in as the same ARN, the same names list and resolve, and no account needs creating."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet

from kikoto.app import compose
from kikoto.config import Settings
from kikoto.startup import prepare

from .test_migration_typed_changes import _alembic


def test_a_single_account_registry_upgrades_with_its_data(tmp_path):
    master = Fernet.generate_key()
    settings = Settings(data_dir=tmp_path, master_key=master.decode(), account_id="123456789012")
    url = settings.database
    command.upgrade(_alembic(url), "0021")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO principals (id, name, policy, created_at) VALUES (1, 'ci', :p, 0)"),
            {"p": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}'},
        )
        conn.execute(
            sa.text(
                "INSERT INTO access_keys (id, principal_id, secret, status, created_at) "
                "VALUES ('AKIAOLDKEY0000000001', 1, :s, 'Active', 0)"
            ),
            {"s": Fernet(master).encrypt(b"old-secret").decode()},
        )
        for number, name in enumerate(("app", "team/web", "zz"), 1):
            conn.execute(
                sa.text("INSERT INTO repositories (id, name, created_at) VALUES (:i, :n, 0)"), {"i": number, "n": name}
            )
    engine.dispose()

    assert prepare(settings) is None  # migrated; the registry has principals: no new admin

    async def check():
        registry = compose(settings)
        try:
            principal, secret = await registry.identities.lookup("AKIAOLDKEY0000000001")
            assert secret == "old-secret" and principal.arn == "arn:aws:iam::123456789012:user/ci"
            assert principal.account == ""  # the first account's
            assert [a.id for a in await registry.accounts.all()] == ["123456789012"]

            async def visible(name):
                return await registry.access.allowed(principal, "ecr:DescribeRepositories", name)

            page, _ = await registry.admin.listing(visible, None, None)
            assert [r.name for r in page] == ["app", "team/web", "zz"]
            assert registry.registry.arn("team/web") == "arn:aws:ecr:us-east-1:123456789012:repository/team/web"
            assert await registry.access.allowed(principal, "ecr:PutImage", "app")
        finally:
            await registry.close()

    asyncio.run(check())
