"""What every `kikoto` command shares: the storage options, running an action against the
registry's storage through the server's own composition, and one-line start-up failures."""

from __future__ import annotations

import datetime
import functools
import getpass
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..config import load_settings
from ..domain.audit import Change
from ..domain.errors import KikotoError
from ..startup import StartupError, announce_admin, prepare

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def storage_options(command: F) -> F:
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
            click.option(
                "--init", is_flag=True, help="Create a new registry here if there is none (otherwise that is refused)."
            ),
        ]
    ):
        command = option(command)
    return command


CHANGES = "kikoto.changes"  # the context's note that this command changes the registry
PRIVATE = ("secret", "password", "token", "key_file", "config_file", "data_dir", "database_url")


def changes_registry(command: F) -> F:
    """An admin command that changes the registry: recorded in the audit log, by the local user,
    with its parameters (never a secret) and how it ended."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        context = click.get_current_context()
        action = context.command_path.partition(" ")[2] or context.command_path
        shown = {k: str(v)[:200] for k, v in kwargs.items() if v not in (None, False, ()) and not k.endswith(PRIVATE)}
        try:
            actor = f"cli:{getpass.getuser()}"
        except (OSError, KeyError):  # no name for this uid (a container's)
            actor = f"cli:uid {os.getuid()}"
        context.meta[CHANGES] = lambda outcome: Change(actor, action, "local", outcome, detail=shown)
        return command(*args, **kwargs)

    return run  # type: ignore[return-value]


def start_failure(exc: BaseException) -> click.ClickException:
    """One line that says what is wrong, instead of a traceback."""
    if isinstance(exc, StartupError):
        return click.ClickException(f"cannot start: {exc}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return click.ClickException(f"cannot start: {type(exc).__name__}: {first}"[:500])


def with_registry(action: Callable[[Any], Awaitable[T]], config_file: Path | None, options: dict[str, Any]) -> T:
    """Run `action(registry)` against the registry's storage (migrating it first): the admin
    commands share the server's composition, so they apply the same rules as the API."""
    import asyncio

    compose = click.get_current_context().find_root().obj  # the composition root, handed down by main()
    init = options.pop("init", False)
    try:
        settings = load_settings(config_file, options)
    except (OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    database = settings.data_dir / "kikoto.db"
    if not init and settings.database == f"sqlite:///{database.resolve()}" and not database.exists():
        # run from another directory, an admin command once made a new ./data registry, admin key and all
        raise click.ClickException(
            f"no registry in {settings.data_dir.resolve()}: give its --data-dir (or KIKOTO_DATA_DIR, or "
            f"--config), as `kikoto serve` printed it, or add --init to create a new registry there"
        )
    try:
        created = prepare(settings)
    except Exception as exc:
        raise start_failure(exc) from None
    if created:
        announce_admin(settings, *created)

    async def main() -> T:
        registry = compose(settings)
        outcome = "error"
        try:
            result = await action(registry)
            outcome = "ok"
            return result
        except click.ClickException as refused:
            outcome = refused.message[:64]
            raise
        except KikotoError as refused:
            outcome = type(refused).__name__
            raise
        finally:
            change = click.get_current_context().meta.get(CHANGES)
            if change is not None:
                await registry.audit.record(change(outcome))
            await registry.close()

    return asyncio.run(main())


def with_feature(
    name: str, action: Callable[[Any], Awaitable[T]], config_file: Path | None, options: dict[str, Any]
) -> T:
    """Run `action(service)` on feature `name`'s service, as `with_registry` runs an action on the
    registry (its typed errors become one-line command errors)."""

    async def run(registry: Any) -> T:
        return await action(registry.features[name].service)

    return with_registry(failing(run), config_file, options)


async def progressing(label: str, work: Callable[[Callable[..., None]], Awaitable[T]]) -> T:
    """`work(update)` under a transient progress bar; `update(completed=, total=, description=)`
    moves it."""
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=None)
        return await work(lambda **fields: progress.update(task, **fields))


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def echo_rows(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """A listing as tab-separated lines under a header; an empty one says so instead of
    printing nothing (which reads as a command that failed silently)."""
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join(str(value) for value in row))
    if not rows:
        click.echo("(none)")


def when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def failing(action: Callable[[Any], Awaitable[T]]) -> Callable[[Any], Awaitable[T]]:
    """Turn the services' typed errors into one-line command errors."""
    from ..domain.errors import KikotoError

    async def run(registry: Any) -> T:
        try:
            return await action(registry)
        except KikotoError as exc:
            raise click.ClickException(exc.message) from None

    return run
