"""Repositories through the ECR API: create, describe, delete, settings, resource tags,
repository policies, and repository creation templates (CREATE_ON_PUSH)."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

from ...domain.accounts import MARK, repository_key, split_key
from ...domain.ecr import MAX_RESOURCE_TAGS, account_from_arn, repository_name_from_arn
from ...domain.errors import (
    InvalidParameter,
    KikotoError,
    RepositoryAlreadyExists,
    RepositoryNotEmpty,
    RepositoryPolicyNotFound,
    ResourceTagInvalid,
    TemplateAlreadyExists,
    TemplateNotFound,
    TooManyResourceTags,
)
from ...domain.names import REPOSITORY_NAME, check_repository_key
from ...domain.paging import fill_page, sign_token
from ...domain.policy import PolicyError, parse_policy
from ...domain.templates import ROOT, CreationTemplate, most_specific
from ...storage.meta.ports import DocumentStore, ImageStore, Repository, RepositoryStore
from ..access import Access
from ..registry import RegistryIdentity, invalid_parameter, keyset_page, repository_not_found, token_position

log = logging.getLogger("kikoto.ecr")


def check_mutability(mode: str | None, filters: list[Any] | None) -> None:
    if mode and mode.endswith("_WITH_EXCLUSION") and not filters:
        raise InvalidParameter(
            f"ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as {mode}"
        )
    if filters and not (mode or "").endswith("_WITH_EXCLUSION"):
        raise InvalidParameter(
            "ImageTagMutabilityExclusionFilters can only be set when imageTagMutability is set as "
            "IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION"
        )


def check_resource_tags(tags: list[dict[str, Any]]) -> None:
    for tag in tags:
        if len(tag["Key"]) > 128 or len(tag["Value"]) > 256:
            raise ResourceTagInvalid("A tag key must be at most 128 characters and a value at most 256 characters.")
    if len({t["Key"] for t in tags}) > MAX_RESOURCE_TAGS:
        raise TooManyResourceTags(f"A repository can have at most {MAX_RESOURCE_TAGS} tags.")


def check_repository_policy(text: str, kind: str = "repository", field: str = "PolicyText") -> None:
    """A resource policy (a repository's, or the registry's with kind="registry"): ECR's message
    is exactly this, whatever is wrong; the reason goes to the log."""
    try:
        parse_policy(text, resource_policy=True)
    except PolicyError as exc:
        log.info("refused a %s policy: %s", kind, exc)
        raise InvalidParameter(
            f"Invalid parameter at '{field}' failed to satisfy constraint: 'Invalid {kind} policy provided'"
        ) from None


def encryption_configuration(config: dict[str, Any] | None, region: str, account: str) -> dict[str, Any]:
    """AES256 by default; KMS without a key means ECR's AWS-managed key, named as ECR names it."""
    config = dict(config or {"encryptionType": "AES256"})
    if config.get("encryptionType") in ("KMS", "KMS_DSSE") and not config.get("kmsKey"):
        config["kmsKey"] = managed_kms_key(region, account)
    return config


def managed_kms_key(region: str, account: str) -> str:
    """The ARN of the account's AWS-managed ECR key in a region, in the key-id form ECR returns
    (one key per account and region: the same id on every repository, derived, not random)."""
    key_id = uuid.uuid5(uuid.NAMESPACE_URL, f"kikoto:kms:aws/ecr:{region}:{account}")
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def _merge_tags(current: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = {t["Key"]: t["Value"] for t in current}
    merged.update({t["Key"]: t["Value"] for t in new})
    return [{"Key": k, "Value": v} for k, v in merged.items()]


class RepositoryAdmin:
    def __init__(
        self,
        store: RepositoryStore,
        images: ImageStore,
        documents: DocumentStore,
        access: Access,
        registry: RegistryIdentity,
        token_key: bytes = b"",
    ) -> None:
        self.token_key = token_key  # signs nextTokens (keyset positions)
        self.store, self.images, self.documents = store, images, documents
        self.access = access
        self.registry = registry

    async def find(self, name: str) -> Repository | None:
        return await self.store.get_repository(name)

    async def get(self, name: str) -> Repository:
        record = await self.store.get_repository(name)
        if record is None:
            raise repository_not_found(name, self.registry.account)
        return record

    async def create(
        self,
        name: str,
        tags: list[dict[str, Any]],
        mutability: str | None,
        exclusions: list[dict[str, Any]] | None,
        scan_on_push: bool,
        encryption: dict[str, Any] | None,
    ) -> Repository:
        check_repository_key(name)  # the ECR face's model checks it first; the console relies on this
        check_resource_tags(tags)
        check_mutability(mutability, exclusions)
        settings = {
            "tag_mutability": mutability or "MUTABLE",
            "mutability_exclusions": exclusions,
            "scan_on_push": scan_on_push,
            "encryption": encryption_configuration(
                encryption, self.registry.region, split_key(name, self.registry.account)[0]
            ),
            "resource_tags": tags,
        }
        record = await self.store.create_repository(name, settings)
        if record is None:
            raise RepositoryAlreadyExists(
                f"The repository with name '{name}' already exists in the registry with id '{self.registry.account}'"
            )
        return record

    async def named(self, names: list[str], require) -> list[Repository]:
        """The repositories named, each checked with `require(name)` (which refuses one the caller
        may not describe, exactly as a read of it would be refused)."""
        for name in dict.fromkeys(names):
            await require(name)
        records = {r.name: r for r in await self.store.repositories(names)}
        for name in names:
            if name not in records:
                raise repository_not_found(name, self.registry.account)
        return [records[n] for n in dict.fromkeys(names)]

    async def listing(self, visible, max_results: int | None, next_token: str | None, within=("", MARK)):
        """(a page of the repositories `visible(name)` lets the caller see, the next token): by
        key from the token's position, within one account's keys, reading batches until the
        page is full."""
        limit = max_results or 100
        after = max((token_position(self.token_key, "DescribeRepositories", next_token) or [""])[0], within[0])

        async def fetch(after: str) -> list[Repository]:
            batch = await self.store.repositories_after(after, limit + 1, within[1])
            await self.access.preload([r.name for r in batch])
            return batch

        async def keep(batch: list[Repository]) -> list[Repository]:
            return [r for r in batch if await visible(r.name)]

        page, more = await fill_page(fetch, keep, lambda r: r.name, after, limit)
        return page, sign_token(self.token_key, "DescribeRepositories", [page[-1].name]) if more else None

    async def delete(self, name: str, force: bool) -> Repository:
        record = await self.get(name)
        if not force and await self.images.image_count(record.id):
            raise RepositoryNotEmpty(
                f"The repository with name '{record.name}' in registry with id '{self.registry.account}' "
                f"cannot be deleted because it still contains images"
            )
        await self.store.delete_repository(record.id)
        self.access.forget(record.name)
        return record

    async def put_mutability(self, name: str, mode: str, filters: list[dict[str, Any]] | None) -> None:
        record = await self.get(name)
        check_mutability(mode, filters)
        await self.store.update_repository(record.name, {"tag_mutability": mode, "mutability_exclusions": filters})

    async def put_scanning(self, name: str, scan_on_push: bool) -> None:
        record = await self.get(name)
        await self.store.update_repository(record.name, {"scan_on_push": scan_on_push})

    # -- resource tags ----------------------------------------------------------------------

    async def _by_arn(self, arn: str) -> Repository:
        name, account = repository_name_from_arn(arn), account_from_arn(arn)
        key = repository_key(account, name, self.registry.first_account) if name and account else None
        if key is None or arn != self.registry.arn(key):
            raise InvalidParameter("The ARN provided is invalid.")  # ECR's words for every malformed ARN
        return await self.get(key)

    async def tag(self, arn: str, new_tags: list[dict[str, Any]]) -> None:
        record = await self._by_arn(arn)
        tags = _merge_tags(record.resource_tags or [], new_tags)
        check_resource_tags(tags)
        await self.store.update_repository(record.name, {"resource_tags": tags})

    async def untag(self, arn: str, keys: list[str]) -> None:
        record = await self._by_arn(arn)
        drop = set(keys)
        await self.store.update_repository(
            record.name, {"resource_tags": [t for t in record.resource_tags or [] if t["Key"] not in drop]}
        )

    async def list_tags(self, arn: str) -> list[dict[str, Any]]:
        return (await self._by_arn(arn)).resource_tags or []

    # -- repository policies ----------------------------------------------------------------

    async def set_policy(self, name: str, text: str) -> Repository:
        record = await self.get(name)
        check_repository_policy(text)
        await self.store.update_repository(record.name, {"repository_policy": text})
        self.access.forget(record.name)
        return record

    async def get_policy(self, name: str, delete: bool = False) -> tuple[str, str]:
        """(repository name, policy text), the policy deleted when asked."""
        record = await self.get(name)
        if not record.repository_policy:
            raise RepositoryPolicyNotFound(
                f"Repository policy does not exist for the repository with name '{record.name}' in the "
                f"registry with id '{self.registry.account}'"
            )
        if delete:
            await self.store.update_repository(record.name, {"repository_policy": None})
            self.access.forget(record.name)
        return record.name, record.repository_policy

    # -- repository creation templates --------------------------------------------------------

    def _checked(self, template: CreationTemplate) -> CreationTemplate:
        prefix = template.prefix.rstrip("/") if template.prefix != ROOT else ROOT
        if prefix != ROOT and not REPOSITORY_NAME.fullmatch(prefix):
            raise invalid_parameter("prefix", "must be ROOT or a repository namespace")
        check_mutability(template.tag_mutability, template.mutability_exclusions)
        check_resource_tags(template.resource_tags)
        if template.repository_policy:
            check_repository_policy(template.repository_policy, field="repositoryPolicy")
        return dataclasses.replace(template, prefix=prefix)

    def _template_missing(self, prefix: str) -> KikotoError:
        return TemplateNotFound(
            f"The repository creation template with prefix '{prefix}' does not exist in the registry "
            f"with id '{self.registry.account}'"
        )

    async def create_template(self, template: CreationTemplate) -> CreationTemplate:
        checked = self._checked(template)
        saved = await self.documents.put_template(checked, create=True)
        if saved is None:
            raise TemplateAlreadyExists(
                f"The repository creation template with prefix '{checked.prefix}' already exists in the "
                f"registry with id '{self.registry.account}'"
            )
        return saved

    async def update_template(self, prefix: str, changes: dict[str, Any]) -> CreationTemplate:
        """Change the fields named in `changes` (CreationTemplate's), keep the others."""
        existing = {t.prefix: t for t in await self.documents.templates()}.get(prefix.rstrip("/"))
        if existing is None:
            raise self._template_missing(prefix)
        saved = await self.documents.put_template(self._checked(dataclasses.replace(existing, **changes)), create=False)
        if saved is None:
            raise self._template_missing(prefix)
        return saved

    async def delete_template(self, prefix: str) -> CreationTemplate:
        deleted = await self.documents.delete_template(prefix.rstrip("/"))
        if deleted is None:
            raise self._template_missing(prefix)
        return deleted

    async def templates(
        self, prefixes: list[str] | None, max_results: int | None, next_token: str | None
    ) -> tuple[list[CreationTemplate], str | None]:
        """(a page of the templates, filtered by prefix, the next token)."""
        templates = await self.documents.templates()
        if prefixes:
            templates = [t for t in templates if t.prefix in {p.rstrip("/") for p in prefixes}]
        return keyset_page(
            templates, lambda t: t.prefix, "RepositoryCreationTemplates", self.token_key, max_results, next_token
        )

    async def create_from_template(self, name: str) -> Repository | None:
        """CREATE_ON_PUSH: create `name` from the most specific template that applies, if any."""
        return await self._from_template(name, "CREATE_ON_PUSH")

    async def create_for_cache(self, name: str, rule_prefix: str) -> Repository:
        """The repository a pull-through cache rule's first pull creates: from the most specific
        PULL_THROUGH_CACHE template, else with the defaults, as on ECR."""
        created = await self._from_template(name, "PULL_THROUGH_CACHE", {"upstream": rule_prefix}, required=False)
        if created is None:  # deleted as soon as it was made
            raise repository_not_found(name, self.registry.account)
        return created

    async def create_for_replication(self, name: str) -> Repository:
        """The repository replication into this account creates: from the most specific
        REPLICATION template, else with the defaults, as on ECR."""
        created = await self._from_template(name, "REPLICATION", required=False)
        if created is None:  # deleted as soon as it was made
            raise repository_not_found(name, self.registry.account)
        return created

    async def _from_template(
        self, name: str, applied_for: str, extra: dict[str, Any] | None = None, required: bool = True
    ) -> Repository | None:
        # templates are the first account's (its registry-level settings): another account's key has none
        own = not name.startswith(MARK)
        template = most_specific(await self.documents.templates(), name, applied_for) if own else None
        if template is None and required:
            return None
        template = template or CreationTemplate(ROOT)  # ECR's defaults
        settings = {
            "tag_mutability": template.tag_mutability,
            "mutability_exclusions": template.mutability_exclusions,
            "encryption": encryption_configuration(
                template.encryption, self.registry.region, split_key(name, self.registry.account)[0]
            ),
            "resource_tags": template.resource_tags or None,
            "repository_policy": template.repository_policy,
            "lifecycle_policy": template.lifecycle_policy,
            **(extra or {}),
        }
        return await self.store.create_repository(name, settings) or await self.store.get_repository(name)
