"""Replication (ECR's replication configuration): pushed images are copied to peer registries,
cross-region or cross-account; backfills copy what was there before a rule."""

from __future__ import annotations

from ...http.console.common import SettingsSection
from ...http.ecr.operations.table import bound
from ...remote.peer import Peers
from .. import Core, Feature
from .cli import peers
from .local import LocalAccount
from .operations import OPERATIONS
from .service import Replication
from .store import ReplicationStore

__all__ = ["COMMANDS", "OPERATIONS", "feature"]
COMMANDS = [peers]


def feature(core: Core) -> Feature:
    settings, clients = core.settings, Peers()

    async def local(registry_id: str) -> LocalAccount | None:
        """Another account of this registry, as a replication destination."""
        if registry_id == core.registry.account or registry_id not in {a.id for a in await core.accounts.all()}:
            return None
        return LocalAccount(core, core.registry.account, registry_id)

    replication = Replication(
        ReplicationStore(core.engine, changes=core.changes),
        core.stores,
        core.blob_store,
        clients,
        core.keys,
        core.registry,
        core.holder,
        settings.replication_retry_cap,
        local,
    )

    async def rules():
        return (await replication.configuration())["rules"]

    async def one_pass() -> int:
        return await replication.derive() + await replication.work()

    return Feature(
        "replication",
        replication,
        operations=bound(OPERATIONS, replication),
        settings_sections=[SettingsSection("replication", "ecr:DescribeRegistry", rules)],
        outbox_loops=[one_pass],
        closers=[clients.close],
    )
