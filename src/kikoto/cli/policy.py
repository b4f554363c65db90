"""`kikoto policy simulate`: what a principal would be allowed, and which statement decides
(IAM's SimulatePrincipalPolicy, for the identity and repository policies Kikötő holds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import failing, storage_options, with_registry


@click.group()
def policy() -> None:
    """Check what policies allow."""


@policy.command("simulate")
@storage_options
@click.option("--principal", "name", required=True, help="A user's name, or a user's or role's ARN.")
@click.option("--action", required=True, help="An ECR action: ecr:BatchGetImage, PutImage, ...")
@click.option("--repository", help="The repository it would act on (none: a registry-wide action).")
@click.option("--source-ip", help="aws:SourceIp of the request (default: absent, as from the CLI).")
@click.option("--secure/--not-secure", default=False, help="aws:SecureTransport: over TLS or not.")
@click.option("--request-tag", "request_tags", multiple=True, help="KEY=VALUE, for aws:RequestTag and aws:TagKeys.")
def policy_simulate(
    config_file: Path | None,
    name: str,
    action: str,
    repository: str | None,
    source_ip: str | None,
    secure: bool,
    request_tags: tuple[str, ...],
    **options: Any,
) -> None:
    """Say whether NAME may do ACTION, and which statement of which policy decides."""
    from ..domain.errors import InvalidParameter
    from ..services.access import RequestFacts

    action = action if ":" in action else f"ecr:{action}"
    tags = dict(tag.partition("=")[::2] for tag in request_tags)

    async def simulate(registry: Any) -> str:
        principal = await registry.identities.as_principal(name)  # a user's name, or a user's or role's ARN
        if principal is None:
            raise InvalidParameter(f"no principal {name!r} (kikoto keys list shows them)")
        facts = RequestFacts(source_ip=source_ip, secure=secure, request_tags=tags)
        verdict, documents, place = await registry.access.explain(principal, action, repository, facts)
        target = registry.access.resource(repository)
        if verdict.decision is None or verdict.statement is None or verdict.document is None:
            return f"implicit deny: nothing in {' nor '.join(documents)} allows {action} on {target}"
        sid = f' "{verdict.statement.sid}"' if verdict.statement.sid else ""
        word = "allow" if verdict.decision == "Allow" else "explicit deny"
        return f"{word}: {action} on {target}\n  decided by statement {place}{sid} of {documents[verdict.document]}"

    click.echo(with_registry(failing(simulate), config_file, options))
