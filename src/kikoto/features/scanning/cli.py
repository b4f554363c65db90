"""`kikoto vulndb` and `kikoto scan`: vulnerability data imported offline, and a scan of one
image on the command line (safe while the server runs)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ...cli.common import changes_registry, progressing, storage_options, with_feature
from .scanner import Scanner
from .store import ScanRow
from .vulndb import Imported


@click.group()
def vulndb() -> None:
    """Vulnerability data in the OSV format, for scanning without network access."""


@vulndb.command("import")
@storage_options
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@changes_registry
def vulndb_import(config_file: Path | None, path: Path, **options: Any) -> None:
    """Import OSV records from PATH: a JSON file, a directory of them, or OSV's per-ecosystem
    all.zip archives (https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip)."""

    async def load(scanner: Scanner) -> Imported:
        return await progressing(
            "importing", lambda update: scanner.data.import_path(path, lambda n: update(completed=n))
        )

    done = with_feature("scanning", load, config_file, options)
    click.echo(f"vulndb: read {done.read} records, {done.written} new or updated")
    if done.skipped_count:
        click.echo(f"vulndb: skipped {done.skipped_count} records that do not fit the OSV schema:", err=True)
        for what, why in done.skipped:
            click.echo(f"  {what}: {why}", err=True)
        if done.skipped_count > len(done.skipped):
            click.echo(f"  ... and {done.skipped_count - len(done.skipped)} more", err=True)


@vulndb.command("status")
@storage_options
def vulndb_status(config_file: Path | None, **options: Any) -> None:
    """What is loaded, and how old it is."""

    status = with_feature("scanning", lambda service: service.data.status(), config_file, options)
    when = status.get("imported_at")
    newest = status.get("newest_modified")
    click.echo(f"records: {status['records']} (data version {status['version']})")
    if when:
        age = datetime.datetime.now(datetime.UTC) - datetime.datetime.fromtimestamp(when, datetime.UTC)
        imported = datetime.datetime.fromtimestamp(when, datetime.UTC)
        click.echo(f"last import: {imported:%Y-%m-%d %H:%M} UTC ({age.days} days ago)")
    if newest:
        click.echo(f"newest record modified: {datetime.datetime.fromtimestamp(newest, datetime.UTC):%Y-%m-%d}")
    for ecosystem, count in status["ecosystems"].items():
        click.echo(f"  {ecosystem}: {count}")


@click.command()
@storage_options
@click.argument("image")
@click.option("--json", "as_json", is_flag=True, help="Print ECR's findings structure instead of a table.")
def scan(config_file: Path | None, image: str, as_json: bool, **options: Any) -> None:
    """Scan IMAGE (REPOSITORY:TAG or REPOSITORY@DIGEST) now and print its findings."""
    from rich.console import Console
    from rich.table import Table

    name, _, reference = image.partition("@") if "@" in image else image.rpartition(":")
    if not name or not reference:
        raise click.UsageError("IMAGE is REPOSITORY:TAG or REPOSITORY@DIGEST")

    async def scan_it(scanner: Scanner) -> tuple[ScanRow, list[dict[str, Any]]]:
        seen = [0]

        async def work(update: Callable[..., None]) -> tuple[ScanRow, list[dict[str, Any]]]:
            def advance(size: int) -> None:
                seen[0] += size
                update(completed=seen[0])

            return await scanner.scan_now(name, reference, advance)

        return await progressing(f"scanning {image}", work)

    result, findings = with_feature("scanning", scan_it, config_file, options)
    if as_json:
        click.echo(
            json.dumps(
                {"status": result.status, "findingSeverityCounts": result.severity_counts, "findings": findings},
                indent=2,
            )
        )
        return
    table = Table(title=f"{image}: {result.status} — {result.description or ''}")
    for column in ("severity", "vulnerability", "package", "version", "fixed in"):
        table.add_column(column)
    for finding in findings:
        attributes = {a["key"]: a.get("value", "") for a in finding["attributes"]}
        table.add_row(
            finding["severity"],
            finding["name"],
            attributes.get("package_name", ""),
            attributes.get("package_version", ""),
            attributes.get("fixed_in_version", ""),
        )
    Console().print(table)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(result.severity_counts.items())) or "no findings"
    click.echo(counts)
