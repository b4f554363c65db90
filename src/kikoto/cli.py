"""The `kikoto` command line. Composition happens in app.py; this only reads options."""

from __future__ import annotations

import datetime
import logging
import sys
from pathlib import Path

import click

from . import __version__
from .config import load_settings


def storage_options(command):
    """The options every command that opens the registry's storage shares."""
    for option in reversed([
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML file with any of the settings below."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Blobs and the default SQLite database live here [./data]."),
        click.option("--database-url", help="sqlite:///path or postgresql://user:pass@host/db [SQLite in the data dir]."),
    ]):
        command = option(command)
    return command


@click.group()
@click.version_option(__version__)
def main() -> None:
    """Kikötő: a container registry with the OCI Distribution and AWS ECR APIs."""


@main.command()
@storage_options
@click.option("--listen", help="HOST:PORT to listen on [127.0.0.1:5000].")
@click.option("--public-host", help="HOST[:PORT] clients use to reach the registry (used in returned URLs).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workers", type=int, help="Worker processes sharing the port [one per core].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
def serve(config_file, **options) -> None:
    """Run the registry."""
    try:
        settings = load_settings(config_file, options)
    except (OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from .serve import serve as run

    run(settings)


def _run(action, config_file, options):
    """Run `action(settings, identities)` against the registry's storage, migrating it first."""
    import asyncio

    from .app import identities_for, prepare
    from .serve import announce_admin
    from .storage.meta.engine import create_engine

    try:
        settings = load_settings(config_file, options)
    except (OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    created = prepare(settings)
    if created:
        announce_admin(settings, *created)

    async def main():
        engine = create_engine(settings.database)
        try:
            return await action(settings, identities_for(settings, engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


@main.group()
def keys() -> None:
    """Manage principals and their access keys (safe while the server runs)."""


@keys.command("create")
@storage_options
@click.argument("name")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="IAM-style identity policy JSON for a new principal.")
@click.option("--role", type=click.Choice(["admin", "power-user", "read-only"]), default=None,
              help="A ready-made policy: admin (ecr:*), power-user (push and pull), read-only (pull).")
def keys_create(config_file, name, policy_file, role, **options) -> None:
    """Create a key pair for principal NAME (creating the principal if new). The secret is shown once."""
    from .domain import policy as policies

    if policy_file and role:
        raise click.UsageError("--policy and --role are alternatives")
    text = policy_file.read_text() if policy_file else {
        "admin": policies.ADMINISTRATOR, "power-user": policies.POWER_USER, "read-only": policies.READ_ONLY,
        None: policies.POWER_USER}[role]

    async def create(settings, identities):
        try:
            return await identities.create(name, text)
        except policies.PolicyError as exc:
            raise click.UsageError(f"policy: {exc}") from exc

    key_id, secret = _run(create, config_file, options)
    click.echo(f"export AWS_ACCESS_KEY_ID={key_id}\nexport AWS_SECRET_ACCESS_KEY={secret}")


@keys.command("list")
@storage_options
def keys_list(config_file, **options) -> None:
    """List access keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    async def rows(settings, identities):
        return await identities.store.keys()

    table = Table("access key id", "principal", "status", "created")
    for row in _run(rows, config_file, options):
        table.add_row(row.id, row.principal.name, row.status,
                      datetime.datetime.fromtimestamp(row.created_at, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"))
    Console().print(table)


@keys.command("revoke")
@storage_options
@click.argument("key_id")
def keys_revoke(config_file, key_id, **options) -> None:
    """Deactivate KEY_ID: its signatures and login tokens stop working."""
    async def revoke(settings, identities):
        return await identities.revoke(key_id)

    if not _run(revoke, config_file, options):
        raise click.ClickException(f"no access key {key_id}")
    click.echo(f"revoked {key_id}")


@keys.command("rotate")
@storage_options
@click.argument("key_id")
def keys_rotate(config_file, key_id, **options) -> None:
    """Create a new key pair for KEY_ID's principal and deactivate KEY_ID."""
    async def rotate(settings, identities):
        try:
            return await identities.rotate(key_id)
        except KeyError:
            raise click.ClickException(f"no access key {key_id}") from None

    new_id, secret = _run(rotate, config_file, options)
    click.echo(f"revoked {key_id}\nexport AWS_ACCESS_KEY_ID={new_id}\nexport AWS_SECRET_ACCESS_KEY={secret}")


if __name__ == "__main__":
    main()
