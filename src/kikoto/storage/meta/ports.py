"""The metadata stores' ports: the records they return and one Protocol per aggregate, which
the core's services and the features type against. Each is implemented once in SQLAlchemy Core
for SQLite and PostgreSQL (the `Sql*` classes beside this module) and held to its contract on
both databases (tests/api/test_store_contracts.py, test_metadata_contract.py).

An aggregate is what changes together in one transaction: a repository and its settings; its
manifests and tags (with the outbox rows of each change); its image records as the listings read
them; the blob index (blobs, links); uploads; registry documents and creation templates; and the
shared concerns every subsystem uses (identities, leases, audit, usage, housekeeping, lifecycle,
the outbox)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...domain.accounts import Account
from ...domain.audit import Change
from ...domain.events import ImageChanged
from ...domain.lifecycle import PreviewResult
from ...domain.manifests import Manifest
from ...domain.templates import CreationTemplate


class AlreadyExists(Exception):
    """Another process created the same principal or key first."""


@dataclass(frozen=True)
class Repository:
    id: int
    name: str
    created_at: float
    tag_mutability: str = "MUTABLE"
    mutability_exclusions: tuple[dict[str, Any], ...] = ()
    upstream: str | None = None  # a pull-through cache: images are pulled into it, never pushed
    scan_on_push: bool = False
    encryption: dict[str, Any] | None = None
    resource_tags: list[dict[str, str]] | None = None
    repository_policy: str | None = None
    lifecycle_policy: str | None = None
    lifecycle_evaluated_at: float | None = None


@dataclass(frozen=True)
class ManifestHead:
    """What a pull needs to answer before reading the content."""

    repo_id: int
    digest: str
    media_type: str
    size: int
    last_pulled_at: float | None
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str] | None


@dataclass(frozen=True)
class ImageRecord:
    """An image as the listings and lifecycle see it: its manifest's details and all its tags."""

    digest: str
    tags: tuple[str, ...]
    media_type: str
    config_media_type: str | None
    artifact_type: str | None
    subject_digest: str | None
    size: int
    pushed_at: float
    last_pulled_at: float | None
    storage_class: str = "STANDARD"
    archived_at: float | None = None
    activated_at: float | None = None


@dataclass(frozen=True)
class PrincipalRow:
    id: int
    name: str
    policy: str
    created_at: float = field(default=0.0, compare=False)  # read where it is shown (IAM's CreateDate)
    account: str | None = None  # None: the first account


@dataclass(frozen=True)
class RoleRow:
    id: int
    name: str
    trust_policy: str
    max_session: int
    created_at: float
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ProviderRow:
    url: str  # the issuer without its scheme (IAM's name for it)
    issuer: str
    client_ids: tuple[str, ...]
    created_at: float


@dataclass(frozen=True)
class GroupRow:
    id: int
    name: str
    created_at: float


@dataclass(frozen=True)
class ManagedRow:
    id: int
    name: str
    default_version: int
    created_at: float


@dataclass(frozen=True)
class SessionKeyRow:
    id: str
    role: RoleRow
    session_name: str
    secret: str
    token_hash: str
    expires_at: float
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # the session's own


@dataclass(frozen=True)
class AccessKeyRow:
    id: str
    principal: PrincipalRow
    secret: str  # encrypted
    status: str
    created_at: float
    # whether its principal has inline or attached policies, groups or tags (IAM's): most
    # principals have none, and their keys are then read in one query
    extras: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class Upload:
    id: str
    repo_id: int
    offset: int
    algorithm: str


class RepositoryStore(Protocol):
    async def get_repository(self, name: str) -> Repository | None: ...

    async def repository_name(self, repo_id: int) -> str | None: ...

    async def ensure_repository(self, name: str) -> Repository: ...

    async def list_repositories(self, limit: int | None, after: str | None, before: str | None = None) -> list[str]:
        """Names in byte order after `after` (and before `before`: one account's keys)."""

    async def repositories(self, names: list[str] | None = None) -> list[Repository]: ...

    async def create_repository(self, name: str, settings: dict[str, Any]) -> Repository | None:
        """None when the name is taken."""

    async def update_repository(self, name: str, settings: dict[str, Any]) -> None: ...

    async def delete_repository(self, repo_id: int) -> None: ...

    async def repository_policies(self, names: list[str]) -> dict[str, str | None]:
        """name -> repository policy text, for the named repositories that exist (one query)."""

    async def repositories_after(self, after: str, limit: int, before: str | None = None) -> list[Repository]: ...


class ManifestStore(Protocol):
    async def put_manifest(
        self,
        repo: Repository,
        manifest: Manifest,
        content: bytes,
        tag_names: list[str],
        allow_sparse_index: bool,
        immutable: Callable[[str], bool] = ...,
        lazy: bool = False,
        change: Callable[..., ImageChanged] = ...,
        recorded: Change | None = None,
    ) -> None:
        """`recorded`: who asked, for the audit log, written in the same transaction (one entry
        per tag, with the digest). Store a manifest, its references and its tags in one transaction, after checking
        that everything it references is present (unless `lazy`: a pull-through cache fetches
        what a manifest references when a client asks for it) and that no immutable tag would move.
        `change`: the kind of change the outbox records (a push; a pull-through cache's import)."""

    async def find_manifest(
        self, repo_name: str, *, tag: str | None = None, digest: str | None = None
    ) -> ManifestHead | None:
        """(digest, media type, size) of a manifest by tag or digest in one indexed query;
        None when the repository, tag or manifest is missing."""

    async def manifest_contents(self, repo_name: str, digests: list[str]) -> dict[str, bytes]: ...

    async def manifest_content(self, repo_name: str, digest: str) -> bytes | None: ...

    async def record_pull(self, repo_id: int, digest: str, when: float) -> None: ...

    async def delete_manifest(self, repo_id: int, digest: str, tag: str | None = None) -> bool:
        """Delete a manifest with its tags and references (`tag`: the tag the deletion was asked
        by, for the event)."""

    async def delete_manifests(self, repo_id: int, digests: list[str], tag: str | None = None) -> int:
        """Delete manifests (with their tags, references and scans) in one transaction; a change
        is recorded for each that existed, none for the others."""

    async def delete_tag(self, repo_id: int, tag: str) -> bool: ...

    async def list_tags(self, repo_id: int, limit: int | None, after: str | None) -> list[str]: ...

    async def referrers(
        self, repo_id: int, subject: str, artifact_type: str | None, limit: int, after: str | None
    ) -> list[Referrer]: ...


class ImageStore(Protocol):
    async def image_count(self, repo_id: int) -> int: ...

    async def images_page(
        self,
        repo_id: int,
        after: str,
        limit: int,
        tag_status: str = "ANY",
        image_status: str = "ANY",
        inclusive: bool = False,
    ) -> list[ImageRecord]:
        """Up to `limit` images (whole records) after digest `after`: DescribeImages' page."""

    async def image_ids_page(
        self, repo_id: int, after: str, limit: int, tag_status: str, image_status: str, inclusive: bool
    ) -> list[tuple[str, tuple[str, ...]]]:
        """(digest, its tags in order) of up to `limit` images after `after`: ListImages' page,
        from the primary key's index alone."""

    async def browse(
        self, repo_id: int, order: str, descending: bool, after: tuple[float, str] | None, limit: int
    ) -> list[ImageRecord]:
        """A page of the images a person browses, by `order` ("pushed" or "size") then digest,
        after the key `after`: no index's child and no referrer of an image the repository holds
        (they are shown under their index or subject)."""

    async def referrers_of(self, repo_id: int, subjects: list[str]) -> list[ImageRecord]:
        """The referrers (signatures, SBOMs, ...) of these images."""

    async def find_images(self, repo_id: int, digests: list[str], tag_names: list[str]) -> list[ImageRecord]:
        """The images with these digests or carrying these tags (with all their tags)."""

    async def images(self, repo_id: int) -> list[ImageRecord]:
        """Every image (manifest) of a repository with its tags, oldest push first (lifecycle
        evaluation needs them all; listings page with `images_page`)."""

    async def parents(self, repo_id: int, digest: str) -> list[str]:
        """Indexes in the repository that list `digest` as a child."""

    async def blob_is_referenced(self, repo_id: int, digest: str) -> bool: ...


class BlobIndexStore(Protocol):
    async def repo_blob_size(self, repo_name: str, digest: str) -> int | None:
        """Size of a blob the repository can see, or None (one query, by repository name)."""

    async def add_blob(
        self, repo_id: int, digest: str, size: int, finished_upload: tuple[str, int] | None = None
    ) -> bool:
        """Record a blob, link it, and close the upload it came from, in one transaction.
        `finished_upload` is (upload id, the offset the final request started at); False, and
        nothing written, when another request moved that upload meanwhile."""

    async def claim_trashed(self, digest: str) -> None:
        """Before an upload puts content in place: take it out of the GC trash, so garbage
        collection cannot delete the bytes this upload is about to place (on PostgreSQL this
        waits for a purge holding the row). Costs one read when it is not there (the usual case)."""

    async def repo_blob_sizes(self, repo_name: str, digests: list[str]) -> dict[str, int]:
        """Sizes of the blobs among `digests` the repository can see (one query)."""

    async def blob_tiers(self, digests: list[str]) -> dict[str, str]: ...

    async def repositories_with_blob(self, digest: str) -> list[str]: ...

    async def link_blob(self, repo_id: int, digest: str) -> bool:
        """Make an existing blob visible in a repository (cross-repository mount)."""

    async def unlink_blob(self, repo_id: int, digest: str) -> bool: ...


class UploadStore(Protocol):
    async def create_upload(self, upload_id: str, repo_id: int, algorithm: str) -> Upload: ...

    async def get_upload(self, upload_id: str, repository: str) -> Upload | None:
        """An upload session of this repository (one query)."""

    async def advance_upload(self, upload_id: str, old_offset: int, new_offset: int) -> bool:
        """Compare-and-set the offset, so two writers racing on one upload cannot both win."""

    async def delete_upload(self, upload_id: str) -> bool: ...


class DocumentStore(Protocol):
    async def document(self, name: str) -> str | None: ...

    async def put_document(self, name: str, body: str | None) -> None: ...

    async def templates(self) -> list[CreationTemplate]: ...

    async def put_template(self, template: CreationTemplate, create: bool) -> CreationTemplate | None:
        """Create (None if it exists) or update (None if it does not) a template."""

    async def delete_template(self, prefix: str) -> CreationTemplate | None: ...


class IdentityStore(Protocol):
    async def count_principals(self) -> int: ...

    async def principal(self, name: str) -> PrincipalRow | None: ...

    async def create_principal(self, name: str, policy: str, account: str | None = None) -> PrincipalRow: ...

    async def set_policy(self, principal_id: int, policy: str) -> None: ...

    async def add_key(self, principal_id: int, key_id: str, encrypted_secret: str) -> None: ...

    async def key(self, key_id: str) -> AccessKeyRow | None: ...

    async def keys(self) -> list[AccessKeyRow]: ...

    async def set_key_status(self, key_id: str, status: str) -> bool: ...

    async def principals_page(self, after: str, limit: int) -> list[PrincipalRow]:
        """Principals by name after `after` (IAM's ListUsers, by key)."""

    async def delete_principal(self, principal_id: int) -> None:
        """The principal, its keys, inline policies and tags."""

    async def principal_keys(self, principal_id: int) -> list[AccessKeyRow]: ...

    async def delete_key(self, key_id: str) -> bool: ...

    async def put_document(self, principal_id: int, name: str, document: str) -> None:
        """Create or replace an inline policy."""

    async def documents(self, principal_id: int) -> dict[str, str]:
        """The principal's inline policies, name -> document, by name."""

    async def delete_document(self, principal_id: int, name: str) -> bool: ...

    async def set_tags(self, principal_id: int, tags: dict[str, str]) -> None:
        """Add tags or change their values."""

    async def remove_tags(self, principal_id: int, keys: list[str]) -> None: ...

    async def principal_tags(self, principal_id: int) -> dict[str, str]: ...

    async def create_role(self, name: str, trust_policy: str, max_session: int) -> RoleRow: ...

    async def role(self, name: str) -> RoleRow | None: ...

    async def set_trust(self, role_id: int, trust_policy: str) -> None: ...

    async def delete_role(self, role_id: int) -> None:
        """The role, its inline policies and its session keys."""

    async def put_role_document(self, role_id: int, name: str, document: str) -> None: ...

    async def role_documents(self, role_id: int) -> dict[str, str]: ...

    async def delete_role_document(self, role_id: int, name: str) -> bool: ...

    async def add_provider(self, url: str, issuer: str, client_ids: list[str]) -> ProviderRow: ...

    async def provider(self, url: str) -> ProviderRow | None: ...

    async def providers(self) -> list[ProviderRow]: ...

    async def delete_provider(self, url: str) -> bool: ...

    async def set_role_tags(self, role_id: int, tags: dict[str, str]) -> None:
        """The role's tags, replaced."""

    async def add_session_key(
        self,
        key_id: str,
        role_id: int,
        session_name: str,
        secret: str,
        token_hash: str,
        expires_at: float,
        tags: dict[str, str] | None = None,
    ) -> None:
        """A short-lived key of an assumed role (and expired ones forgotten)."""

    async def session_key(self, key_id: str) -> SessionKeyRow | None: ...

    async def create_group(self, name: str) -> GroupRow: ...

    async def group(self, name: str) -> GroupRow | None: ...

    async def delete_group(self, group_id: int) -> None: ...

    async def add_member(self, group_id: int, principal_id: int) -> None: ...

    async def remove_member(self, group_id: int, principal_id: int) -> bool: ...

    async def groups_of(self, principal_id: int) -> list[GroupRow]: ...

    async def members(self, group_id: int) -> list[PrincipalRow]: ...

    async def put_group_document(self, group_id: int, name: str, document: str) -> None: ...

    async def group_documents(self, group_id: int) -> dict[str, str]: ...

    async def delete_group_document(self, group_id: int, name: str) -> bool: ...

    async def create_managed(self, name: str, document: str) -> ManagedRow: ...

    async def managed(self, name: str) -> ManagedRow | None: ...

    async def managed_page(self, after: str, limit: int) -> list[ManagedRow]: ...

    async def add_version(self, policy_id: int, document: str, default: bool) -> int:
        """A new version of a managed policy (its number), made the default if asked."""

    async def versions(self, policy_id: int) -> list[tuple[int, str, float]]:
        """(version, document, created) of each version, oldest first."""

    async def delete_managed(self, policy_id: int) -> None: ...

    async def attach(self, kind: str, holder_id: int, policy_arn: str) -> None: ...

    async def detach(self, kind: str, holder_id: int, policy_arn: str) -> bool: ...

    async def attached(self, kind: str, holder_id: int) -> list[str]:
        """The ARNs of the managed policies attached to a user, group or role."""

    async def attachment_count(self, policy_arn: str) -> int: ...

    async def default_documents(self, names: list[str]) -> dict[str, str]:
        """The default version's document of each customer managed policy named."""

    async def revoke_session(self, session_id: str, expires_at: float) -> None:
        """Remember a signed-out console session until it expires (and forget expired ones)."""

    async def session_revoked(self, session_id: str) -> bool: ...


class LeaseStore(Protocol):
    async def acquire(self, name: str, holder: str, ttl: float) -> bool: ...

    async def hold(self, name: str, holder: str, ttl: float) -> None:
        """Extend a lease this holder has (after a run: until the job is due again)."""

    async def release(self, name: str, holder: str) -> None: ...


class AuditStore(Protocol):
    async def record(self, events: list[dict[str, Any]]) -> None: ...

    async def events(
        self,
        repository: str | None,
        limit: int = 100,
        since: float | None = None,
        before: int | None = None,
        action: str | None = None,
        actor: str | None = None,
        outcome: str | None = None,
        tag: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; `before` (an event id) continues a listing by key; `outcome` "ok" or
        anything else (every refusal)."""


class UsageStore(Protocol):
    async def storage_by_repository(self) -> list[tuple[str, int, int]]:
        """(repository, images, deduplicated bytes of the blobs its manifests reference)."""

    async def stored_bytes(self) -> tuple[int, int]:
        """(blobs, bytes) held by the registry, each blob counted once."""

    async def repository_summaries(self, repo_ids: list[int]) -> dict[int, tuple[int, int, float | None]]:
        """repo id -> (images, deduplicated bytes its manifests reference, last push), for a page
        of repositories in two grouped queries."""

    async def largest_repositories(self, limit: int) -> list[tuple[str, int]]: ...

    async def snapshot(self) -> None: ...

    async def snapshots(self, limit: int = 365) -> list[tuple[float, int, int]]:
        """(time, blobs, bytes), oldest first, the latest `limit`."""


class HousekeepingStore(Protocol):
    async def reclaimable(self, repo_id: int, leaving: set[str], candidates: set[str]) -> dict[str, int]:
        """Of `candidates` (blobs of the manifests `leaving` the repository), those no other
        manifest anywhere references, with their sizes: the bytes GC would then free."""

    async def gc_candidates(self, cutoff: float, after: str = "", limit: int | None = None) -> list[str]:
        """Blobs with no manifest referencing them whose every repository link is older than the
        cutoff, by digest after `after` (a batch of `limit`: memory stays flat however many)."""

    async def collect(self, digests: list[str], cutoff: float) -> dict[str, int]:
        """Forget the still-unreferenced blobs among `digests`: their rows move to the trash in
        one locked transaction (re-checked under the lock a manifest push takes). Their bytes
        are deleted afterwards by `purge`. Returns digest -> size forgotten."""

    async def purge(self, remove: Callable[[list[tuple[str, str]]], Awaitable[object]], limit: int) -> int:
        """Delete the bytes of up to `limit` trashed blobs, then their trash rows, in one
        transaction holding those rows (an upload of the same content claims its trash row
        first, so it waits for this, or this skips the blob). A crash in between leaves trash
        rows for the next run: metadata never claims the bytes. Returns the blobs purged."""

    async def blob_rows_after(self, after: str, limit: int) -> list[tuple[str, int, str]]:
        """(digest, size, tier) of up to `limit` blobs after `after`, by key."""

    async def known_digests(self, digests: list[str]) -> tuple[dict[str, str], set[str]]:
        """Of `digests`: those with a blob row (-> tier) and those in the GC trash."""

    async def forget_blob(self, digest: str, still_broken: Callable[[str], Awaitable[bool]]) -> bool:
        """Delete a blob's row and links when `still_broken(tier)` (checked under the row's lock)
        says its bytes are missing or wrong: the registry then tells the truth (HEAD 404), and
        a client pushing an image with it uploads it again."""

    async def trash_orphan(self, digest: str, tier: str, size: int) -> bool:
        """Put stored bytes that no blob row claims into the GC trash (False if a row appeared)."""

    async def broken_references(self) -> list[tuple[str, str, str]]:
        """(repository, manifest digest, missing blob) for every manifest that references a
        blob the registry no longer has (pull-through cache repositories fetch theirs on demand)."""

    async def stale_uploads(self, cutoff: float, after: str = "", limit: int | None = None) -> list[str]:
        """Upload sessions untouched since the cutoff, by id after `after` (a batch of `limit`)."""


class LifecycleStore(Protocol):
    async def image_relations(self, repo_id: int) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
        """(child manifest -> indexes listing it, manifest -> blobs it references) for a repository."""

    async def set_storage_class(self, repo_id: int, digests: list[str], storage_class: str) -> None: ...

    async def blobs_to_retier(self, digests: set[str]) -> tuple[set[str], set[str]]:
        """(blobs that only archived manifests reference, in the standard tier; blobs that some
        active manifest references, in the archive tier) among `digests`."""

    async def set_tier(self, digest: str, tier: str) -> None: ...

    async def save_preview(self, repo_id: int, policy: str, status: str, results: list[PreviewResult]) -> None:
        """Keep a preview: its results one row each (their fields, JSON), and the counts
        GetLifecyclePolicyPreview's summary reports for each tag-status filter."""

    async def preview(self, repo_id: int) -> tuple[str, str, dict[str, Any]] | None:
        """(policy, status, summary counts) of the repository's last preview."""

    async def preview_page(
        self, repo_id: int, after: tuple[float, str] | None, limit: int, tag_status: str = "ANY"
    ) -> list[PreviewResult]:
        """Up to `limit` preview results after `after` (pushed_at, digest), oldest push first."""

    async def preview_results(self, repo_id: int, digests: list[str], tag_names: list[str]) -> list[PreviewResult]:
        """The preview results of the images these digests or (current) tags name."""


class OutboxStore(Protocol):
    async def record(self, changes: Sequence[ImageChanged]) -> None:
        """Changes that have no other transaction (a replication's outcome, a scan's)."""

    async def events_after(self, position: int, limit: int) -> list[ImageChanged]: ...

    async def event(self, event_id: int) -> ImageChanged | None: ...

    async def changes_for(self, consumer: str, limit: int) -> tuple[int, list[ImageChanged]]:
        """(a consumer's position, up to `limit` changes after it): every consumer reads the
        outbox this way. A new consumer starts after the newest change (it follows from now)."""

    async def follow(self, consumer: str) -> int:
        """A consumer's position; a new consumer's is the newest change's (it follows from now)."""

    async def last_event_id(self) -> int: ...

    async def cursor(self, consumer: str, start: int = 0) -> int:
        """A consumer's position; a new consumer starts at `start` (then saved)."""

    async def advance(self, consumer: str, position: int) -> None: ...

    async def forget_cursor(self, consumer: str) -> None: ...


class AccountStore(Protocol):
    async def accounts(self) -> list[Account]: ...

    async def account(self, account_id: str) -> Account | None: ...

    async def create_account(self, account_id: str, alias: str | None) -> Account | None:
        """The new account; None when the id or the alias is taken."""

    async def delete_account(self, account_id: str) -> bool: ...

    async def holdings(self, account_id: str, keys: tuple[str, str]) -> tuple[int, int]:
        """(repositories, principals) the account holds."""


@dataclass(frozen=True)
class Stores:
    """The core's metadata stores, one per aggregate (storage/meta/ports.py)."""

    repositories: RepositoryStore
    manifests: ManifestStore
    images: ImageStore
    blobs: BlobIndexStore
    uploads: UploadStore
    documents: DocumentStore
    leases: LeaseStore
    lifecycle: LifecycleStore
    housekeeping: HousekeepingStore
    usage: UsageStore
    audit: AuditStore
    outbox: OutboxStore
    accounts: AccountStore
