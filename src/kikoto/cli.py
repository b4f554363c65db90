"""The `kikoto` command line. Composition happens in app.py; this only reads options."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from . import __version__
from .config import load_settings


def storage_options(command):
    """The options every command that opens the registry's storage shares."""
    for option in reversed([
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML file with any of the settings below."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Blobs and the default SQLite database live here [./data]."),
        click.option("--database-url", help="sqlite:///path or postgresql://user:pass@host/db [SQLite in the data dir]."),
    ]):
        command = option(command)
    return command


@click.group()
@click.version_option(__version__)
def main() -> None:
    """Kikötő: a container registry with the OCI Distribution and AWS ECR APIs."""


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
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from .serve import serve as run

    run(settings)


if __name__ == "__main__":
    main()
