"""`kikoto keys`: principals and their access keys (safe while the server runs)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import click

from .common import changes_registry, storage_options, with_registry


@click.group()
def keys() -> None:
    """Manage principals and their access keys (safe while the server runs)."""


@keys.command("create")
@storage_options
@click.argument("name")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="IAM-style identity policy JSON for a new principal.",
)
@click.option(
    "--role",
    type=click.Choice(["admin", "power-user", "read-only"]),
    default=None,
    help="A ready-made policy: admin (ecr:*), power-user (push and pull, the default), read-only (pull).",
)
@click.option("--replace-policy", is_flag=True, help="NAME exists: give it this policy instead of refusing.")
@click.option("--account", help="The account a new principal belongs to [the first account].")
@changes_registry
def keys_create(
    config_file: Path | None,
    name: str,
    policy_file: Path | None,
    role: str | None,
    replace_policy: bool,
    account: str | None,
    **options: Any,
) -> None:
    """Create a key pair for principal NAME (creating the principal if new). The secret is shown once.
    An existing principal keeps its policy; a different --role/--policy is refused without --replace-policy."""
    from ..domain import policy as policies
    from ..domain.errors import EntityNotFound, InvalidParameter
    from ..services.identity import PolicyConflict

    if policy_file and role:
        raise click.UsageError("--policy and --role are alternatives")
    text = (
        policy_file.read_text()
        if policy_file
        else {
            "admin": policies.ADMINISTRATOR,
            "power-user": policies.POWER_USER,
            "read-only": policies.READ_ONLY,
            None: None,
        }[role]
    )

    async def create(registry):
        identities = registry.ecr.identities
        before = await identities.store.principal(name)
        try:
            if account is not None:
                await registry.accounts.get(account)
            pair = await identities.create(name, text, replace_policy=replace_policy, account=account)
        except policies.PolicyError as exc:
            raise click.UsageError(f"policy: {exc}") from exc
        except (PolicyConflict, InvalidParameter, EntityNotFound) as exc:
            raise click.ClickException(str(exc)) from None
        after = await identities.store.principal(name)
        outcome = (
            "created principal"
            if before is None
            else "replaced the policy of principal"
            if before.policy != after.policy
            else "kept the policy of principal"
        )
        return pair, f"{outcome} {name!r}"

    (key_id, secret), outcome = with_registry(create, config_file, options)
    click.echo(f"kikoto: {outcome}", err=True)
    click.echo(f"export AWS_ACCESS_KEY_ID={key_id}\nexport AWS_SECRET_ACCESS_KEY={secret}")


@keys.command("list")
@storage_options
def keys_list(config_file: Path | None, **options: Any) -> None:
    """List access keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    async def rows(registry):
        return await registry.ecr.identities.store.keys(), registry.accounts.first

    table = Table("access key id", "principal", "account", "status", "created")
    keys, first = with_registry(rows, config_file, options)
    for row in keys:
        table.add_row(
            row.id,
            row.principal.name,
            row.principal.account or first,
            row.status,
            datetime.datetime.fromtimestamp(row.created_at, datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@keys.command("revoke")
@storage_options
@click.argument("key_id")
@changes_registry
def keys_revoke(config_file: Path | None, key_id: str, **options: Any) -> None:
    """Deactivate KEY_ID: its signatures and login tokens stop working."""

    async def revoke(registry):
        return await registry.ecr.identities.revoke(key_id)

    if not with_registry(revoke, config_file, options):
        raise click.ClickException(f"no access key {key_id}")
    click.echo(f"revoked {key_id}")


@keys.command("rotate")
@storage_options
@click.argument("key_id")
@changes_registry
def keys_rotate(config_file: Path | None, key_id: str, **options: Any) -> None:
    """Create a new key pair for KEY_ID's principal and deactivate KEY_ID."""

    async def rotate(registry):
        from ..domain.errors import AccessKeyNotFound

        try:
            return await registry.ecr.identities.rotate(key_id)
        except AccessKeyNotFound as missing:
            raise click.ClickException(missing.message) from None

    new_id, secret = with_registry(rotate, config_file, options)
    click.echo(f"revoked {key_id}\nexport AWS_ACCESS_KEY_ID={new_id}\nexport AWS_SECRET_ACCESS_KEY={secret}")
