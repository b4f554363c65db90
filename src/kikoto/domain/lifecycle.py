"""Lifecycle policies: validation with ECR's messages, and `evaluate(policy, images, now)`.

ECR's semantics (ecr-behaviour.md §3): all rules are evaluated together and applied in
priority order; an image gets at most one action; an image whose tags match a
higher-priority rule's selection is never acted on by a lower-priority rule, yet still
counts in lower rules' totals. Kikötő extensions, refused by `strict=True`: `tagged`
without a prefix or pattern list (every tagged image), the `retain` action, and
`sinceImagePulled` with `expire`.

Images referenced by an index are not acted on while the index stays; referrers (an image
whose subject is in the repository) follow their subject instead of being selected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .glob import glob_match

DAY = 86400.0
MAX_RULES = 50
ARCHIVE_MINIMUM_DAYS = 90
RULE_KEYS = {"rulePriority", "description", "selection", "action"}
SELECTION_KEYS = {
    "tagStatus",
    "tagPatternList",
    "tagPrefixList",
    "countType",
    "countUnit",
    "countNumber",
    "storageClass",
}
ACTION_KEYS = {"type", "targetStorageClass"}
TAG_STATUS = ("tagged", "untagged", "any")
COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned")
ACTIONS = ("expire", "transition", "retain")
STANDARD, ARCHIVE = "standard", "archive"


class LifecycleError(ValueError):
    """A policy ECR (or Kikötő) would refuse; str() is the detail after 'Lifecycle policy validation failure: '."""


@dataclass(frozen=True)
class Rule:
    priority: int
    tag_status: str
    tag_prefixes: tuple[str, ...] = ()
    tag_patterns: tuple[str, ...] = ()
    storage_class: str = STANDARD
    count_type: str | None = None
    count_number: int | None = None
    action: str = "expire"
    description: str = ""


@dataclass(frozen=True)
class Image:
    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    size: int = 0
    last_pulled_at: float | None = None
    storage_class: str = STANDARD
    archived_at: float | None = None
    activated_at: float | None = None
    parents: tuple[str, ...] = ()  # indexes in the repository that list this image
    subject: str | None = None  # set for referrers (signatures, SBOMs)


# Why a decision was made, as a code the faces put in words (REASONS has the English):
# acted on because the rule's count reached the image, or kept, and by what.
COUNT, PUSHED, PULLED, ARCHIVED = "count", "pushed", "pulled", "archived"
RETAINED, WITHIN, INDEXED, SUBJECT, UNSELECTED = "retained", "within", "indexed", "subject", "unselected"
REASONS = {
    COUNT: "number {figure} among the newest images the rule selects (it keeps {limit})",
    PUSHED: "pushed {figure} days ago (the rule allows {limit})",
    PULLED: "last pulled {figure} days ago (the rule allows {limit})",
    ARCHIVED: "archived {figure} days ago (the rule allows {limit})",
    RETAINED: "kept by a retain rule",
    WITHIN: "selected, but within the rule's limit of {limit}",
    INDEXED: "listed by an index that stays",
    SUBJECT: "follows its subject",
    UNSELECTED: "no rule selects it",
}


@dataclass(frozen=True)
class Decision:
    digest: str
    action: str | None  # "expire", "transition" or None (kept)
    rule: int | None  # the priority of the rule that acted on it or kept it, or None
    reason: str = ""  # one of REASONS' codes
    figure: int | None = None  # the number the reason names: a rank among the newest, or days
    limit: int | None = None  # the rule's countNumber

    def because(self) -> str:
        """The reason in English (the CLI's and the audit log's words)."""
        return REASONS.get(self.reason, self.reason).format(figure=self.figure, limit=self.limit)


@dataclass(frozen=True)
class PreviewResult:
    """What a preview says a policy would do to one image (GetLifecyclePolicyPreview's result)."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: float
    action: str  # EXPIRE or TRANSITION (to the archive)
    rule: int  # the priority of the rule that acts
    storage_class: str  # where the image is now


@dataclass(frozen=True)
class Preview:
    """A page of a stored preview, with its summary for the page's filter."""

    repository: str
    policy: str
    status: str
    results: list[PreviewResult]
    expiring: int
    transitioning: int
    next_token: str | None


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...] = field(default_factory=tuple)


# -- validation ------------------------------------------------------------------------------


def _keys(obj: dict[str, Any], allowed: set[str], required: list[str]) -> None:
    missing = [k for k in required if k not in obj]
    if missing:
        raise LifecycleError(f"object has missing required properties ({json.dumps(missing)})")
    extra = sorted(set(obj) - allowed)
    if extra:
        raise LifecycleError(
            f"object instance has properties which are not allowed by the schema: ({json.dumps(extra)})"
        )


def _enum(value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise LifecycleError(
            f"instance value ({json.dumps(value)}) not found in enum :(possible values: {json.dumps(list(allowed))})"
        )
    return value


def _string_list(value, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise LifecycleError(f"{name} must be a non-empty list of non-empty strings")
    return tuple(value)


def _rule(raw, strict: bool) -> Rule:
    if not isinstance(raw, dict):
        raise LifecycleError("Could not map policyString into LifecyclePolicy.")
    _keys(raw, RULE_KEYS, ["rulePriority", "selection", "action"])
    priority, selection, action = raw["rulePriority"], raw["selection"], raw["action"]
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise LifecycleError("rulePriority must be an integer")
    if priority < 1:
        raise LifecycleError(f"numeric instance is lower than the required minimum (minimum: 1, found: {priority})")
    if not isinstance(selection, dict) or not isinstance(action, dict):
        raise LifecycleError("Could not map policyString into LifecyclePolicy.")
    _keys(action, ACTION_KEYS, ["type"])
    kind = _enum(action["type"], ACTIONS if not strict else ACTIONS[:2])
    if kind == "transition" and action.get("targetStorageClass") != ARCHIVE:
        raise LifecycleError("targetStorageClass archive is required when the action type is transition")
    if kind != "transition" and "targetStorageClass" in action:
        raise LifecycleError("instance failed to match exactly one schema (matched 0 out of 2)")
    _keys(selection, SELECTION_KEYS, ["tagStatus"] if kind == "retain" else ["tagStatus", "countType", "countNumber"])
    status = _enum(selection["tagStatus"], TAG_STATUS)
    prefixes = _string_list(selection["tagPrefixList"], "tagPrefixList") if "tagPrefixList" in selection else ()
    patterns = _string_list(selection["tagPatternList"], "tagPatternList") if "tagPatternList" in selection else ()
    if prefixes and patterns:
        raise LifecycleError("A rule can specify tagPrefixList or tagPatternList, not both")
    if status != "tagged" and (prefixes or patterns):
        raise LifecycleError("tagPrefixList and tagPatternList can only be used with tagStatus tagged")
    if status == "tagged" and not (prefixes or patterns) and strict:
        raise LifecycleError(
            "tagPrefixList or tagPatternList is required when tagStatus is tagged "
            "(Kikötő selects every tagged image here; ECR does not)"
        )
    for pattern in patterns:
        if pattern.count("*") > 4:
            raise LifecycleError(f"The tag pattern {pattern} has more than 4 wildcards")
    count_type = selection.get("countType")
    count_number = selection.get("countNumber")
    if count_type is not None:
        _enum(count_type, COUNT_TYPES)
        if isinstance(count_number, bool) or not isinstance(count_number, int):
            raise LifecycleError("countNumber must be an integer")
        if count_number < 1:
            raise LifecycleError(
                f"numeric instance is lower than the required minimum (minimum: 1, found: {count_number})"
            )
        if count_type == "imageCountMoreThan" and "countUnit" in selection:
            raise LifecycleError("countUnit cannot be used with countType imageCountMoreThan")
        if count_type != "imageCountMoreThan":
            if "countUnit" not in selection:
                raise LifecycleError(f"countUnit is required with countType {count_type}")
            _enum(selection["countUnit"], ("days",))
    elif "countNumber" in selection or "countUnit" in selection:
        raise LifecycleError("countNumber and countUnit need a countType")
    storage_class = _enum(selection.get("storageClass", STANDARD), (STANDARD, ARCHIVE))
    if count_type == "sinceImageTransitioned":
        if storage_class != ARCHIVE:
            raise LifecycleError("storageClass archive is required with countType sinceImageTransitioned")
        if kind != "expire":
            raise LifecycleError("countType sinceImageTransitioned can only be used with action type expire")
        if count_number < ARCHIVE_MINIMUM_DAYS:
            raise LifecycleError(
                f"Archived images must stay archived for at least {ARCHIVE_MINIMUM_DAYS} days: "
                f"countNumber must be at least {ARCHIVE_MINIMUM_DAYS}"
            )
    elif storage_class != STANDARD:
        raise LifecycleError("storageClass archive can only be used with countType sinceImageTransitioned")
    if count_type == "sinceImagePulled" and kind == "expire" and strict:
        raise LifecycleError(
            "countType sinceImagePulled can only be used with action type transition "
            "(Kikötő also allows expire; ECR does not)"
        )
    return Rule(
        priority,
        status,
        prefixes,
        patterns,
        storage_class,
        count_type,
        count_number,
        kind,
        raw.get("description", "") if isinstance(raw.get("description", ""), str) else "",
    )


def parse_policy(text: str, strict: bool = False) -> Policy:
    try:
        document = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise LifecycleError("Could not map policyString into LifecyclePolicy.") from None
    if not isinstance(document, dict):
        raise LifecycleError("Could not map policyString into LifecyclePolicy.")
    _keys(document, {"rules"}, ["rules"])
    raw_rules = document["rules"]
    if not isinstance(raw_rules, list) or not raw_rules:
        raise LifecycleError("Could not map policyString into LifecyclePolicy.")
    if len(raw_rules) > MAX_RULES:
        raise LifecycleError(f"A lifecycle policy can have at most {MAX_RULES} rules")
    rules = sorted((_rule(r, strict) for r in raw_rules), key=lambda r: r.priority)
    if len({r.priority for r in rules}) != len(rules):
        raise LifecycleError("The rule priority must be unique")
    for storage_class in (STANDARD, ARCHIVE):
        in_class = [r for r in rules if r.storage_class == storage_class]
        if sum(1 for r in in_class if r.tag_status == "untagged" and r.action != "retain") > 1:
            raise LifecycleError("Only one rule can select Untagged images per storage class.")
        anys = [r for r in in_class if r.tag_status == "any"]
        if anys and in_class[-1] is not anys[-1] or len(anys) > 1:
            raise LifecycleError("Rule for tagStatus=ANY must have the lowest priority per storage class")
        selectors = [(r.tag_prefixes, r.tag_patterns) for r in in_class if r.tag_prefixes or r.tag_patterns]
        if len(selectors) != len(set(selectors)):
            raise LifecycleError("The rules for a storage class must have unique sets of tag prefixes and patterns")
    return Policy(tuple(rules))


# -- evaluation -----------------------------------------------------------------------------


def selects(rule: Rule, image: Image) -> bool:
    """Whether the rule's tag and storage-class filter matches the image."""
    if image.storage_class != rule.storage_class:
        return False
    if rule.tag_status == "untagged":
        return not image.tags
    if rule.tag_status == "tagged":
        if not image.tags:
            return False
        if rule.tag_prefixes:  # every prefix must match one of the tags (AND across entries)
            return all(any(t.startswith(p) for t in image.tags) for p in rule.tag_prefixes)
        if rule.tag_patterns:
            return all(any(glob_match(p, t, question_mark=False) for t in image.tags) for p in rule.tag_patterns)
    return True


def _age_reference(image: Image) -> float:
    """Push time, or the activation time of an image restored from the archive."""
    return max(image.pushed_at, image.activated_at or 0.0)


def _pull_reference(image: Image) -> float:
    if image.activated_at and (image.last_pulled_at is None or image.last_pulled_at < image.activated_at):
        return image.activated_at
    return image.last_pulled_at if image.last_pulled_at is not None else image.pushed_at


def _beyond(rule: Rule, selected: list[Image], now: float) -> dict[str, tuple[str, int]]:
    """The images of the selection the rule's count condition reaches, with (reason, figure):
    the rank among the newest selected, or the age in whole days that passed the limit."""
    if rule.count_type is None:
        return {}
    ordered = sorted(selected, key=lambda i: (_age_reference(i), i.digest))
    if rule.count_type == "imageCountMoreThan":
        beyond = ordered[: max(len(ordered) - rule.count_number, 0)]
        return {i.digest: (COUNT, len(ordered) - n) for n, i in enumerate(beyond)}
    reason, reference = {
        "sinceImagePushed": (PUSHED, _age_reference),
        "sinceImagePulled": (PULLED, _pull_reference),
        "sinceImageTransitioned": (ARCHIVED, lambda i: i.archived_at),
    }[rule.count_type]
    cutoff = now - rule.count_number * DAY
    ages = {i.digest: reference(i) for i in ordered}
    return {d: (reason, int((now - at) // DAY)) for d, at in ages.items() if at is not None and at < cutoff}


def evaluate(policy: Policy, images: list[Image], now: float) -> dict[str, Decision]:
    """One decision per image digest."""
    present = {i.digest for i in images}
    referrers = [i for i in images if i.subject in present]
    candidates = [i for i in images if i.subject not in present]
    decided: dict[str, Decision] = {}
    kept: dict[str, Decision] = {}  # protected, by the first rule that selected and spared it
    for rule in policy.rules:
        selected = [i for i in candidates if selects(rule, i)]
        reached = _beyond(rule, selected, now)
        if rule.action == "retain":
            spared = reached if rule.count_type else {}
            for image in selected:
                if image.digest not in spared and image.digest not in decided:
                    kept.setdefault(image.digest, Decision(image.digest, None, rule.priority, RETAINED))
            continue
        for image in selected:
            if image.digest in decided or image.digest in kept:
                continue
            if image.digest in reached:
                reason, figure = reached[image.digest]
                decided[image.digest] = Decision(
                    image.digest, rule.action, rule.priority, reason, figure, rule.count_number
                )
            else:
                kept[image.digest] = Decision(image.digest, None, rule.priority, WITHIN, None, rule.count_number)
    _spare_index_children(decided, kept, images)
    for referrer in referrers:  # signatures and SBOMs go (or archive, or stay) with their subject
        subject = decided.get(referrer.subject) or kept.get(referrer.subject)  # type: ignore[arg-type]
        action, deciding = (subject.action, subject.rule) if subject else (None, None)
        decided[referrer.digest] = Decision(referrer.digest, action, deciding, SUBJECT)
    return {
        i.digest: decided.get(i.digest) or kept.get(i.digest) or Decision(i.digest, None, None, UNSELECTED)
        for i in images
    }


def _spare_index_children(decided: dict[str, Decision], kept: dict[str, Decision], images: list[Image]) -> None:
    """An image listed by an index is acted on only when every such index gets the same action."""
    changed = True
    while changed:
        changed = False
        for image in images:
            mine = decided.get(image.digest)
            if mine is None or not image.parents:
                continue
            if any(decided.get(p) is None or decided[p].action != mine.action for p in image.parents):
                del decided[image.digest]
                kept[image.digest] = Decision(image.digest, None, None, INDEXED)
                changed = True
