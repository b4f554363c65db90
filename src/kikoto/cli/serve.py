"""`kikoto serve`: run the registry."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from ..config import load_settings
from .common import start_failure, storage_options


@click.command()
@storage_options
@click.option("--listen", help="HOST:PORT to listen on [127.0.0.1:5000].")
@click.option("--public-host", help="HOST[:PORT] clients use to reach the registry (used in returned URLs).")
@click.option(
    "--registry-domain",
    help="Answer for each account at ACCOUNT.dkr.ecr.REGION.DOMAIN, as ECR does (wildcard DNS to this host).",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workers", type=int, help="Worker processes sharing the port [one per core].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
def serve(config_file: Path | None, **options: Any) -> None:
    """Run the registry (creating it in an empty data directory: --init is implied)."""
    options.pop("init", None)
    try:
        settings = load_settings(config_file, options)
    except (OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(
        level=settings.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from ..serve import serve as run

    try:
        run(settings)
    except (click.ClickException, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise start_failure(exc) from None
