"""Pull-through cache rules: which upstream registry a repository name maps to, and how.

As on ECR: a rule's `ecrRepositoryPrefix` (or ROOT) selects the repositories it caches; the rest
of the name, behind the rule's `upstreamRepositoryPrefix` (ROOT: nothing), is the upstream
repository; Docker Hub's official images live under `library/`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from ...domain.errors import UnsupportedUpstream

ROOT = "ROOT"

# ECR's upstreamRegistry enum and the one host each stands for (None: the host varies).
UPSTREAM_HOSTS: dict[str, str | None] = {
    "ecr-public": "public.ecr.aws",
    "docker-hub": "registry-1.docker.io",
    "github-container-registry": "ghcr.io",
    "gitlab-container-registry": "registry.gitlab.com",
    "k8s": "registry.k8s.io",
    "quay": "quay.io",
    "chainguard": "cgr.dev",
    "azure-container-registry": None,  # <name>.azurecr.io
    "ecr": None,  # <account>.dkr.ecr.<region>.amazonaws.com
}
HOST_SUFFIXES = {"azure-container-registry": ".azurecr.io", "ecr": ".amazonaws.com"}
# Upstreams ECR accepts only with a Secrets Manager credential.
NEEDS_CREDENTIALS = {
    "docker-hub",
    "github-container-registry",
    "gitlab-container-registry",
    "azure-container-registry",
    "chainguard",
}
SECRET_PREFIX = "ecr-pullthroughcache/"


@dataclass(frozen=True)
class Rule:
    prefix: str  # ecrRepositoryPrefix without a trailing '/', or ROOT
    upstream_registry: str | None  # ECR's enum value; None: any OCI registry by URL
    upstream_url: str  # as given (a host, or a URL with its scheme)
    credential_arn: str | None
    custom_role_arn: str | None
    upstream_prefix: str  # ROOT or a prefix without a trailing '/'
    created_at: float
    updated_at: float

    @property
    def base_url(self) -> str:
        """scheme://host[:port] of the upstream's /v2/ API."""
        return base_url(self.upstream_url)

    def covers(self, name: str) -> bool:
        return self.prefix == ROOT or name.startswith(self.prefix + "/")

    def upstream_repository(self, name: str) -> str:
        rest = name if self.prefix == ROOT else name[len(self.prefix) + 1 :]
        if self.upstream_prefix != ROOT:
            rest = f"{self.upstream_prefix}/{rest}"
        if self.upstream_registry == "docker-hub" and "/" not in rest:
            rest = f"library/{rest}"  # `docker pull nginx` means library/nginx, on ECR too
        return rest


def normalise_prefix(prefix: str) -> str:
    return prefix if prefix == ROOT else prefix.rstrip("/")


def best_rule(rules: list[Rule], name: str) -> Rule | None:
    """The most specific rule covering `name` (a named prefix before ROOT)."""
    covering = [r for r in rules if r.covers(name)]
    return max(covering, key=lambda r: -1 if r.prefix == ROOT else len(r.prefix)) if covering else None


def base_url(url: str) -> str:
    return url.rstrip("/") if "://" in url else f"https://{url.rstrip('/')}"


def check_upstream(registry: str | None, url: str, allow_insecure: bool) -> str | None:
    """Validate a rule's upstream; returns the enum value it names (inferred from a known host
    when the rule gave none). Raises UnsupportedUpstream in ECR's words."""
    parsed = urllib.parse.urlsplit(base_url(url))
    host = (parsed.hostname or "").lower()
    if parsed.scheme not in ("https", "http") or not host or parsed.username or parsed.password:
        raise UnsupportedUpstream(f"The upstream registry URL '{url}' is not a valid registry URL.")
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise UnsupportedUpstream(f"The upstream registry URL '{url}' must name a registry host, not a path.")
    if parsed.scheme == "http" and not allow_insecure:
        raise UnsupportedUpstream(
            f"The upstream registry URL '{url}' is not secure: plain http upstreams need the "
            f"pull_through_insecure_upstreams setting."
        )
    if registry is None:
        return next((name for name, known in UPSTREAM_HOSTS.items() if known == host), None)
    expected = UPSTREAM_HOSTS[registry]
    suffix = HOST_SUFFIXES.get(registry)
    if (expected is not None and host != expected) or (suffix is not None and not host.endswith(suffix)):
        wanted = expected or f"*{suffix}"
        raise UnsupportedUpstream(
            f"The upstream registry URL '{url}' is not supported for the upstream registry '{registry}'; "
            f"it must be '{wanted}'."
        )
    return registry


def secret_name(arn: str) -> str:
    """The secret name an ARN refers to (its `-XXXXXX` suffix, when present, is kept: lookups
    accept a full ARN or a partial one)."""
    return arn.split(":secret:", 1)[1] if ":secret:" in arn else arn


@dataclass(frozen=True)
class SecretRow:
    """A secret of the Secrets Manager subset, its value still encrypted."""

    name: str
    arn: str
    value: str | None  # encrypted
    version_id: str | None
    description: str | None
    tags: list[Any]
    created_at: float
    changed_at: float
    deletion_date: float | None
