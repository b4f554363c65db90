"""`kikoto events`: who hears about every image change (safe while the server runs; the
server's workers pick changes up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ...cli.common import changes_registry, echo_rows, storage_options, when, with_feature


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
@changes_registry
def events_add_target(
    config_file: Path | None,
    name: str,
    url: str,
    pattern_file: str | None,
    secret: str | None,
    cloudevents: bool,
    **options: Any,
) -> None:
    """Send every image event from now on (that the pattern selects) to URL."""
    pattern = Path(pattern_file).read_text() if pattern_file else None

    target = with_feature(
        "events", lambda service: service.add_target(name, url, pattern, secret, cloudevents), config_file, options
    )
    click.echo(f"target {target.name} -> {target.url}{' (CloudEvents)' if target.cloudevents else ''}")


@events.command("list-targets")
@storage_options
def events_list_targets(config_file: Path | None, **options: Any) -> None:
    """Targets, their URLs and patterns (never their secrets)."""

    targets = with_feature("events", lambda service: service.targets(), config_file, options)
    rows = [
        (
            t.name,
            t.url,
            "cloudevents" if t.cloudevents else "eventbridge",
            "signed" if t.secret else "unsigned",
            t.pattern or "*",
        )
        for t in targets
    ]
    echo_rows(("NAME", "URL", "FORMAT", "SIGNATURE", "PATTERN"), rows)


@events.command("remove-target")
@storage_options
@click.argument("name")
@changes_registry
def events_remove_target(config_file: Path | None, name: str, **options: Any) -> None:
    """Stop sending events to NAME (its delivery records go too)."""

    with_feature("events", lambda service: service.remove_target(name), config_file, options)
    click.echo(f"removed target {name}")


@events.command("deliveries")
@storage_options
@click.option("--target", help="Only this target.")
@click.option("--failed", is_flag=True, help="Only dead-lettered deliveries.")
@click.option("--limit", type=int, default=100, show_default=True)
def events_deliveries(config_file: Path | None, target: str | None, failed: bool, limit: int, **options: Any) -> None:
    """Recent deliveries, newest first: id, target, event, status, attempts, last error."""

    deliveries = with_feature("events", lambda service: service.deliveries(target, failed, limit), config_file, options)
    rows = [
        (d.id, d.target, d.event_id, d.status, d.attempts, when(d.updated_at), d.last_error or "") for d in deliveries
    ]
    echo_rows(("ID", "TARGET", "EVENT", "STATUS", "ATTEMPTS", "UPDATED", "LAST ERROR"), rows)


@events.command("redeliver")
@storage_options
@click.argument("delivery_id", type=int)
@changes_registry
def events_redeliver(config_file: Path | None, delivery_id: int, **options: Any) -> None:
    """Send delivery DELIVERY_ID's event to its target again, now."""

    d = with_feature("events", lambda service: service.redeliver(delivery_id), config_file, options)
    click.echo(f"{d.id}\t{d.target}\t{d.status}\t{d.last_error or ''}")
