"""`kikoto signing-keys`: the keys of ECR's managed signing."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import click

from ...cli.common import changes_registry, echo_rows, storage_options, with_feature
from .service import Signing


@click.group("signing-keys")
def signing_keys() -> None:
    """Keys for ECR's managed signing: each is a signing profile (safe while the server runs)."""


@signing_keys.command("create")
@storage_options
@click.argument("name")
@changes_registry
def signing_keys_create(config_file: Path | None, name: str, **options: Any) -> None:
    """Create signing key NAME (ECDSA P-256, with a self-signed certificate chain) and print its
    signing profile ARN and the root certificate for a verifier's trust store."""
    profile, root = with_feature("signing", lambda signing: signing.create_key(name), config_file, options)
    click.echo(f"kikoto: signing profile {profile}", err=True)
    click.echo("kikoto: the root certificate (add it to your verifier's trust store):", err=True)
    click.echo(root, nl=False)


@signing_keys.command("list")
@storage_options
def signing_keys_list(config_file: Path | None, **options: Any) -> None:
    """Signing keys and their profile ARNs (never the private keys)."""

    async def rows(signing: Signing) -> list[tuple[str, str, float]]:
        return [(k.name, signing.profile_arn(k.name), k.created_at) for k in await signing.store.keys()]

    listed = [
        (name, profile, datetime.datetime.fromtimestamp(created, datetime.UTC).strftime("%Y-%m-%d %H:%M"))
        for name, profile, created in with_feature("signing", rows, config_file, options)
    ]
    echo_rows(("NAME", "PROFILE ARN", "CREATED"), listed)
