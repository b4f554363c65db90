"""The pull-through cache: repositories under a rule's prefix mirror an upstream registry,
fetched on first pull (ECR's pull-through cache rules, and the Secrets Manager subset that
holds their upstream credentials). It wraps the core's reads; no /v2 handler knows of it."""

from __future__ import annotations

from collections import Counter

from ...http.console.common import SettingsSection
from ...http.ecr.errors import SECRETS_ERRORS
from ...http.ecr.operations.table import AwsService, bound
from ...services.images.reads import Reads
from .. import Core, Feature
from .cache import OneFetch, PullThroughCache
from .operations import OPERATIONS

__all__ = ["OPERATIONS", "feature"]
from .rules import PullThroughRules
from .secrets import Secrets
from .secretsmanager import SECRETS_OPERATIONS
from .store import PullThroughStore
from .upstream import Upstreams


def feature(core: Core) -> Feature:
    settings = core.settings
    store = PullThroughStore(core.engine, changes=core.changes)
    secrets = Secrets(store, core.keys, core.registry)
    upstreams = Upstreams(settings.pull_through_insecure_upstreams)
    stats: Counter[str] = Counter()  # exported by /metrics
    rules = PullThroughRules(
        store,
        secrets,
        upstreams,
        core.registry,
        core.keys.tokens,
        settings.pull_through_insecure_upstreams,
        core.cache(),
    )

    def wrap(inner: Reads) -> Reads:
        return PullThroughCache(
            inner,
            rules,
            store,
            core.stores,
            core.repositories,
            upstreams,
            OneFetch(core.stores.leases, core.holder),
            lambda name, rule: core.admin.create_for_cache(name, rule.prefix),
            settings.pull_through_tag_ttl,
            stats,
            lambda name: core.admin.delete(name, force=False),
        )

    secrets_api = AwsService(
        "secretsmanager",
        "secretsmanager.",
        bound(SECRETS_OPERATIONS, secrets),
        SECRETS_ERRORS,
        lambda params: secrets.resource(params.get("SecretId") or params.get("Name")),
    )

    async def rule_list():
        return (await rules.describe(None, 50, None))[0]

    return Feature(
        "pull_through",
        rules,
        wraps_reads=wrap,
        operations=bound(OPERATIONS, rules),
        aws_services=[secrets_api],
        settings_sections=[SettingsSection("rules", "ecr:DescribePullThroughCacheRules", rule_list)],
        counters=[
            (
                "kikoto_pull_through",
                "Pull-through cache events: upstream fetches, cached content served while the upstream failed",
                stats,
            )
        ],
        closers=[upstreams.close],
    )
