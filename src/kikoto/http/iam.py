"""POST / without X-Amz-Target: the IAM API (AWS's query protocol), for `aws iam ...` and boto3
on the registry's own endpoint. The request is a form read by botocore's model of IAM
(`Tags.member.1.Key=...`), checked by the same model walker as the ECR face, authorised with
IAM's action names (iam:CreateUser on arn:aws:iam::<account>:user/<name>), and answered in the
model's XML. The subset ECR users script against: users, access keys, inline policies, tags."""

from __future__ import annotations

import datetime
import logging
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from ..domain import errors as e
from ..domain.audit import OK, Change, changes
from ..domain.ecr import repository_name_from_arn
from ..services.access import Access, request_facts
from ..services.identity import Principal
from ..services.policies import InlinePolicies, ManagedPolicy, Policies
from ..services.sts import ExpiredToken, IdpUnreachable, InvalidIdentityToken, Roles
from ..services.users import Users
from . import sigv4
from .ecr.api import ECR, authenticate
from .ecr.errors import EcrError
from .ecr.validation import service_model, validate
from .errors import lookup
from .limits import read_body
from .services import AUDIT

log = logging.getLogger("kikoto.iam")
USERS = web.AppKey("iam_users", Users)
NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
ROLES = web.AppKey("iam_roles", Roles)
POLICIES = web.AppKey("iam_policies", Policies)
FORM_LIMIT = 64 << 10  # an unsigned AssumeRoleWithWebIdentity: a token of up to 20,000 characters
PAGE = 100
IAM_ERRORS: dict[type, tuple[str, int]] = {  # class -> (IAM's code, HTTP status)
    e.KikotoError: ("ServiceFailure", 500),
    e.EntityNotFound: ("NoSuchEntity", 404),
    e.EntityExists: ("EntityAlreadyExists", 409),
    e.DeleteConflict: ("DeleteConflict", 409),
    e.LimitExceeded: ("LimitExceeded", 409),
    e.MalformedPolicy: ("MalformedPolicyDocument", 400),
    e.InvalidInput: ("InvalidInput", 400),
    e.AccessDenied: ("AccessDenied", 403),
    InvalidIdentityToken: ("InvalidIdentityToken", 400),
    ExpiredToken: ("ExpiredTokenException", 400),
    IdpUnreachable: ("IDPCommunicationError", 400),
    e.Throttled: ("Throttling", 400),
}


@dataclass(frozen=True)
class Face:
    """What an operation is called with: the services, the account, and the caller."""

    users: Users
    roles: Roles
    policies: Policies
    account: str
    principal: Principal | None
    access: Access


Operation = Callable[[Face, dict[str, Any]], Awaitable[dict[str, Any]]]


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(params: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in params.get("Tags") or []}


def _user(account: str, row: Any, tags: dict[str, str] | None = None) -> dict[str, Any]:
    user = {
        "Path": "/",
        "UserName": row.name,
        "UserId": "AIDA" + uuid.uuid5(uuid.NAMESPACE_URL, f"{account}/{row.name}").hex[:17].upper(),
        "Arn": f"arn:aws:iam::{account}:user/{row.name}",
        "CreateDate": _when(row.created_at),
    }
    return user | ({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {})


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """IAM's Marker paging over a listing already read in name order."""
    limit = params.get("MaxItems") or PAGE
    after = params.get("Marker") or ""
    rest = [i for i in items if i[0] > after]
    shown = rest[:limit]
    more = {"IsTruncated": True, "Marker": shown[-1][0]} if len(rest) > limit else {"IsTruncated": False}
    return [i[1] for i in shown], more


def operations(account: str) -> dict[str, Operation]:  # noqa: C901 (one table of small operations)
    async def create_user(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        row = await f.users.create(p["UserName"], _tags(p))
        return {"User": _user(account, row, _tags(p))}

    async def get_user(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        row = await f.users.user(p["UserName"])
        return {"User": _user(account, row, await f.users.tags(row.name))}

    async def list_users(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        limit = p.get("MaxItems") or PAGE
        rows = await f.users.page(p.get("Marker") or "", limit + 1)
        more = {"IsTruncated": True, "Marker": rows[limit - 1].name} if len(rows) > limit else {"IsTruncated": False}
        return {"Users": [_user(account, r) for r in rows[:limit]], **more}

    async def delete_user(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.users.delete(p["UserName"])
        return {}

    async def create_access_key(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        made = await f.users.create_key(p["UserName"])
        key = {"UserName": p["UserName"], "AccessKeyId": made.key_id, "Status": "Active"}
        return {"AccessKey": key | {"SecretAccessKey": made.secret, "CreateDate": _when(made.created_at)}}

    async def list_access_keys(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        keys = [
            (
                k.id,
                {"UserName": p["UserName"], "AccessKeyId": k.id, "Status": k.status, "CreateDate": _when(k.created_at)},
            )
            for k in await f.users.keys(p["UserName"])
        ]
        shown, more = _page(keys, p)
        return {"AccessKeyMetadata": shown, **more}

    async def update_access_key(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.users.set_key_status(p["UserName"], p["AccessKeyId"], p["Status"])
        return {}

    async def delete_access_key(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.users.delete_key(p["UserName"], p["AccessKeyId"])
        return {}

    async def tag_user(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.users.tag(p["UserName"], _tags(p))
        return {}

    async def untag_user(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.users.untag(p["UserName"], list(p["TagKeys"]))
        return {}

    async def list_user_tags(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        shown, more = _page([(k, {"Key": k, "Value": v}) for k, v in (await f.users.tags(p["UserName"])).items()], p)
        return {"Tags": shown, **more}

    def _role(row: Any) -> dict[str, Any]:
        return {
            "Path": "/",
            "RoleName": row.name,
            "RoleId": "AROA" + uuid.uuid5(uuid.NAMESPACE_URL, f"{account}/role/{row.name}").hex[:17].upper(),
            "Arn": f"arn:aws:iam::{account}:role/{row.name}",
            "CreateDate": _when(row.created_at),
            "AssumeRolePolicyDocument": urllib.parse.quote(row.trust_policy, safe=""),
            "MaxSessionDuration": row.max_session,
        }

    async def create_role(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        row = await f.roles.create_role(p["RoleName"], p["AssumeRolePolicyDocument"], p.get("MaxSessionDuration"))
        return {"Role": _role(row)}

    async def get_role(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        return {"Role": _role(await f.roles.role(p["RoleName"]))}

    async def tag_role(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.roles.tag_role(p["RoleName"], _tags(p))
        return {}

    async def untag_role(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.roles.untag_role(p["RoleName"], list(p["TagKeys"]))
        return {}

    async def list_role_tags(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        tags = (await f.roles.role(p["RoleName"])).tags
        shown, more = _page([(k, {"Key": k, "Value": v}) for k, v in sorted(tags.items())], p)
        return {"Tags": shown, **more}

    async def delete_role(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.roles.delete_role(p["RoleName"])
        return {}

    async def update_assume_role_policy(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.roles.update_trust(p["RoleName"], p["PolicyDocument"])
        return {}

    async def create_provider(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        row = await f.roles.add_provider(p["Url"], list(p.get("ClientIDList") or []))
        return {"OpenIDConnectProviderArn": f.roles.provider_arn(row.url)}

    async def get_provider(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        row = await f.roles.provider(p["OpenIDConnectProviderArn"])
        return {"Url": row.url, "ClientIDList": list(row.client_ids), "CreateDate": _when(row.created_at)}

    async def list_providers(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        rows = await f.roles.providers()
        return {"OpenIDConnectProviderList": [{"Arn": f.roles.provider_arn(r.url)} for r in rows]}

    async def delete_provider(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.roles.delete_provider(p["OpenIDConnectProviderArn"])
        return {}

    def _policy(policy: ManagedPolicy) -> dict[str, Any]:
        return {
            "PolicyName": policy.name,
            "PolicyId": "ANPA" + uuid.uuid5(uuid.NAMESPACE_URL, policy.arn).hex[:17].upper(),
            "Arn": policy.arn,
            "Path": "/",
            "DefaultVersionId": f"v{policy.default_version}",
            "AttachmentCount": policy.attachments,
            "IsAttachable": True,
            "CreateDate": _when(policy.created_at),
            "UpdateDate": _when(policy.created_at),
        }

    async def holder(f: Face, kind: str, p: dict[str, Any]) -> int:
        if kind == "user":
            return (await f.users.user(p["UserName"])).id
        if kind == "group":
            return (await f.policies.group(p["GroupName"])).id
        return (await f.roles.role(p["RoleName"])).id

    def attaching(kind: str, attach: bool) -> Operation:
        async def run(f: Face, p: dict[str, Any]) -> dict[str, Any]:
            held = await holder(f, kind, p)
            await (f.policies.attach if attach else f.policies.detach)(kind, held, p["PolicyArn"])
            return {}

        return run

    def listing_attached(kind: str) -> Operation:
        async def run(f: Face, p: dict[str, Any]) -> dict[str, Any]:
            arns = await f.policies.store.attached(kind, await holder(f, kind, p))
            shown, more = _page([(a, {"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a}) for a in arns], p)
            return {"AttachedPolicies": shown, **more}

        return run

    async def create_policy(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        return {"Policy": _policy(await f.policies.create(p["PolicyName"], p["PolicyDocument"]))}

    async def get_policy(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        return {"Policy": _policy(await f.policies.get(p["PolicyArn"]))}

    async def get_policy_version(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        document, default, created = await f.policies.version(p["PolicyArn"], p["VersionId"])
        version = {"Document": urllib.parse.quote(document, safe=""), "VersionId": p["VersionId"]}
        return {"PolicyVersion": version | {"IsDefaultVersion": default, "CreateDate": _when(created)}}

    async def create_policy_version(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        default = bool(p.get("SetAsDefault"))
        number, created = await f.policies.add_version(p["PolicyArn"], p["PolicyDocument"], default)
        version = {"VersionId": f"v{number}", "IsDefaultVersion": default, "CreateDate": _when(created)}
        return {"PolicyVersion": version}

    async def list_policies(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        limit = p.get("MaxItems") or PAGE
        found = await f.policies.page(p.get("Marker") or "", limit + 1, p.get("Scope") or "All")
        more = {"IsTruncated": True, "Marker": found[limit - 1].name} if len(found) > limit else {"IsTruncated": False}
        return {"Policies": [_policy(x) for x in found[:limit]], **more}

    async def delete_policy(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.policies.delete(p["PolicyArn"])
        return {}

    def _group(row: Any) -> dict[str, Any]:
        return {
            "Path": "/",
            "GroupName": row.name,
            "GroupId": "AGPA" + uuid.uuid5(uuid.NAMESPACE_URL, f"{account}/group/{row.name}").hex[:17].upper(),
            "Arn": f"arn:aws:iam::{account}:group/{row.name}",
            "CreateDate": _when(row.created_at),
        }

    async def create_group(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        return {"Group": _group(await f.policies.create_group(p["GroupName"]))}

    async def get_group(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        row, members = await f.policies.members(p["GroupName"])
        return {"Group": _group(row), "Users": [_user(account, m) for m in members], "IsTruncated": False}

    async def delete_group(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        await f.policies.delete_group(p["GroupName"])
        return {}

    async def add_user_to_group(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        group, user = await f.policies.group(p["GroupName"]), await f.users.user(p["UserName"])
        await f.policies.store.add_member(group.id, user.id)
        return {}

    async def remove_user_from_group(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        group, user = await f.policies.group(p["GroupName"]), await f.users.user(p["UserName"])
        if not await f.policies.store.remove_member(group.id, user.id):
            raise e.EntityNotFound(f"The user {user.name} is not in the group {group.name}.")
        return {}

    async def list_groups_for_user(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        groups = await f.policies.store.groups_of((await f.users.user(p["UserName"])).id)
        shown, more = _page([(g.name, _group(g)) for g in groups], p)
        return {"Groups": shown, **more}

    async def simulate_principal_policy(f: Face, p: dict[str, Any]) -> dict[str, Any]:
        """What the user or role would be allowed, per action and resource, and which statement decides."""
        principal = await f.users.identities.as_principal(p["PolicySourceArn"])
        if principal is None:
            raise e.EntityNotFound(f"The entity {p['PolicySourceArn'][:300]} cannot be found.")
        extra = {
            c["ContextKeyName"].lower(): (
                c["ContextKeyValues"] if c.get("ContextKeyType", "").endswith("List") else c["ContextKeyValues"][0]
            )
            for c in p.get("ContextEntries") or []
            if c.get("ContextKeyValues")
        }
        results = []
        for action in p["ActionNames"]:
            for resource in p.get("ResourceArns") or ["*"]:
                repository = repository_name_from_arn(resource) or None
                verdict, documents, place = await f.access.explain(
                    principal, action, repository, request_facts(), extra
                )
                decision = {"Allow": "allowed", "Deny": "explicitDeny"}.get(verdict.decision or "", "implicitDeny")
                matched = []
                if verdict.document is not None:
                    kind = "user" if verdict.document == 0 else "resource"
                    matched = [{"SourcePolicyId": documents[verdict.document], "SourcePolicyType": kind}]
                results.append(
                    {
                        "EvalActionName": action,
                        "EvalResourceName": resource,
                        "EvalDecision": decision,
                        "MatchedStatements": matched,
                        "MissingContextValues": [],
                    }
                )
        return {"EvaluationResults": results, "IsTruncated": False}

    def inline(kind: str) -> dict[str, Operation]:
        """Put/Get/List/Delete<Kind>Policy: a user's, group's or role's inline policies."""
        key = f"{kind}Name"

        def policies(f: Face) -> InlinePolicies:
            return {"User": f.users.inline, "Group": f.policies.inline, "Role": f.roles.inline}[kind]

        async def put(f: Face, p: dict[str, Any]) -> dict[str, Any]:
            await policies(f).put(p[key], p["PolicyName"], p["PolicyDocument"])
            return {}

        async def get(f: Face, p: dict[str, Any]) -> dict[str, Any]:
            document = urllib.parse.quote(await policies(f).get(p[key], p["PolicyName"]), safe="")  # IAM encodes it
            return {key: p[key], "PolicyName": p["PolicyName"], "PolicyDocument": document}

        async def listing(f: Face, p: dict[str, Any]) -> dict[str, Any]:
            shown, more = _page([(n, n) for n in await policies(f).names(p[key])], p)
            return {"PolicyNames": shown, **more}

        async def delete(f: Face, p: dict[str, Any]) -> dict[str, Any]:
            await policies(f).delete(p[key], p["PolicyName"])
            return {}

        names = (f"Put{kind}Policy", f"Get{kind}Policy", f"List{kind}Policies", f"Delete{kind}Policy")
        return dict(zip(names, (put, get, listing, delete), strict=True))

    return {
        **inline("User"),
        **inline("Group"),
        **inline("Role"),
        "SimulatePrincipalPolicy": simulate_principal_policy,
        "CreatePolicy": create_policy,
        "GetPolicy": get_policy,
        "GetPolicyVersion": get_policy_version,
        "CreatePolicyVersion": create_policy_version,
        "ListPolicies": list_policies,
        "DeletePolicy": delete_policy,
        **{f"Attach{k.title()}Policy": attaching(k, True) for k in ("user", "group", "role")},
        **{f"Detach{k.title()}Policy": attaching(k, False) for k in ("user", "group", "role")},
        **{f"ListAttached{k.title()}Policies": listing_attached(k) for k in ("user", "group", "role")},
        "CreateGroup": create_group,
        "GetGroup": get_group,
        "DeleteGroup": delete_group,
        "AddUserToGroup": add_user_to_group,
        "RemoveUserFromGroup": remove_user_from_group,
        "ListGroupsForUser": list_groups_for_user,
        "TagRole": tag_role,
        "UntagRole": untag_role,
        "ListRoleTags": list_role_tags,
        "CreateRole": create_role,
        "GetRole": get_role,
        "DeleteRole": delete_role,
        "UpdateAssumeRolePolicy": update_assume_role_policy,
        "CreateOpenIDConnectProvider": create_provider,
        "GetOpenIDConnectProvider": get_provider,
        "ListOpenIDConnectProviders": list_providers,
        "DeleteOpenIDConnectProvider": delete_provider,
        "CreateUser": create_user,
        "GetUser": get_user,
        "ListUsers": list_users,
        "DeleteUser": delete_user,
        "CreateAccessKey": create_access_key,
        "ListAccessKeys": list_access_keys,
        "UpdateAccessKey": update_access_key,
        "DeleteAccessKey": delete_access_key,
        "TagUser": tag_user,
        "UntagUser": untag_user,
        "ListUserTags": list_user_tags,
    }


# -- the query protocol --------------------------------------------------------------------------


def from_form(form: dict[str, str], shape: Any, prefix: str = "") -> Any:
    """The request's members, by botocore's shape: `Name`, `Name.member.N`, `Name.N.Key`."""
    if shape.type_name == "structure":
        found = {}
        for name, member in shape.members.items():
            key = f"{prefix}{name}"
            if member.type_name in ("structure", "list", "map"):
                value = from_form(form, member, key + ".")
                if value not in (None, [], {}):
                    found[name] = value
            elif key in form:
                found[name] = _scalar(form[key], member.type_name)
        return found
    if shape.type_name == "list":
        base = prefix if shape.serialization.get("flattened") else f"{prefix}member."
        # the members' numbers, read in one pass over the form (not once per member)
        numbers = {k[len(base) :].split(".", 1)[0] for k in form if k.startswith(base)}
        items, n = [], 1
        while n <= 1000 and str(n) in numbers:
            if shape.member.type_name == "structure":
                items.append(from_form(form, shape.member, f"{base}{n}."))
            else:
                items.append(_scalar(form.get(f"{base}{n}", ""), shape.member.type_name))
            n += 1
        return items
    return None  # maps: no operation of the subset takes one


def _scalar(text: str, kind: str) -> Any:
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise EcrError("ValidationError", f"{text[:64]!r} is not an integer") from None
    if kind == "boolean":
        return text.lower() == "true"
    return text


def to_xml(value: Any, shape: Any) -> str:
    if shape.type_name == "structure":
        return "".join(f"<{n}>{to_xml(value[n], m)}</{n}>" for n, m in shape.members.items() if n in value)
    if shape.type_name == "list":
        return "".join(f"<member>{to_xml(item, shape.member)}</member>" for item in value)
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return escape(str(value))


def _answer(operation: str, body: str, request_id: str, namespace: str = NAMESPACE) -> web.Response:
    text = (
        f'<{operation}Response xmlns="{namespace}">{body}'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>"
    )
    return web.Response(text=text, content_type="text/xml")


def _error(code: str, message: str, status: int, request_id: str) -> web.Response:
    kind = "Sender" if status < 500 else "Receiver"
    text = (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return web.Response(text=text, status=status, content_type="text/xml")


async def handle(request: web.Request) -> web.Response:
    """IAM's operations, and STS's: AssumeRoleWithWebIdentity (unsigned: the token is the
    credential) and GetCallerIdentity. Signed requests name their service in the credential scope."""
    request_id, ecr = str(uuid.uuid4()), request.app[ECR]
    if "Authorization" not in request.headers and "X-Amz-Credential" not in request.query:
        form = _form(await read_body(request, FORM_LIMIT))
        if form.get("Action") != "AssumeRoleWithWebIdentity":
            return _error("MissingAuthenticationToken", "Request is missing Authentication Token", 403, request_id)
        return await _assume(request, form, request_id)
    service = "sts" if "/sts/aws4_request" in request.headers.get("Authorization", "") else "iam"
    model, account = service_model(service), ecr.registry.account
    principal: Principal | None = None
    operation, params = "", dict[str, Any]()
    try:
        try:  # IAM and STS are global: botocore signs them for us-east-1 whatever the registry's region
            principal, body = await authenticate(request, ecr, "", service, ("us-east-1", ecr.registry.region))
        except sigv4.SignatureError as exc:
            unknown = exc.error_type == "UnrecognizedClientException"
            return _error("InvalidClientTokenId" if unknown else "SignatureDoesNotMatch", exc.message, 403, request_id)
        form = _form(body)
        operation = form.get("Action", "")
        handlers = (
            operations(account)
            if service == "iam"
            else {"GetCallerIdentity": caller_identity, "AssumeRole": assume_role}
        )
        if operation not in handlers:
            missing = f"Could not find operation {operation[:64]} for version {model.api_version}"
            return _error("InvalidAction", missing, 400, request_id)
        shape = model.operation_model(operation)
        params = from_form(form, shape.input_shape) if shape.input_shape else {}
        if shape.input_shape is not None:
            validate(params, shape.input_shape)
        if service == "iam":
            await ecr.access.require(principal, f"iam:{operation}", None, _resource(account, params))
        face = Face(request.app[USERS], request.app[ROLES], request.app[POLICIES], account, principal, ecr.access)
        result = await handlers[operation](face, params)
        out = shape.output_shape
        inner = f"<{operation}Result>{to_xml(result, out)}</{operation}Result>" if out is not None else ""
        await _audit(request, principal, operation, params, OK)
        namespace = NAMESPACE if service == "iam" else STS_NAMESPACE
        return _answer(operation, inner, request_id, namespace)
    except EcrError as invalid:  # the model walker's refusal, in IAM's code
        await _audit(request, principal, operation, params, "ValidationError")
        return _error("ValidationError", invalid.message, 400, request_id)
    except e.KikotoError as failure:
        code, status = lookup(IAM_ERRORS, failure)
        code = "ValidationError" if service == "sts" and code == "InvalidInput" else code  # STS's word for it
        await _audit(request, principal, operation, params, code)
        return _error(code, failure.message, status, request_id)


def _form(body: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _resource(account: str, params: dict[str, Any]) -> str:
    """The ARN an IAM operation acts on (iam:<Operation> is authorised on it)."""
    if "GroupName" in params and "UserName" not in params:
        return f"arn:aws:iam::{account}:group/{params['GroupName']}"
    if "PolicyArn" in params and not ({"UserName", "RoleName", "GroupName"} & set(params)):
        return str(params["PolicyArn"])
    if "RoleName" in params:
        return f"arn:aws:iam::{account}:role/{params['RoleName']}"
    if "UserName" in params:
        return f"arn:aws:iam::{account}:user/{params['UserName']}"
    return str(params.get("OpenIDConnectProviderArn") or "*")


async def caller_identity(f: Face, p: dict[str, Any]) -> dict[str, Any]:
    assert f.principal is not None
    return {"UserId": f.principal.key_id or f.principal.name, "Account": f.account, "Arn": f.principal.arn}


async def assume_role(f: Face, p: dict[str, Any]) -> dict[str, Any]:
    """STS AssumeRole: the role's keys for a signed caller its trust policy trusts."""
    assert f.principal is not None
    tags = _tags(p)
    facts = request_facts()
    if facts is not None:
        facts.request_tags = tags  # aws:RequestTag/* and aws:TagKeys: the session tags asked for
    context = dict(f.access.context(f.principal, None, facts))
    if p.get("ExternalId"):
        context["sts:externalid"] = p["ExternalId"]

    async def allowed(role_arn: str) -> bool:
        return await f.access.decide(f.principal, "sts:AssumeRole", None, role_arn) == "Allow"

    made = await f.roles.assume(
        f.principal, allowed, context, p["RoleArn"], p["RoleSessionName"], p.get("DurationSeconds"), tags
    )
    arn = f"arn:aws:sts::{f.account}:assumed-role/{made.role.name}/{made.session_name}"
    credentials = {"AccessKeyId": made.key_id, "SecretAccessKey": made.secret, "SessionToken": made.session_token}
    return {
        "Credentials": credentials | {"Expiration": _when(made.expires_at)},
        "AssumedRoleUser": {"AssumedRoleId": f"{made.key_id}:{made.session_name}", "Arn": arn},
    }


STS_OPERATIONS: dict[str, Operation] = {"GetCallerIdentity": caller_identity, "AssumeRole": assume_role}


async def _assume(request: web.Request, form: dict[str, str], request_id: str) -> web.Response:
    operation, roles = "AssumeRoleWithWebIdentity", request.app[ROLES]
    shape = service_model("sts").operation_model(operation)
    try:
        params = from_form(form, shape.input_shape)
        validate(params, shape.input_shape)
        made = await roles.assume_with_web_identity(
            params["RoleArn"], params["RoleSessionName"], params["WebIdentityToken"], params.get("DurationSeconds")
        )
    except EcrError as invalid:
        return _error("ValidationError", invalid.message, 400, request_id)
    except e.KikotoError as failure:
        code, status = lookup(IAM_ERRORS, failure)
        return _error("ValidationError" if code == "InvalidInput" else code, failure.message, status, request_id)
    arn = f"arn:aws:sts::{roles.account}:assumed-role/{made.role.name}/{made.session_name}"
    result = {
        "Credentials": {
            "AccessKeyId": made.key_id,
            "SecretAccessKey": made.secret,
            "SessionToken": made.session_token,
            "Expiration": _when(made.expires_at),
        },
        "SubjectFromWebIdentityToken": made.subject,
        "AssumedRoleUser": {"AssumedRoleId": f"{made.key_id}:{made.session_name}", "Arn": arn},
        "Provider": made.provider,
        "Audience": made.audience,
    }
    who = f"web-identity:{made.provider.split('/', 1)[-1]}:{made.subject}"
    await request.app[AUDIT].record(Change(who, f"sts:{operation}", request.remote or "", OK, detail={"role": arn}))
    inner = f"<{operation}Result>{to_xml(result, shape.output_shape)}</{operation}Result>"
    return _answer(operation, inner, request_id, STS_NAMESPACE)


async def _audit(
    request: web.Request, principal: Principal | None, operation: str, params: dict[str, Any], outcome: str
) -> None:
    if principal is not None and operation and changes(operation):
        detail: dict[str, Any] = {k: params[k] for k in ("UserName", "PolicyName", "AccessKeyId") if k in params}
        await request.app[AUDIT].record(
            Change(principal.arn, f"iam:{operation}", request.remote or "", outcome, detail=detail)
        )
