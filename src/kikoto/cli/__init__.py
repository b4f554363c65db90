"""The `kikoto` command line: one module per command group, the options they share in
common.py. Composition happens in app.py; these only read options and print."""

from __future__ import annotations

import os

import click

from .. import __version__
from . import accounts, keys, lifecycle, policy, serve, storage


class WithFeatures(click.Group):
    """The core's command groups, and each feature's `COMMANDS`, looked up when the command line
    is read (a feature's commands import this package's common.py: no import at load time)."""

    def _features(self) -> dict[str, click.Command]:
        from ..app import FEATURES

        return {c.name or "": c for feature in FEATURES for c in getattr(feature, "COMMANDS", [])}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._features()])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._features().get(name)


@click.group(cls=WithFeatures)
@click.version_option(__version__)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Kikötő: a container registry with the OCI Distribution and AWS ECR APIs."""
    from ..app import compose

    os.umask(0o077)  # every file and directory Kikötő makes is its own: 0600 / 0700
    ctx.obj = compose  # what every command's with_registry composes (common.py imports no composition)


for command in (
    serve.serve,
    keys.keys,
    accounts.accounts,
    lifecycle.lifecycle,
    policy.policy,
    storage.gc,
    storage.fsck,
    storage.storage,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
