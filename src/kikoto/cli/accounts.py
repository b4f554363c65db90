"""`kikoto accounts`: the accounts one registry holds (safe while the server runs)."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .common import changes_registry, storage_options, with_registry

T = TypeVar("T")


@click.group()
def accounts() -> None:
    """Manage the registry's accounts: each has its own repositories, principals and keys."""


def _refused(action: Callable[[Any], Awaitable[T]]) -> Callable[[Any], Awaitable[T]]:
    """Run `action(registry.accounts)`, a refusal said in one line."""
    from ..domain.errors import KikotoError

    async def run(registry: Any) -> T:
        try:
            return await action(registry.accounts)
        except KikotoError as refused:
            raise click.ClickException(refused.message) from None

    return run


@accounts.command("create")
@storage_options
@click.argument("account_id")
@click.option("--alias", help="A name for the account (IAM's account alias: lower case, digits, hyphens).")
@changes_registry
def accounts_create(config_file: Path | None, account_id: str, alias: str | None, **options: Any) -> None:
    """Add account ACCOUNT_ID (12 digits). Give it a principal with `kikoto keys create NAME --account ACCOUNT_ID`."""
    created = with_registry(_refused(lambda accounts: accounts.create(account_id, alias)), config_file, options)
    click.echo(f"created account {created.id}" + (f" ({created.alias})" if created.alias else ""))


@accounts.command("list")
@storage_options
def accounts_list(config_file: Path | None, **options: Any) -> None:
    """List the accounts, the first (the registry's account_id) first."""
    from rich.console import Console
    from rich.table import Table

    table = Table("account", "alias", "created")
    for account in with_registry(_refused(lambda accounts: accounts.all()), config_file, options):
        when = datetime.datetime.fromtimestamp(account.created_at, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(account.id, account.alias or "", when if account.created_at else "(the first account)")
    Console().print(table)


@accounts.command("delete")
@storage_options
@click.argument("account_id")
@changes_registry
def accounts_delete(config_file: Path | None, account_id: str, **options: Any) -> None:
    """Delete account ACCOUNT_ID: refused while it holds repositories or principals."""
    with_registry(_refused(lambda accounts: accounts.delete(account_id)), config_file, options)
    click.echo(f"deleted account {account_id}")
