"""`kikoto signing-keys`: the keys of ECR's managed signing."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import click

from ...cli.common import storage_options, with_registry
from .service import Signing


def _signing(registry) -> Signing:
    return registry.features["signing"].service


@click.group("signing-keys")
def signing_keys() -> None:
    """Keys for ECR's managed signing: each is a signing profile (safe while the server runs)."""


@signing_keys.command("create")
@storage_options
@click.argument("name")
def signing_keys_create(config_file: Path | None, name: str, **options: Any) -> None:
    """Create signing key NAME (ECDSA P-256, with a self-signed certificate chain) and print its
    signing profile ARN and the root certificate for a verifier's trust store."""
    from ...domain.errors import KikotoError

    async def create(registry):
        try:
            return await _signing(registry).create_key(name)
        except KikotoError as exc:
            raise click.ClickException(exc.message) from None

    profile, root = with_registry(create, config_file, options)
    click.echo(f"kikoto: signing profile {profile}", err=True)
    click.echo("kikoto: the root certificate (add it to your verifier's trust store):", err=True)
    click.echo(root, nl=False)


@signing_keys.command("list")
@storage_options
def signing_keys_list(config_file: Path | None, **options: Any) -> None:
    """Signing keys and their profile ARNs (never the private keys)."""

    async def rows(registry):
        return [
            (k.name, _signing(registry).profile_arn(k.name), k.created_at)
            for k in await _signing(registry).store.keys()
        ]

    for name, profile, created in with_registry(rows, config_file, options):
        when = datetime.datetime.fromtimestamp(created, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{name}\t{profile}\t{when}")
