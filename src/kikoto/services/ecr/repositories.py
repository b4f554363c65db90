"""Repositories through the ECR API: create, describe, delete, settings, resource tags,
repository policies, and repository creation templates (CREATE_ON_PUSH)."""

from __future__ import annotations

import logging

from ...domain.ecr import MAX_RESOURCE_TAGS, repository_name_from_arn
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
from ...domain.names import REPOSITORY_NAME
from ...domain.policy import PolicyError, parse_policy
from ...storage.meta.ecr import EcrStore, RepositoryRecord
from ..access import Access
from .common import RegistryIdentity, invalid_parameter, paginate, repository_not_found

log = logging.getLogger("kikoto.ecr")
TEMPLATE_FIELDS = (
    "prefix",
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "appliedFor",
    "customRoleArn",
)


def check_mutability(mode: str | None, filters: list | None) -> None:
    if mode and mode.endswith("_WITH_EXCLUSION") and not filters:
        raise InvalidParameter(
            f"ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as {mode}"
        )
    if filters and not (mode or "").endswith("_WITH_EXCLUSION"):
        raise InvalidParameter(
            "ImageTagMutabilityExclusionFilters can only be set when imageTagMutability is set as "
            "IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION"
        )


def check_resource_tags(tags: list[dict]) -> None:
    for tag in tags:
        if len(tag["Key"]) > 128 or len(tag["Value"]) > 256:
            raise ResourceTagInvalid("A tag key must be at most 128 characters and a value at most 256 characters.")
    if len({t["Key"] for t in tags}) > MAX_RESOURCE_TAGS:
        raise TooManyResourceTags(f"A repository can have at most {MAX_RESOURCE_TAGS} tags.")


def check_repository_policy(text: str) -> None:
    """ECR's message is exactly this, whatever is wrong; the reason goes to the log."""
    try:
        parse_policy(text, resource_policy=True)
    except PolicyError as exc:
        log.info("refused a repository policy: %s", exc)
        raise InvalidParameter("Invalid repository policy provided") from None


def encryption_configuration(config: dict | None, region: str, account: str) -> dict:
    """AES256 by default; KMS without a key means ECR's AWS-managed key, named as ECR names it."""
    config = dict(config or {"encryptionType": "AES256"})
    if config.get("encryptionType") in ("KMS", "KMS_DSSE") and not config.get("kmsKey"):
        config["kmsKey"] = f"arn:aws:kms:{region}:{account}:alias/aws/ecr"
    return config


def _merge_tags(current: list[dict], new: list[dict]) -> list[dict]:
    merged = {t["Key"]: t["Value"] for t in current}
    merged.update({t["Key"]: t["Value"] for t in new})
    return [{"Key": k, "Value": v} for k, v in merged.items()]


class RepositoryAdmin:
    def __init__(self, store: EcrStore, access: Access, registry: RegistryIdentity):
        self.store = store
        self.access = access
        self.registry = registry

    def shape(self, record: RepositoryRecord) -> dict:
        shaped = {
            "repositoryArn": self.registry.arn(record.name),
            "registryId": self.registry.account,
            "repositoryName": record.name,
            "repositoryUri": self.registry.uri(record.name),
            "createdAt": record.created_at,
            "imageTagMutability": record.tag_mutability,
            "imageScanningConfiguration": {"scanOnPush": record.scan_on_push},
            "encryptionConfiguration": record.encryption or {"encryptionType": "AES256"},
        }
        if record.mutability_exclusions:
            shaped["imageTagMutabilityExclusionFilters"] = record.mutability_exclusions
        return shaped

    async def get(self, name: str) -> RepositoryRecord:
        record = await self.store.repository(name)
        if record is None:
            raise repository_not_found(name, self.registry.account)
        return record

    async def create(self, params: dict) -> dict:
        name = params["repositoryName"]
        tags = params.get("tags") or []
        check_resource_tags(tags)
        check_mutability(params.get("imageTagMutability"), params.get("imageTagMutabilityExclusionFilters"))
        settings = {
            "tag_mutability": params.get("imageTagMutability") or "MUTABLE",
            "mutability_exclusions": params.get("imageTagMutabilityExclusionFilters"),
            "scan_on_push": bool((params.get("imageScanningConfiguration") or {}).get("scanOnPush", False)),
            "encryption": encryption_configuration(
                params.get("encryptionConfiguration"), self.registry.region, self.registry.account
            ),
            "resource_tags": tags,
        }
        record = await self.store.create_repository(name, settings)
        if record is None:
            raise RepositoryAlreadyExists(
                f"The repository with name '{name}' already exists in the registry with id '{self.registry.account}'"
            )
        return {"repository": self.shape(record)}

    async def describe(self, params: dict, visible, require) -> dict:
        """`visible(name)` filters the listing; `require(name)` refuses a named repository the
        caller may not describe, exactly as a read of it would be refused."""
        names = params.get("repositoryNames")
        if names is not None:
            if params.get("maxResults") or params.get("nextToken"):
                raise invalid_parameter("maxResults", "maxResults and nextToken cannot be used with repositoryNames")
            for name in dict.fromkeys(names):
                await require(name)
            records = {r.name: r for r in await self.store.repositories(names)}
            for name in names:
                if name not in records:
                    raise repository_not_found(name, self.registry.account)
            return {"repositories": [self.shape(records[n]) for n in dict.fromkeys(names)]}
        records = [r for r in await self.store.repositories() if await visible(r.name)]
        page, token = paginate(records, params)
        result = {"repositories": [self.shape(r) for r in page]}
        if token:
            result["nextToken"] = token
        return result

    async def delete(self, params: dict) -> dict:
        record = await self.get(params["repositoryName"])
        if not params.get("force") and await self.store.image_count(record.id):
            raise RepositoryNotEmpty(
                f"The repository with name '{record.name}' in registry with id '{self.registry.account}' "
                f"cannot be deleted because it still contains images"
            )
        await self.store.delete_repository(record.id)
        self.access.forget(record.name)
        return {"repository": self.shape(record)}

    async def put_mutability(self, params: dict) -> dict:
        record = await self.get(params["repositoryName"])
        mode, filters = params["imageTagMutability"], params.get("imageTagMutabilityExclusionFilters")
        check_mutability(mode, filters)
        await self.store.update_repository(record.name, {"tag_mutability": mode, "mutability_exclusions": filters})
        result = {"registryId": self.registry.account, "repositoryName": record.name, "imageTagMutability": mode}
        if filters:
            result["imageTagMutabilityExclusionFilters"] = filters
        return result

    async def put_scanning(self, params: dict) -> dict:
        record = await self.get(params["repositoryName"])
        scan = bool(params["imageScanningConfiguration"].get("scanOnPush", False))
        await self.store.update_repository(record.name, {"scan_on_push": scan})
        return {
            "registryId": self.registry.account,
            "repositoryName": record.name,
            "imageScanningConfiguration": {"scanOnPush": scan},
        }

    # -- resource tags ----------------------------------------------------------------------

    async def _by_arn(self, arn: str) -> RepositoryRecord:
        name = repository_name_from_arn(arn)
        if name is None or arn != self.registry.arn(name):
            raise InvalidParameter("The ARN provided is invalid.")  # ECR's words for every malformed ARN
        return await self.get(name)

    async def tag(self, params: dict) -> dict:
        record = await self._by_arn(params["resourceArn"])
        tags = _merge_tags(record.resource_tags or [], params["tags"])
        check_resource_tags(tags)
        await self.store.update_repository(record.name, {"resource_tags": tags})
        return {}

    async def untag(self, params: dict) -> dict:
        record = await self._by_arn(params["resourceArn"])
        drop = set(params["tagKeys"])
        await self.store.update_repository(
            record.name, {"resource_tags": [t for t in record.resource_tags or [] if t["Key"] not in drop]}
        )
        return {}

    async def list_tags(self, params: dict) -> dict:
        return {"tags": (await self._by_arn(params["resourceArn"])).resource_tags or []}

    # -- repository policies ----------------------------------------------------------------

    async def set_policy(self, params: dict) -> dict:
        record = await self.get(params["repositoryName"])
        check_repository_policy(params["policyText"])
        await self.store.update_repository(record.name, {"repository_policy": params["policyText"]})
        self.access.forget(record.name)
        return {"registryId": self.registry.account, "repositoryName": record.name, "policyText": params["policyText"]}

    async def get_policy(self, params: dict, delete: bool = False) -> dict:
        record = await self.get(params["repositoryName"])
        if not record.repository_policy:
            raise RepositoryPolicyNotFound(
                f"Repository policy does not exist for the repository with name '{record.name}' in the "
                f"registry with id '{self.registry.account}'"
            )
        if delete:
            await self.store.update_repository(record.name, {"repository_policy": None})
            self.access.forget(record.name)
        return {
            "registryId": self.registry.account,
            "repositoryName": record.name,
            "policyText": record.repository_policy,
        }

    # -- repository creation templates --------------------------------------------------------

    def _template_body(self, params: dict) -> dict:
        prefix = params["prefix"]
        if prefix != "ROOT" and not REPOSITORY_NAME.fullmatch(prefix.rstrip("/")):
            raise invalid_parameter("prefix", "must be ROOT or a repository namespace")
        check_mutability(params.get("imageTagMutability"), params.get("imageTagMutabilityExclusionFilters"))
        check_resource_tags(params.get("resourceTags") or [])
        if params.get("repositoryPolicy"):
            check_repository_policy(params["repositoryPolicy"])
        return {k: params[k] for k in TEMPLATE_FIELDS if params.get(k) is not None} | {"prefix": prefix.rstrip("/")}

    def _template_missing(self, prefix: str) -> KikotoError:
        return TemplateNotFound(
            f"The repository creation template with prefix '{prefix}' does not exist in the registry "
            f"with id '{self.registry.account}'"
        )

    async def create_template(self, params: dict) -> dict:
        body = self._template_body(params)
        body.setdefault("imageTagMutability", "MUTABLE")
        saved = await self.store.put_template(body["prefix"], body, create=True)
        if saved is None:
            raise TemplateAlreadyExists(
                f"The repository creation template with prefix '{body['prefix']}' already exists in the "
                f"registry with id '{self.registry.account}'"
            )
        return {"registryId": self.registry.account, "repositoryCreationTemplate": saved}

    async def update_template(self, params: dict) -> dict:
        existing = {t["prefix"]: t for t in await self.store.templates()}.get(params["prefix"].rstrip("/"))
        if existing is None:
            raise self._template_missing(params["prefix"])
        merged = {k: v for k, v in existing.items() if k in TEMPLATE_FIELDS} | params
        saved = await self.store.put_template(merged["prefix"].rstrip("/"), self._template_body(merged), create=False)
        if saved is None:
            raise self._template_missing(params["prefix"])
        return {"registryId": self.registry.account, "repositoryCreationTemplate": saved}

    async def delete_template(self, params: dict) -> dict:
        deleted = await self.store.delete_template(params["prefix"].rstrip("/"))
        if deleted is None:
            raise self._template_missing(params["prefix"])
        return {"registryId": self.registry.account, "repositoryCreationTemplate": deleted}

    async def describe_templates(self, params: dict) -> dict:
        templates = await self.store.templates()
        wanted = params.get("prefixes")
        if wanted:
            templates = [t for t in templates if t["prefix"] in {p.rstrip("/") for p in wanted}]
        page, token = paginate(templates, params)
        result = {"registryId": self.registry.account, "repositoryCreationTemplates": page}
        if token:
            result["nextToken"] = token
        return result

    async def create_from_template(self, name: str) -> RepositoryRecord | None:
        """CREATE_ON_PUSH: create `name` from the most specific template that applies, if any."""
        candidates = [
            t
            for t in await self.store.templates()
            if "CREATE_ON_PUSH" in t.get("appliedFor", [])
            and (t["prefix"] == "ROOT" or name.startswith(t["prefix"] + "/"))
        ]
        if not candidates:
            return None
        template = max(candidates, key=lambda t: -1 if t["prefix"] == "ROOT" else len(t["prefix"]))
        settings = {
            "tag_mutability": template.get("imageTagMutability", "MUTABLE"),
            "mutability_exclusions": template.get("imageTagMutabilityExclusionFilters"),
            "encryption": encryption_configuration(
                template.get("encryptionConfiguration"), self.registry.region, self.registry.account
            ),
            "resource_tags": template.get("resourceTags"),
            "repository_policy": template.get("repositoryPolicy"),
            "lifecycle_policy": template.get("lifecyclePolicy"),
        }
        return await self.store.create_repository(name, settings) or await self.store.repository(name)
