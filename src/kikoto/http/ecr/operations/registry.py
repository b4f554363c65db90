"""The registry as a whole: login, registry policy, account settings, pull-time exclusions."""

from __future__ import annotations

import base64
import time
from typing import Any

from ....domain.errors import RegistryPolicyNotFound
from ..context import Call
from .table import operation


@operation("GetAuthorizationToken")
async def get_authorization_token(call: Call) -> dict[str, Any]:
    password, expires = call.ecr.identities.issue(call.principal)
    token = base64.b64encode(f"AWS:{password}".encode()).decode()
    return {
        "authorizationData": [
            {"authorizationToken": token, "expiresAt": expires, "proxyEndpoint": call.registry.endpoint}
        ]
    }


@operation("PutRegistryPolicy")
async def put_registry_policy(call: Call) -> dict[str, Any]:
    text = call.params["policyText"]
    await call.ecr.settings.put_registry_policy(text, call.registry.account)
    return call.of_registry(policyText=text)


async def _registry_policy(call: Call) -> str:
    text = await call.ecr.settings.registry_policy(call.registry.account)
    if text is None:
        raise RegistryPolicyNotFound(
            f"Registry policy does not exist in the registry with id '{call.registry.account}'"
        )
    return text


@operation("GetRegistryPolicy")
async def get_registry_policy(call: Call) -> dict[str, Any]:
    return call.of_registry(policyText=await _registry_policy(call))


@operation("DeleteRegistryPolicy")
async def delete_registry_policy(call: Call) -> dict[str, Any]:
    text = await _registry_policy(call)
    await call.ecr.settings.put_registry_policy(None, call.registry.account)
    return call.of_registry(policyText=text)


@operation("GetAccountSetting")
async def get_account_setting(call: Call) -> dict[str, Any]:
    name = call.params["name"]
    return {"name": name, "value": await call.ecr.settings.get(name, call.registry.account)}


@operation("PutAccountSetting")
async def put_account_setting(call: Call) -> dict[str, Any]:
    name, value = call.params["name"], call.params["value"]
    return {"name": name, "value": await call.ecr.settings.put(name, value, call.registry.account)}


@operation("RegisterPullTimeUpdateExclusion")
async def register_pull_time_update_exclusion(call: Call) -> dict[str, Any]:
    arn = call.params["principalArn"]
    await call.ecr.settings.register(arn, call.registry.account)
    return {"principalArn": arn, "createdAt": time.time()}


@operation("DeregisterPullTimeUpdateExclusion")
async def deregister_pull_time_update_exclusion(call: Call) -> dict[str, Any]:
    arn = call.params["principalArn"]
    await call.ecr.settings.deregister(arn, call.registry.account)
    return {"principalArn": arn}


@operation("ListPullTimeUpdateExclusions")
async def list_pull_time_update_exclusions(call: Call) -> dict[str, Any]:
    page, token = await call.ecr.settings.list_exclusions(call.params, call.registry.account)
    return {"pullTimeUpdateExclusions": page, **({"nextToken": token} if token else {})}
