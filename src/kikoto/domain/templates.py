"""Repository creation templates: the settings a new repository under a prefix gets, when it is
created by a push (CREATE_ON_PUSH), a pull-through cache's first pull or replication."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROOT = "ROOT"


@dataclass(frozen=True)
class CreationTemplate:
    prefix: str  # a repository namespace without its trailing '/', or ROOT (every repository)
    applied_for: tuple[str, ...] = ()  # CREATE_ON_PUSH, PULL_THROUGH_CACHE, REPLICATION
    description: str | None = None
    encryption: dict[str, Any] | None = None  # an encryption configuration, as repositories keep it
    resource_tags: list[dict[str, str]] = field(default_factory=list)
    tag_mutability: str = "MUTABLE"
    mutability_exclusions: list[dict[str, Any]] | None = None
    repository_policy: str | None = None
    lifecycle_policy: str | None = None
    custom_role_arn: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def applies(self, name: str, purpose: str) -> bool:
        return purpose in self.applied_for and (self.prefix == ROOT or name.startswith(self.prefix + "/"))

    @property
    def specificity(self) -> int:
        """Longer prefixes win; ROOT loses to any."""
        return -1 if self.prefix == ROOT else len(self.prefix)


def most_specific(templates: list[CreationTemplate], name: str, purpose: str) -> CreationTemplate | None:
    applying = [t for t in templates if t.applies(name, purpose)]
    return max(applying, key=lambda t: t.specificity) if applying else None
