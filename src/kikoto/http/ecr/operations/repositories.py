"""Repositories, their policies and tags, and repository creation templates."""

from __future__ import annotations

import functools
from typing import Any

from ....domain.accounts import key_range
from ....domain.errors import InvalidParameter
from ....domain.templates import CreationTemplate
from .. import shapes
from ..context import Call
from .table import operation

# -- repositories ---------------------------------------------------------------------------------


@operation("CreateRepository")
async def create_repository(call: Call) -> dict[str, Any]:
    p = call.params
    record = await call.ecr.repositories.create(
        p["repositoryName"],
        p.get("tags") or [],
        p.get("imageTagMutability"),
        p.get("imageTagMutabilityExclusionFilters"),
        bool((p.get("imageScanningConfiguration") or {}).get("scanOnPush", False)),
        p.get("encryptionConfiguration"),
    )
    return {"repository": shapes.repository(record, call.registry)}


@operation("DescribeRepositories")
async def describe_repositories(call: Call) -> dict[str, Any]:
    access, principal, p, registry = call.ecr.access, call.principal, call.params, call.registry

    async def visible(name: str) -> bool:
        return await access.allowed(principal, "ecr:DescribeRepositories", name)

    async def require(name: str) -> None:
        await access.require(principal, "ecr:DescribeRepositories", name)

    if p.get("repositoryNames") is not None:
        if p.get("maxResults") or p.get("nextToken"):
            raise InvalidParameter(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: "
                "'maxResults and nextToken cannot be used with repositoryNames'"
            )
        records = await call.ecr.repositories.named(p["repositoryNames"], require)
        return {"repositories": [shapes.repository(r, registry) for r in records]}
    within = key_range(registry.account, registry.first_account)  # the account's own repositories
    records, token = await call.ecr.repositories.listing(visible, p.get("maxResults"), p.get("nextToken"), within)
    return shapes.page("repositories", [shapes.repository(r, registry) for r in records], token)


@operation("DeleteRepository")
async def delete_repository(call: Call) -> dict[str, Any]:
    record = await call.ecr.repositories.delete(call.params["repositoryName"], bool(call.params.get("force")))
    return {"repository": shapes.repository(record, call.registry)}


@operation("PutImageTagMutability")
async def put_image_tag_mutability(call: Call) -> dict[str, Any]:
    p = call.params
    filters = p.get("imageTagMutabilityExclusionFilters")
    await call.ecr.repositories.put_mutability(p["repositoryName"], p["imageTagMutability"], filters)
    return call.of_registry(
        repositoryName=p["repositoryName"],
        imageTagMutability=p["imageTagMutability"],
        **{"imageTagMutabilityExclusionFilters": filters} if filters else {},
    )


@operation("PutImageScanningConfiguration")
async def put_image_scanning_configuration(call: Call) -> dict[str, Any]:
    name, scan = call.params["repositoryName"], bool(call.params["imageScanningConfiguration"].get("scanOnPush"))
    await call.ecr.repositories.put_scanning(name, scan)
    return call.of_registry(repositoryName=name, imageScanningConfiguration={"scanOnPush": scan})


@operation("TagResource")
async def tag_resource(call: Call) -> dict[str, Any]:
    await call.ecr.repositories.tag(call.params["resourceArn"], call.params["tags"])
    return {}


@operation("UntagResource")
async def untag_resource(call: Call) -> dict[str, Any]:
    await call.ecr.repositories.untag(call.params["resourceArn"], call.params["tagKeys"])
    return {}


@operation("ListTagsForResource")
async def list_tags_for_resource(call: Call) -> dict[str, Any]:
    return {"tags": await call.ecr.repositories.list_tags(call.params["resourceArn"])}


@operation("SetRepositoryPolicy")
async def set_repository_policy(call: Call) -> dict[str, Any]:
    record = await call.ecr.repositories.set_policy(call.params["repositoryName"], call.params["policyText"])
    return call.of_registry(repositoryName=record.name, policyText=call.params["policyText"])


async def _repository_policy(call: Call, delete: bool) -> dict[str, Any]:
    name, text = await call.ecr.repositories.get_policy(call.params["repositoryName"], delete=delete)
    return call.of_registry(repositoryName=name, policyText=text)


for _name, _delete in (("GetRepositoryPolicy", False), ("DeleteRepositoryPolicy", True)):  # the same answer
    operation(_name)(functools.partial(_repository_policy, delete=_delete))


def _template(call: Call, template: CreationTemplate) -> dict[str, Any]:
    return call.of_registry(repositoryCreationTemplate=shapes.template(template))


@operation("CreateRepositoryCreationTemplate")
async def create_repository_creation_template(call: Call) -> dict[str, Any]:
    template = CreationTemplate(**shapes.template_fields(call.params))
    return _template(call, await call.ecr.repositories.create_template(template))


@operation("UpdateRepositoryCreationTemplate")
async def update_repository_creation_template(call: Call) -> dict[str, Any]:
    changes = shapes.template_fields(call.params)
    return _template(call, await call.ecr.repositories.update_template(changes.pop("prefix"), changes))


@operation("DeleteRepositoryCreationTemplate")
async def delete_repository_creation_template(call: Call) -> dict[str, Any]:
    return _template(call, await call.ecr.repositories.delete_template(call.params["prefix"]))


@operation("DescribeRepositoryCreationTemplates")
async def describe_repository_creation_templates(call: Call) -> dict[str, Any]:
    p = call.params
    templates, token = await call.ecr.repositories.templates(p.get("prefixes"), p.get("maxResults"), p.get("nextToken"))
    return shapes.page(
        "repositoryCreationTemplates",
        [shapes.template(t) for t in templates],
        token,
        registryId=call.registry.account,
    )
