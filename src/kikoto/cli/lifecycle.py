"""`kikoto lifecycle`: run, preview and check lifecycle policies."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the CLI imports these when a command runs, to start fast
    from rich.table import Table

    from ..services.lifecycle import Plan

from .common import human_size, storage_options, when, with_registry


@click.group()
def lifecycle() -> None:
    """Run, preview and check lifecycle policies (safe while the server runs)."""


@lifecycle.command("run")
@storage_options
@click.option("--repository", help="Only this repository (default: every repository with a policy).")
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--as-of", "as_of", type=click.DateTime(), help="Evaluate as if it were this date (implies --dry-run).")
@click.option("--yes", is_flag=True, help="Act on every repository without asking first.")
def lifecyclerun(
    config_file: Path | None,
    repository: str | None,
    dry_run: bool,
    as_of: datetime.datetime | None,
    yes: bool,
    **options: Any,
) -> None:
    """Expire and archive images by each repository's lifecycle policy: first what each policy
    would do to each image and why, then (unless --dry-run) do it. Over every repository it asks
    first, unless --yes; it acts only if nothing changed since it showed what it would do."""
    from rich.console import Console
    from rich.progress import Progress

    from ..domain.errors import KikotoError

    now = as_of.replace(tzinfo=datetime.UTC).timestamp() if as_of else None
    dry_run = dry_run or as_of is not None

    async def evaluate(registry: Any) -> list[Plan]:
        names = await registry.lifecycle.repositories_with_policies(repository)
        with Progress(transient=True) as progress:
            task = progress.add_task("evaluating", total=len(names))
            plans = []
            for name in names:
                plans.append(await registry.lifecycle.plan(name, now=now))
                progress.advance(task)
        return plans

    async def apply(registry: Any) -> None:
        for shown in plans:
            plan = await registry.lifecycle.plan(shown.repository.name)
            if plan.fingerprint() != shown.fingerprint():
                raise click.ClickException(
                    f"{plan.repository.name} changed since it was evaluated; nothing more was done: run again"
                )
            await registry.lifecycle.apply(plan, actor="cli")

    try:
        plans = with_registry(evaluate, config_file, dict(options))
        if not plans:
            click.echo("no repository has a lifecycle policy")
            return
        console = Console(width=200)
        for plan in plans:
            console.print(outcome_table(plan))
        console.print(summary_table(plans, dry_run))
        if dry_run or not any(plan.acting("expire") or plan.acting("transition") for plan in plans):
            return
        if repository is None and not yes:
            click.confirm(f"Act on {len(plans)} repositories as shown?", abort=True)
        with_registry(apply, config_file, options)
    except KikotoError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo("done: the bytes of expired images are freed by the next garbage collection")


def outcome_table(plan: Plan) -> Table:
    """Each image as a user counts it (what hangs from it counted under it), newest first:
    the action, the rule that decided, and why."""
    from rich.table import Table

    descriptions = {r.priority: r.description for r in plan.rules()}
    table = Table(
        "image",
        "tags",
        "pushed",
        "action",
        "rule",
        "why",
        "attached",
        title=f"{plan.repository.name}, as of {when(plan.now)}",
    )
    for o in plan.outcomes():
        d = o.decision
        rule = f"{d.rule} {descriptions.get(d.rule) or ''}".strip() if d.rule else ""
        table.add_row(
            o.image.digest.split(":", 1)[-1][:12],
            ", ".join(o.image.tags),
            when(o.image.pushed_at),
            d.action or "keep",
            rule,
            d.because(),
            str(o.attached or ""),
        )
    return table


def summary_table(plans: list[Plan], dry_run: bool) -> Table:
    from rich.table import Table

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
        tops = plan.outcomes()
        acted = [o for o in tops if o.decision.action]
        table.add_row(
            plan.repository.name,
            str(len(tops)),
            str(sum(o.decision.action == "expire" for o in acted)),
            str(sum(o.decision.action == "transition" for o in acted)),
            str(sum(len(o.image.tags) for o in acted)),
            f"{plan.bytes_freed} ({human_size(plan.bytes_freed)})",
        )
    return table


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
