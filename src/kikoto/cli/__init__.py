"""The `kikoto` command line: one module per command group, the options they share in
common.py. Composition happens in app.py; these only read options and print."""

from __future__ import annotations

import os

import click

from .. import __version__
from . import keys, lifecycle, outbox, scan, serve, signing, storage


@click.group()
@click.version_option(__version__)
def main() -> None:
    """Kikötő: a container registry with the OCI Distribution and AWS ECR APIs."""
    os.umask(0o077)  # every file and directory Kikötő makes is its own: 0600 / 0700


for command in (
    serve.serve,
    keys.keys,
    signing.signing_keys,
    lifecycle.lifecycle,
    storage.gc,
    storage.fsck,
    storage.storage,
    outbox.peers,
    outbox.events,
    scan.vulndb,
    scan.scan,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
