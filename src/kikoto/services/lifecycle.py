"""Lifecycle policies at work: plan (evaluate + what it would free), apply (expire, archive),
previews, restores, and the ECR operations around them."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from ..domain.errors import (
    ImageNotFound,
    InvalidParameter,
    KikotoError,
    LifecyclePolicyNotFound,
    LifecyclePreviewNotFound,
)
from ..domain.lifecycle import (
    Decision,
    Image,
    LifecycleError,
    Preview,
    PreviewResult,
    Rule,
    evaluate,
    parse_policy,
)
from ..domain.paging import sign_token
from ..storage.blobs.port import BlobStore
from ..storage.meta.ports import ImageRecord, Repository, Stores
from .images.listing import ImageId
from .registry import invalid_parameter, repository_not_found, token_position

EXPIRE_BATCH = 500  # manifests deleted per transaction: one transaction per image cost 0.3 ms each
STORAGE_CLASS = {"STANDARD": "standard", "ARCHIVE": "archive"}


@dataclass(frozen=True)
class Outcome:
    """One image as its user counts it: an image or index, with the referrers (signatures, SBOMs)
    and index children that share its fate counted under it rather than as images."""

    image: ImageRecord
    decision: Decision
    attached: int


@dataclass
class Plan:
    repository: Repository
    policy: str
    images: dict[str, ImageRecord]
    decisions: dict[str, Decision]
    reclaimable: dict[str, int] = field(default_factory=dict)  # blob digest -> bytes GC frees after the expiry
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)  # image -> the indexes that list it
    now: float = 0.0  # the moment the policy was evaluated at

    def acting(self, action: str) -> list[Decision]:
        return [d for d in self.decisions.values() if d.action == action]

    @property
    def bytes_freed(self) -> int:
        return sum(self.reclaimable.values())

    def rules(self) -> tuple[Rule, ...]:
        return parse_policy(self.policy).rules

    def fingerprint(self) -> str:
        """What someone agreed to when shown this plan: the policy, and each image it acts on and how."""
        acted = sorted(f"{d.digest}:{d.action}" for d in self.decisions.values() if d.action)
        return hashlib.sha256("\n".join([self.policy, *acted]).encode()).hexdigest()[:32]

    def outcomes(self) -> list[Outcome]:
        """Newest push first, each image once, with what hangs from it counted under it."""
        attached: dict[str, int] = {}
        for digest in self.images:
            top, seen = digest, {digest}
            while (above := self._above(top)) is not None and above not in seen:
                top = above
                seen.add(top)
            if top != digest:
                attached[top] = attached.get(top, 0) + 1
        tops = [i for d, i in self.images.items() if self._above(d) is None]
        tops.sort(key=lambda i: (-i.pushed_at, i.digest))
        return [Outcome(i, self.decisions[i.digest], attached.get(i.digest, 0)) for i in tops]

    def _above(self, digest: str) -> str | None:
        """The subject a referrer hangs from, or the first index that lists the image, if present."""
        subject = self.images[digest].subject_digest
        if subject in self.images:
            return subject
        return next((p for p in self.parents.get(digest, ()) if p in self.images), None)


def policy_error(exc: LifecycleError) -> KikotoError:
    return InvalidParameter(
        f"Invalid parameter at 'LifecyclePolicyText' failed to satisfy "
        f"constraint: 'Lifecycle policy validation failure: {exc}'"
    )


class Lifecycle:
    def __init__(
        self,
        stores: Stores,
        blobs: BlobStore,
        account: str,
        clock=time.time,
        token_key: bytes = b"",
    ) -> None:
        self.token_key = token_key  # signs preview nextTokens (keyset positions)
        self.manifests, self.images, self.repositories = stores.manifests, stores.images, stores.repositories
        self.store, self.blobs = stores.lifecycle, blobs
        self.housekeeping, self.usage, self.audit = stores.housekeeping, stores.usage, stores.audit
        self.account = account
        self._clock = clock

    async def _repository(self, name: str) -> Repository:
        record = await self.repositories.get_repository(name)
        if record is None:
            raise repository_not_found(name, self.account)
        return record

    def _missing_policy(self, name: str) -> KikotoError:
        return LifecyclePolicyNotFound(
            f"Lifecycle policy does not exist for the repository with "
            f"name '{name}' in the registry with id '{self.account}'"
        )

    async def events(
        self,
        repository: str | None,
        limit: int,
        before: int | None = None,
        action: str | None = None,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        """The audit log, newest first: expiries, archives, restores and GC runs."""
        return await self.audit.events(repository, limit, since=since, before=before, action=action)

    # -- storage figures (the console) ----------------------------------------------------------

    async def stored(self) -> tuple[int, int]:
        """(blobs, bytes) stored, each blob once."""
        return await self.usage.stored_bytes()

    async def repository_summaries(self, repo_ids: list[int]) -> dict[int, tuple[int, int, float | None]]:
        return await self.usage.repository_summaries(repo_ids)

    async def largest_repositories(self, limit: int) -> list[tuple[str, int]]:
        return await self.usage.largest_repositories(limit)

    async def snapshots(self, limit: int) -> list[tuple[float, int, int]]:
        return await self.usage.snapshots(limit)

    # -- planning and applying ----------------------------------------------------------------

    async def plan(self, name: str, policy: str | None = None, now: float | None = None, strict: bool = False) -> Plan:
        record = await self._repository(name)
        text = policy or record.lifecycle_policy
        if not text:
            raise self._missing_policy(name)
        try:
            parsed = parse_policy(text, strict=strict)
        except LifecycleError as exc:
            raise policy_error(exc) from None
        records = {i.digest: i for i in await self.images.images(record.id)}
        parents, blob_refs = await self.store.image_relations(record.id)
        images = [
            Image(
                r.digest,
                r.tags,
                r.pushed_at,
                r.size,
                r.last_pulled_at,
                STORAGE_CLASS[r.storage_class],
                r.archived_at,
                r.activated_at,
                tuple(parents.get(r.digest, ())),
                r.subject_digest,
            )
            for r in records.values()
        ]
        now = self._clock() if now is None else now
        decisions = evaluate(parsed, images, now)
        expiring = {d.digest for d in decisions.values() if d.action == "expire"}
        candidates = set().union(*(blob_refs.get(d, set()) for d in expiring)) if expiring else set()
        reclaimable = await self.housekeeping.reclaimable(record.id, expiring, candidates) if candidates else {}
        relations = {d: tuple(p) for d, p in parents.items()}
        return Plan(record, text, records, decisions, reclaimable, relations, now)

    async def apply(self, plan: Plan, actor: str = "lifecycle") -> None:
        repo, events = plan.repository, []
        expiring = plan.acting("expire")
        for start in range(0, len(expiring), EXPIRE_BATCH):  # bytes go later, with GC, once nothing references them
            batch = expiring[start : start + EXPIRE_BATCH]
            await self.manifests.delete_manifests(repo.id, [d.digest for d in batch])
            events += [self._event(actor, "EXPIRE", plan, d) for d in batch]
        archiving = [d.digest for d in plan.acting("transition")]
        if archiving:
            await self.change_storage_class(repo.id, archiving, "ARCHIVE")
            events += [self._event(actor, "TRANSITION", plan, d) for d in plan.acting("transition")]
        await self.repositories.update_repository(repo.name, {"lifecycle_evaluated_at": self._clock()})
        await self.audit.record(events)

    def _event(self, actor: str, action: str, plan: Plan, decision: Decision) -> dict[str, Any]:
        image = plan.images[decision.digest]
        return {
            "actor": actor,
            "action": action,
            "repository": plan.repository.name,
            "digest": decision.digest,
            "detail": {
                "tags": list(image.tags),
                "rulePriority": decision.rule,
                "reason": decision.because(),
                "imageSizeInBytes": image.size,
            },
        }

    async def change_storage_class(self, repo_id: int, digests: list[str], target: str) -> None:
        """Mark images ARCHIVE/STANDARD, then move the blobs whose tier no longer fits."""
        await self.store.set_storage_class(repo_id, digests, target)
        _, blob_refs = await self.store.image_relations(repo_id)
        affected = set().union(*(blob_refs.get(d, set()) for d in digests))
        to_archive, to_restore = await self.store.blobs_to_retier(affected)
        for digest, tier in [(d, "archive") for d in sorted(to_archive)] + [
            (d, "standard") for d in sorted(to_restore)
        ]:
            await self.blobs.move(digest, tier)  # the file first: a tier row never names a missing file
            await self.store.set_tier(digest, tier)

    async def repositories_with_policies(self, only: str | None = None) -> list[str]:
        records = await self.repositories.repositories([only] if only else None)
        if only and not records:
            raise repository_not_found(only, self.account)
        return [r.name for r in records if r.lifecycle_policy]

    # -- the ECR operations ---------------------------------------------------------------------

    async def put_policy(self, name: str, text: str) -> str:
        """Store a repository's policy after validating it; the repository's name."""
        record = await self._repository(name)
        try:
            parse_policy(text)
        except LifecycleError as exc:
            raise policy_error(exc) from None
        await self.repositories.update_repository(record.name, {"lifecycle_policy": text})
        return record.name

    async def get_policy(self, name: str, delete: bool = False) -> tuple[str, str, float]:
        """(repository name, policy text, last evaluation time or 0), deleted when asked."""
        record = await self._repository(name)
        if not record.lifecycle_policy:
            raise self._missing_policy(record.name)
        if delete:
            await self.repositories.update_repository(record.name, {"lifecycle_policy": None})
        return record.name, record.lifecycle_policy, record.lifecycle_evaluated_at or 0  # ECR: 0 until evaluated

    async def start_preview(self, name: str, text: str | None) -> tuple[str, str]:
        """Evaluate a policy (the stored one unless `text`) and keep its results; (name, policy)."""
        plan = await self.plan(name, text)
        results = []
        for decision in sorted(
            (d for d in plan.decisions.values() if d.action), key=lambda d: (plan.images[d.digest].pushed_at, d.digest)
        ):
            image = plan.images[decision.digest]
            results.append(
                PreviewResult(
                    image.digest,
                    tuple(image.tags),
                    image.pushed_at,
                    (decision.action or "").upper(),
                    decision.rule or 0,
                    image.storage_class,
                )
            )
        await self.store.save_preview(plan.repository.id, plan.policy, "COMPLETE", results)
        return plan.repository.name, plan.policy

    async def get_preview(
        self,
        name: str,
        image_ids: list[ImageId] | None,
        tag_status: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> Preview:
        """The last preview: repository, policy, status, a page of results (by key, oldest push
        first), their summary for the filter, and the next token."""
        record = await self._repository(name)
        saved = await self.store.preview(record.id)
        if saved is None:
            raise LifecyclePreviewNotFound(
                f"There is no dry run for the repository with name '{record.name}' in the registry with id "
                f"'{self.account}'"
            )
        policy, status, summary = saved
        tag_status = tag_status or "ANY"
        token = None
        if image_ids:
            if max_results or next_token:
                raise invalid_parameter("maxResults", "maxResults and nextToken cannot be used with imageIds")
            candidates = await self.store.preview_results(
                record.id, [w.digest for w in image_ids if w.digest], [w.tag for w in image_ids if w.tag]
            )
            results = [
                r
                for r in candidates
                if any(w.digest in (None, r.digest) and w.tag in (None, *r.tags) for w in image_ids)
            ]
            results = [r for r in results if tag_status == "ANY" or bool(r.tags) == (tag_status == "TAGGED")]
            expiring = sum(1 for r in results if r.action == "EXPIRE")
            transitioning = sum(1 for r in results if r.action == "TRANSITION")
        else:
            limit = max_results or 100
            scope = f"GetLifecyclePolicyPreview:{record.name}"
            after = token_position(self.token_key, scope, next_token)
            results = await self.store.preview_page(record.id, tuple(after) if after else None, limit + 1, tag_status)
            if len(results) > limit:
                results = results[:limit]
                token = sign_token(self.token_key, scope, [results[-1].pushed_at, results[-1].digest])
            counts = summary.get(tag_status, summary["ANY"])
            expiring, transitioning = counts["EXPIRE"], counts["TRANSITION"]
        return Preview(record.name, policy, status, results, expiring, transitioning, token)

    async def update_storage_class(self, name: str, image_id: dict[str, Any], target: str) -> tuple[str, str]:
        """Archive or restore one image; (repository name, its digest)."""
        record = await self._repository(name)
        digests = [image_id["imageDigest"]] if "imageDigest" in image_id else []
        tag_names = [image_id["imageTag"]] if "imageTag" in image_id else []
        images = await self.images.find_images(record.id, digests, tag_names)  # just the image named
        found = next(
            (
                i
                for i in images
                if image_id.get("imageDigest") in (None, i.digest) and image_id.get("imageTag") in (None, *i.tags)
            ),
            None,
        )
        if found is None or not image_id:
            raise ImageNotFound(
                f"The image with imageId {image_id} does not exist within the "
                f"repository with name '{record.name}' in the registry with id "
                f"'{self.account}'"
            )
        if found.storage_class != target:
            await self.change_storage_class(record.id, [found.digest], target)
            await self.audit.record(
                [
                    {
                        "actor": "api",
                        "action": "RESTORE" if target == "STANDARD" else "ARCHIVE",
                        "repository": record.name,
                        "digest": found.digest,
                        "detail": {"tags": list(found.tags)},
                    }
                ]
            )
        return record.name, found.digest
