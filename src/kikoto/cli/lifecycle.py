"""`kikoto lifecycle`: run, preview and check lifecycle policies."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import click

from .common import human_size, storage_options, with_registry


@click.group()
def lifecycle() -> None:
    """Run, preview and check lifecycle policies (safe while the server runs)."""


@lifecycle.command("run")
@storage_options
@click.option("--repository", help="Only this repository (default: every repository with a policy).")
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--as-of", "as_of", type=click.DateTime(), help="Evaluate as if it were this date (implies --dry-run).")
def lifecyclerun(
    config_file: Path | None, repository: str | None, dry_run: bool, as_of: datetime.datetime | None, **options: Any
) -> None:
    """Expire and archive images by each repository's lifecycle policy."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ..domain.errors import KikotoError

    now = as_of.replace(tzinfo=datetime.UTC).timestamp() if as_of else None
    dry_run = dry_run or as_of is not None

    async def run(registry):
        plans = []
        names = await registry.lifecycle.repositories_with_policies(repository)
        with Progress(transient=True) as progress:
            task = progress.add_task("evaluating", total=len(names))
            for name in names:
                plan = await registry.lifecycle.plan(name, now=now)
                if not dry_run:
                    await registry.lifecycle.apply(plan, actor="cli")
                plans.append(plan)
                progress.advance(task)
        return plans

    try:
        plans = with_registry(run, config_file, options)
    except KikotoError as exc:
        raise click.ClickException(exc.message) from exc
    table = Table(
        "repository",
        "images",
        "expire" if dry_run else "expired",
        "archive" if dry_run else "archived",
        "tags",
        "bytes to free",
        title="lifecycle " + ("preview" if dry_run else "run"),
    )
    for plan in plans:
        acted = plan.acting("expire") + plan.acting("transition")
        tags = sum(len(plan.images[d.digest].tags) for d in acted)
        table.add_row(
            plan.repository.name,
            str(len(plan.images)),
            str(len(plan.acting("expire"))),
            str(len(plan.acting("transition"))),
            str(tags),
            f"{plan.bytes_freed} ({human_size(plan.bytes_freed)})",
        )
    if not plans:
        click.echo("no repository has a lifecycle policy")
        return
    Console(width=200).print(table)


@lifecycle.command("validate")
@click.argument("policy_file", type=click.File("r"))
@click.option("--strict-ecr", is_flag=True, help="Refuse Kikötő's extensions, as ECR would.")
def lifecycle_validate(policy_file, strict_ecr) -> None:
    """Check a lifecycle policy document; exit 1 with ECR's message if it is invalid."""
    from ..domain.lifecycle import LifecycleError, parse_policy

    try:
        policy = parse_policy(policy_file.read(), strict=strict_ecr)
    except LifecycleError as exc:
        raise click.ClickException(f"Lifecycle policy validation failure: {exc}") from exc
    click.echo(f"valid: {len(policy.rules)} rule(s)" + (" (ECR-compatible)" if strict_ecr else ""))


@lifecycle.command("log")
@storage_options
@click.option("--repository")
@click.option("--limit", type=int, default=50)
def lifecycle_log(config_file: Path | None, repository: str | None, limit: int, **options: Any) -> None:
    """The audit log: what lifecycle runs, GC and restores did, newest first."""
    from rich.console import Console
    from rich.table import Table

    async def events(registry):
        return await registry.stores.audit.events(repository, limit)

    table = Table("when (UTC)", "actor", "action", "repository", "digest", "detail")
    for event in with_registry(events, config_file, options):
        when = datetime.datetime.fromtimestamp(event["at"], datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            when,
            event["actor"],
            event["action"],
            event["repository"] or "",
            (event["digest"] or "")[:19],
            json.dumps(event["detail"]),
        )
    Console().print(table)
