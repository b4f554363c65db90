"""The `kikoto` command line. Composition happens in app.py; this only reads options."""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from pathlib import Path

import click

from . import __version__
from .config import load_settings


def storage_options(command):
    """The options every command that opens the registry's storage shares."""
    for option in reversed(
        [
            click.option(
                "--config",
                "config_file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="TOML file with any of the settings below.",
            ),
            click.option(
                "--data-dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="Blobs and the default SQLite database live here [./data].",
            ),
            click.option(
                "--database-url", help="sqlite:///path or postgresql://user:pass@host/db [SQLite in the data dir]."
            ),
            click.option("--blob-store", help="file:///path or s3://bucket/prefix [file:// in the data dir]."),
            click.option("--s3-endpoint-url", help="Endpoint of an S3-compatible store (MinIO, Ceph RGW, ...)."),
        ]
    ):
        command = option(command)
    return command


@click.group()
@click.version_option(__version__)
def main() -> None:
    """Kikötő: a container registry with the OCI Distribution and AWS ECR APIs."""
    os.umask(0o077)  # every file and directory Kikötő makes is its own: 0600 / 0700


def _start_failure(exc: BaseException) -> click.ClickException:
    """One line that says what is wrong, instead of a traceback."""
    from .app import StartupError

    if isinstance(exc, StartupError):
        return click.ClickException(f"cannot start: {exc}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return click.ClickException(f"cannot start: {type(exc).__name__}: {first}"[:500])


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
    logging.basicConfig(
        level=settings.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from .serve import serve as run

    try:
        run(settings)
    except (click.ClickException, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise _start_failure(exc) from None


def _run(action, config_file, options):
    """Run `action(registry)` against the registry's storage (migrating it first): the admin
    commands share the server's composition, so they apply the same rules as the API."""
    import asyncio

    from .app import compose, prepare
    from .serve import announce_admin

    try:
        settings = load_settings(config_file, options)
    except (OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        created = prepare(settings)
    except Exception as exc:
        raise _start_failure(exc) from None
    if created:
        announce_admin(settings, *created)

    async def main():
        registry = compose(settings)
        try:
            return await action(registry)
        finally:
            await registry.close()

    return asyncio.run(main())


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


@main.group()
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
def keys_create(config_file, name, policy_file, role, replace_policy, **options) -> None:
    """Create a key pair for principal NAME (creating the principal if new). The secret is shown once.
    An existing principal keeps its policy; a different --role/--policy is refused without --replace-policy."""
    from .domain import policy as policies
    from .domain.errors import InvalidParameter
    from .services.identity import PolicyConflict

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
            pair = await identities.create(name, text, replace_policy=replace_policy)
        except policies.PolicyError as exc:
            raise click.UsageError(f"policy: {exc}") from exc
        except (PolicyConflict, InvalidParameter) as exc:
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

    (key_id, secret), outcome = _run(create, config_file, options)
    click.echo(f"kikoto: {outcome}", err=True)
    click.echo(f"export AWS_ACCESS_KEY_ID={key_id}\nexport AWS_SECRET_ACCESS_KEY={secret}")


@keys.command("list")
@storage_options
def keys_list(config_file, **options) -> None:
    """List access keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    async def rows(registry):
        return await registry.ecr.identities.store.keys()

    table = Table("access key id", "principal", "status", "created")
    for row in _run(rows, config_file, options):
        table.add_row(
            row.id,
            row.principal.name,
            row.status,
            datetime.datetime.fromtimestamp(row.created_at, datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@keys.command("revoke")
@storage_options
@click.argument("key_id")
def keys_revoke(config_file, key_id, **options) -> None:
    """Deactivate KEY_ID: its signatures and login tokens stop working."""

    async def revoke(registry):
        return await registry.ecr.identities.revoke(key_id)

    if not _run(revoke, config_file, options):
        raise click.ClickException(f"no access key {key_id}")
    click.echo(f"revoked {key_id}")


@keys.command("rotate")
@storage_options
@click.argument("key_id")
def keys_rotate(config_file, key_id, **options) -> None:
    """Create a new key pair for KEY_ID's principal and deactivate KEY_ID."""

    async def rotate(registry):
        from .domain.errors import AccessKeyNotFound

        try:
            return await registry.ecr.identities.rotate(key_id)
        except AccessKeyNotFound as missing:
            raise click.ClickException(missing.message) from None

    new_id, secret = _run(rotate, config_file, options)
    click.echo(f"revoked {key_id}\nexport AWS_ACCESS_KEY_ID={new_id}\nexport AWS_SECRET_ACCESS_KEY={secret}")


@main.group("signing-keys")
def signing_keys() -> None:
    """Keys for ECR's managed signing: each is a signing profile (safe while the server runs)."""


@signing_keys.command("create")
@storage_options
@click.argument("name")
def signing_keys_create(config_file, name, **options) -> None:
    """Create signing key NAME (ECDSA P-256, with a self-signed certificate chain) and print its
    signing profile ARN and the root certificate for a verifier's trust store."""
    from .domain.errors import KikotoError

    async def create(registry):
        try:
            return await registry.signing.create_key(name)
        except KikotoError as exc:
            raise click.ClickException(exc.message) from None

    profile, root = _run(create, config_file, options)
    click.echo(f"kikoto: signing profile {profile}", err=True)
    click.echo("kikoto: the root certificate (add it to your verifier's trust store):", err=True)
    click.echo(root, nl=False)


@signing_keys.command("list")
@storage_options
def signing_keys_list(config_file, **options) -> None:
    """Signing keys and their profile ARNs (never the private keys)."""

    async def rows(registry):
        return [
            (k.name, registry.signing.profile_arn(k.name), k.created_at) for k in await registry.signing.store.keys()
        ]

    for name, profile, created in _run(rows, config_file, options):
        when = datetime.datetime.fromtimestamp(created, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{name}\t{profile}\t{when}")


@main.group()
def lifecycle() -> None:
    """Run, preview and check lifecycle policies (safe while the server runs)."""


@lifecycle.command("run")
@storage_options
@click.option("--repository", help="Only this repository (default: every repository with a policy).")
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--as-of", "as_of", type=click.DateTime(), help="Evaluate as if it were this date (implies --dry-run).")
def lifecycle_run(config_file, repository, dry_run, as_of, **options) -> None:
    """Expire and archive images by each repository's lifecycle policy."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from .domain.errors import KikotoError

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
        plans = _run(run, config_file, options)
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
            f"{plan.bytes_freed} ({_size(plan.bytes_freed)})",
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
    from .domain.lifecycle import LifecycleError, parse_policy

    try:
        policy = parse_policy(policy_file.read(), strict=strict_ecr)
    except LifecycleError as exc:
        raise click.ClickException(f"Lifecycle policy validation failure: {exc}") from exc
    click.echo(f"valid: {len(policy.rules)} rule(s)" + (" (ECR-compatible)" if strict_ecr else ""))


@lifecycle.command("log")
@storage_options
@click.option("--repository")
@click.option("--limit", type=int, default=50)
def lifecycle_log(config_file, repository, limit, **options) -> None:
    """The audit log: what lifecycle runs, GC and restores did, newest first."""
    from rich.console import Console
    from rich.table import Table

    async def events(registry):
        return await registry.lifecycle_store.events(repository, limit)

    table = Table("when (UTC)", "actor", "action", "repository", "digest", "detail")
    for event in _run(events, config_file, options):
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


@main.command()
@storage_options
@click.option("--dry-run", is_flag=True, help="Count what would be freed; delete nothing.")
@click.option("--grace-period", type=float, help="Seconds a new blob or link is protected [gc_grace_period].")
def gc(config_file, dry_run, grace_period, **options) -> None:
    """Free blobs no manifest references and expire abandoned uploads (online: pushes may continue)."""
    from rich.progress import Progress

    async def run(registry):
        with Progress(transient=True) as progress:
            task = progress.add_task("collecting", total=None)
            return await registry.gc.run(
                dry_run=dry_run,
                grace=grace_period,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )

    summary = _run(run, config_file, options)
    verb = "would free" if dry_run else "freed"
    click.echo(
        f"gc {verb} {summary.blobs} blobs ({_size(summary.bytes)}, {summary.bytes} bytes) and "
        f"{'would expire' if dry_run else 'expired'} {summary.uploads} abandoned uploads"
    )


@main.command()
@storage_options
@click.option(
    "--repair",
    is_flag=True,
    help="Forget blobs whose bytes are missing or wrong (clients re-upload "
    "them), delete orphan files, finish an interrupted GC.",
)
@click.option("--verify-digests", is_flag=True, help="Also read every blob and check its digest (slow).")
def fsck(config_file, repair, verify_digests, **options) -> None:
    """Check that every blob row has its bytes (right size, and digest), every manifest's blobs
    exist and no file is orphaned. Safe while the server runs. Exit status 1 when faults remain."""
    from rich.console import Console
    from rich.progress import Progress

    async def run(registry):
        with Progress(transient=True) as progress:
            task = progress.add_task("checking", total=None)
            return await registry.fsck.run(
                repair=repair,
                verify_digests=verify_digests,
                progress=lambda what, n: progress.update(task, description=f"checking {what}", completed=n),
            )

    report = _run(run, config_file, options)
    console = Console(width=200, highlight=False)
    for digest in report.missing:
        console.print(f"missing bytes: {digest}")
    for digest, tier in report.misplaced:
        console.print(f"misplaced: {digest} (recorded in the {tier} tier, stored in the other)")
    for digest, recorded, stored in report.wrong_size:
        console.print(f"wrong size: {digest} (recorded {recorded}, stored {stored})")
    for digest in report.wrong_digest:
        console.print(f"wrong digest: {digest}")
    for digest, tier, size in report.orphans:
        console.print(f"orphan file: {digest} ({tier}, {size} bytes)")
    for repository, manifest, blob in report.broken:
        console.print(f"broken image: {repository}@{manifest} references missing blob {blob} (push it again)")
    faults = (
        len(report.missing)
        + len(report.misplaced)
        + len(report.wrong_size)
        + len(report.wrong_digest)
        + len(report.orphans)
    )
    click.echo(
        f"fsck: {report.blobs} blobs and {report.files} files checked; {faults} faults, "
        f"{len(report.broken)} broken image references, {report.trash} blobs awaiting GC"
        + (f"; repaired {report.repaired}" if repair else "")
    )
    if report.broken or (faults and not repair):
        sys.exit(1)


@main.command()
@storage_options
def storage(config_file, **options) -> None:
    """Storage per repository (deduplicated) and for the whole registry."""
    from rich.console import Console
    from rich.table import Table

    async def read(registry):
        return await registry.lifecycle_store.storage_by_repository(), await registry.lifecycle_store.stored_bytes()

    rows, (blobs, total) = _run(read, config_file, options)
    table = Table("repository", "images", "bytes referenced")
    for name, images, size in rows:
        table.add_row(name, str(images), _size(size))
    Console().print(table)
    click.echo(f"registry: {blobs} blobs, {_size(total)} ({total} bytes) stored once each")


if __name__ == "__main__":
    main()


def _register_outbox_commands() -> None:
    from .cli_outbox import events, peers  # defined beside: they reuse this module's options
    from .cli_scan import scan, vulndb

    main.add_command(peers)
    main.add_command(events)
    main.add_command(vulndb)
    main.add_command(scan)


_register_outbox_commands()
