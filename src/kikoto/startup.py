"""Start-up: the blocking work done once before any worker runs (directories, migrations, the
admin principal), and opening what the settings name (the master key, the blob store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .config import Settings
from .services.identity import Identities, load_master_key
from .services.keys import Keys
from .storage.blobs.filesystem import FilesystemBlobStore
from .storage.blobs.port import BlobStore
from .storage.blobs.s3 import S3BlobStore
from .storage.changes import ChangeCounter, VersionedCache
from .storage.meta.engine import create_engine, migrate
from .storage.meta.identities import SqlIdentityStore


class StartupError(Exception):
    """Kikötő cannot start with this configuration or data; the message says why and what to do."""


def prepare(settings: Settings) -> tuple[str, str] | None:
    """Blocking start-up work done once, before any worker runs: directories, migrations, the
    admin principal. Returns the admin key pair when it was just generated (shown once)."""
    private_directory(settings.data_dir)
    migrate(settings.database)
    return asyncio.run(_bootstrap(settings))


def private_directory(path: Path) -> None:
    """The data dir is the registry's alone: 0700, and the files Kikötő keeps at its top (the
    database, its WAL, the master key) 0600, tightening what an older version left wider."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    for child in path.iterdir():
        if child.is_file() and child.stat().st_mode & 0o077:
            child.chmod(0o600)


def identities_for(settings: Settings, engine, changes: ChangeCounter | None = None) -> Identities:
    return Identities(
        SqlIdentityStore(engine, changes=changes),
        Keys(load_master_key(settings.master_key, settings.data_dir)),
        settings.account_id,
        cache=VersionedCache(changes, cache_max_age(settings)),
    )


def cache_max_age(settings: Settings) -> float:
    """How long a cached read may be trusted without a change signal: on one host the change
    counter tells every process at once; replicas on other hosts only share the database."""
    return 300.0 if settings.database.startswith("sqlite") else 2.0


async def _bootstrap(settings: Settings) -> tuple[str, str] | None:
    engine = create_engine(settings.database)
    try:
        store = SqlIdentityStore(engine)
        if not settings.master_key and not (settings.data_dir / "master.key").exists() and await store.keys():
            raise StartupError(
                f"{settings.data_dir / 'master.key'} is missing, but the database holds secrets "
                f"encrypted with it: restore that file (or set master_key), or the registry "
                f"cannot verify any access key"
            )
        try:
            identities = identities_for(settings, engine)
            identities.check_master_key(await store.keys())
            pair = None
            if settings.admin_access_key_id:
                pair = (settings.admin_access_key_id, settings.admin_secret_access_key)
            return await identities.bootstrap_admin(pair)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
    finally:
        await engine.dispose()


def open_blob_store(settings: Settings) -> BlobStore:
    if settings.blob_store and settings.blob_store.startswith("s3://"):
        return S3BlobStore(
            settings.blob_store, endpoint_url=settings.s3_endpoint_url, proxy_downloads=settings.s3_proxy_downloads
        )
    if settings.blob_store:
        return FilesystemBlobStore(Path(settings.blob_store.removeprefix("file://")))
    return FilesystemBlobStore(settings.data_dir)


def announce_admin(settings: Settings, key_id: str, secret: str) -> None:
    """Printed to the terminal once, never logged: the secret is not stored in clear anywhere."""
    plain = " --tls-verify=false" if settings.scheme == "http" else ""  # podman refuses plain HTTP unless told
    print(
        f"""
kikoto: created the admin principal. Its secret access key is shown only this once:

    export AWS_ACCESS_KEY_ID={key_id}
    export AWS_SECRET_ACCESS_KEY={secret}
    export AWS_DEFAULT_REGION={settings.region}
    export AWS_ENDPOINT_URL_ECR={settings.scheme}://{settings.public}
    export KIKOTO_DATA_DIR={settings.data_dir.resolve()}   # admin commands (kikoto keys ...) find this registry

  The console: {settings.scheme}://{settings.public}/ (sign in with the two keys above)

  aws ecr create-repository --repository-name my-app
  aws ecr get-login-password | podman login{plain} --username AWS --password-stdin {settings.public}
""",
        flush=True,
    )
