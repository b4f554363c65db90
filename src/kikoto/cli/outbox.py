"""`kikoto peers` and `kikoto events`: where images are replicated to, and who hears about every
image change (both safe while the server runs; the server's workers pick changes up)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import failing, storage_options, when, with_registry


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
def peers_add(config_file, region, registry_id, url, access_key_id, secret_access_key, kind, **options) -> None:
    """Add (or replace) the peer a destination {region, registryId} resolves to."""

    async def add(registry):
        return await registry.replication.add_peer(region, registry_id, url, kind, access_key_id, secret_access_key)

    peer = with_registry(failing(add), config_file, options)
    click.echo(f"peer {peer.region}/{peer.registry_id} -> {peer.url} ({peer.kind})")


@peers.command("list")
@storage_options
def peers_list(config_file, **options) -> None:
    """Peers (never their secrets)."""

    async def rows(registry):
        return await registry.replication.peers_list()

    for peer in with_registry(rows, config_file, options):
        click.echo(f"{peer.region}\t{peer.registry_id}\t{peer.url}\t{peer.kind}\t{peer.access_key_id}")


@peers.command("remove")
@storage_options
@click.option("--region", required=True)
@click.option("--registry-id", required=True)
def peers_remove(config_file, region, registry_id, **options) -> None:
    """Remove a peer (replication to its destination fails, and is retried, until one is added)."""

    async def remove(registry):
        return await registry.replication.remove_peer(region, registry_id)

    if not with_registry(remove, config_file, options):
        raise click.ClickException(f"no peer for {region}/{registry_id}")
    click.echo(f"removed peer {region}/{registry_id}")


@click.group()
def events() -> None:
    """Webhook targets for image events (ECR's EventBridge events, or CloudEvents 1.0)."""


@events.command("add-target")
@storage_options
@click.argument("name")
@click.option("--url", required=True, help="Where to POST each event.")
@click.option("--pattern", "pattern_file", type=click.Path(exists=True, dir_okay=False), help="EventBridge pattern.")
@click.option("--secret", envvar="KIKOTO_EVENTS_SECRET", help="HMAC-SHA256 key for the X-Kikoto-Signature-256 header.")
@click.option("--cloudevents", is_flag=True, help="Send CloudEvents 1.0 in structured mode.")
def events_add_target(config_file, name, url, pattern_file, secret, cloudevents, **options) -> None:
    """Send every image event from now on (that the pattern selects) to URL."""
    pattern = Path(pattern_file).read_text() if pattern_file else None

    async def add(registry):
        return await registry.events.add_target(name, url, pattern, secret, cloudevents)

    target = with_registry(failing(add), config_file, options)
    click.echo(f"target {target.name} -> {target.url}{' (CloudEvents)' if target.cloudevents else ''}")


@events.command("list-targets")
@storage_options
def events_list_targets(config_file, **options) -> None:
    """Targets, their URLs and patterns (never their secrets)."""

    async def rows(registry):
        return await registry.events.targets()

    for t in with_registry(rows, config_file, options):
        mode = "cloudevents" if t.cloudevents else "eventbridge"
        click.echo(f"{t.name}\t{t.url}\t{mode}\t{'signed' if t.secret else 'unsigned'}\t{t.pattern or '*'}")


@events.command("remove-target")
@storage_options
@click.argument("name")
def events_remove_target(config_file, name, **options) -> None:
    """Stop sending events to NAME (its delivery records go too)."""

    async def remove(registry):
        await registry.events.remove_target(name)

    with_registry(failing(remove), config_file, options)
    click.echo(f"removed target {name}")


@events.command("deliveries")
@storage_options
@click.option("--target", help="Only this target.")
@click.option("--failed", is_flag=True, help="Only dead-lettered deliveries.")
@click.option("--limit", type=int, default=100, show_default=True)
def events_deliveries(config_file, target, failed, limit, **options) -> None:
    """Recent deliveries, newest first: id, target, event, status, attempts, last error."""

    async def rows(registry):
        return await registry.events.deliveries(target, failed, limit)

    for d in with_registry(rows, config_file, options):
        click.echo(
            f"{d.id}\t{d.target}\t{d.event_id}\t{d.status}\t{d.attempts}\t{when(d.updated_at)}\t{d.last_error or ''}"
        )


@events.command("redeliver")
@storage_options
@click.argument("delivery_id", type=int)
def events_redeliver(config_file, delivery_id, **options) -> None:
    """Send delivery DELIVERY_ID's event to its target again, now."""

    async def again(registry):
        return await registry.events.redeliver(delivery_id)

    d = with_registry(failing(again), config_file, options)
    click.echo(f"{d.id}\t{d.target}\t{d.status}\t{d.last_error or ''}")
