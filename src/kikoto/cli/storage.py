"""`kikoto gc`, `kikoto fsck` and `kikoto storage`: what is stored, and keeping it right."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..services.fsck import FsckReport
from ..services.gc import GcSummary
from .common import human_size, progressing, storage_options, with_registry


@click.command()
@storage_options
@click.option("--dry-run", is_flag=True, help="Count what would be freed; delete nothing.")
@click.option("--grace-period", type=float, help="Seconds a new blob or link is protected [gc_grace_period].")
def gc(config_file: Path | None, dry_run: bool, grace_period: float | None, **options: Any) -> None:
    """Free blobs no manifest references and expire abandoned uploads (online: pushes may continue)."""

    async def run(registry: Any) -> GcSummary:
        def collecting(update: Any) -> Any:
            freed = 0

            def advance(position: float, blobs: int, _bytes: int) -> None:
                nonlocal freed
                freed += blobs
                update(completed=round(position * 100, 1), total=100, description=f"collecting ({freed:,} freed)")

            return registry.gc.run(dry_run=dry_run, grace=grace_period, progress=advance)

        return await progressing("collecting", collecting)

    summary = with_registry(run, config_file, options)
    if summary.resumed_at is not None:
        click.echo(f"gc went on from where a stopped run had left off ({summary.resumed_at:.0%} of the digests)")
    verb = "would free" if dry_run else "freed"
    click.echo(
        f"gc {verb} {summary.blobs} blobs ({human_size(summary.bytes)}, {summary.bytes} bytes) and "
        f"{'would expire' if dry_run else 'expired'} {summary.uploads} abandoned uploads"
    )


@click.command()
@storage_options
@click.option(
    "--repair",
    is_flag=True,
    help="Forget blobs whose bytes are missing or wrong (clients re-upload "
    "them), delete orphan files, finish an interrupted GC.",
)
@click.option("--verify-digests", is_flag=True, help="Also read every blob and check its digest (slow).")
def fsck(config_file: Path | None, repair: bool, verify_digests: bool, **options: Any) -> None:
    """Check that every blob row has its bytes (right size, and digest), every manifest's blobs
    exist and no file is orphaned. Safe while the server runs. Exit status 1 when faults remain."""
    from rich.console import Console

    async def run(registry: Any) -> FsckReport:
        return await progressing(
            "checking",
            lambda update: registry.fsck.run(
                repair=repair,
                verify_digests=verify_digests,
                progress=lambda what, n: update(description=f"checking {what}", completed=n),
            ),
        )

    report = with_registry(run, config_file, options)
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


@click.command()
@storage_options
def storage(config_file: Path | None, **options: Any) -> None:
    """Storage per repository (deduplicated) and for the whole registry."""
    from rich.console import Console
    from rich.table import Table

    async def read(registry):
        return await registry.stores.usage.storage_by_repository(), await registry.stores.usage.stored_bytes()

    rows, (blobs, total) = with_registry(read, config_file, options)
    table = Table("repository", "images", "bytes referenced")
    for name, images, size in rows:
        table.add_row(name, str(images), human_size(size))
    Console().print(table)
    click.echo(f"registry: {blobs} blobs, {human_size(total)} ({total} bytes) stored once each")
