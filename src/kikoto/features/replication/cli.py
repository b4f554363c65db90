"""`kikoto peers`: the peer registries replication rules' destinations resolve to (safe while
the server runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ...cli.common import changes_registry, echo_rows, storage_options, with_feature


@click.group()
def peers() -> None:
    """Peer registries that replication rules' destinations resolve to."""


@peers.command("add")
@storage_options
@click.option("--region", required=True, help="The destination's region, as replication rules name it.")
@click.option("--registry-id", required=True, help="The destination's registry id (12 digits).")
@click.option("--url", required=True, help="Where the peer answers, e.g. https://peer:5000.")
@click.option("--access-key-id", required=True, help="The key the peer issued (kikoto), or a user name (oci).")
@click.option("--secret-access-key", required=True, envvar="KIKOTO_PEER_SECRET", help="Its secret (or password).")
@click.option(
    "--kind",
    type=click.Choice(["kikoto", "oci"]),
    default="kikoto",
    help="kikoto: another Kikötő (ECR API + /v2); oci: any OCI registry (Basic auth on /v2).",
)
@changes_registry
def peers_add(
    config_file: Path | None,
    region: str,
    registry_id: str,
    url: str,
    access_key_id: str,
    secret_access_key: str,
    kind: str,
    **options: Any,
) -> None:
    """Add (or replace) the peer a destination {region, registryId} resolves to."""

    peer = with_feature(
        "replication",
        lambda service: service.add_peer(region, registry_id, url, kind, access_key_id, secret_access_key),
        config_file,
        options,
    )
    click.echo(f"peer {peer.region}/{peer.registry_id} -> {peer.url} ({peer.kind})")


@peers.command("list")
@storage_options
def peers_list(config_file: Path | None, **options: Any) -> None:
    """Peers (never their secrets)."""

    peers = with_feature("replication", lambda service: service.peers_list(), config_file, options)
    rows = [(p.region, p.registry_id, p.url, p.kind, p.access_key_id) for p in peers]
    echo_rows(("REGION", "REGISTRY ID", "URL", "KIND", "ACCESS KEY ID"), rows)


@peers.command("remove")
@storage_options
@click.option("--region", required=True)
@click.option("--registry-id", required=True)
@changes_registry
def peers_remove(config_file: Path | None, region: str, registry_id: str, **options: Any) -> None:
    """Remove a peer (replication to its destination fails, and is retried, until one is added)."""

    if not with_feature("replication", lambda service: service.remove_peer(region, registry_id), config_file, options):
        raise click.ClickException(f"no peer for {region}/{registry_id}")
    click.echo(f"removed peer {region}/{registry_id}")
