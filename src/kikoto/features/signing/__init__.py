"""Managed signing (ECR's signing configuration): images a rule covers are signed after each
push with a key of the registry's own (Notary Project signatures, attached as referrers)."""

from __future__ import annotations

from ...http.ecr.operations.table import bound
from .. import Core, Feature
from .cli import signing_keys
from .operations import OPERATIONS
from .service import Signing
from .store import SigningStore

__all__ = ["COMMANDS", "OPERATIONS", "feature"]
COMMANDS = [signing_keys]
RESUME_INTERVAL = 300.0  # how often images whose signing process died are looked for


def feature(core: Core) -> Feature:
    signing = Signing(
        SigningStore(core.engine, changes=core.changes),
        core.stores.documents,
        core.attachments,
        core.manifests,
        core.keys,
        core.registry,
    )
    return Feature(
        "signing",
        signing,
        operations=bound(OPERATIONS, signing),
        on_push=[signing.image_pushed],
        periodic=[("signing", RESUME_INTERVAL, lambda: signing.resume_stale(core.stores.repositories.repository_name))],
    )
