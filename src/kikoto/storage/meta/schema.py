"""The metadata tables. Alembic migrations (migrations/versions) create and evolve them;
this module is what queries are written against. Times are epoch seconds (floats), the
unit the ECR API speaks."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    # ECR repository settings (migration 0002). JSON columns hold the API's own shapes.
    Column("tag_mutability", String(32), nullable=False, server_default="MUTABLE"),
    Column("mutability_exclusions", Text),  # JSON list of {filterType, filter}
    Column("scan_on_push", Boolean, nullable=False, server_default=false()),
    Column("encryption", Text),  # JSON {encryptionType, kmsKey}
    Column("resource_tags", Text),  # JSON list of {Key, Value}
    Column("repository_policy", Text),
    Column("lifecycle_policy", Text),
    Column("lifecycle_evaluated_at", Float),
    # the pull-through cache rule (its ecrRepositoryPrefix) that created the repository (0008)
    Column("upstream", String(64)),
)

# Content-addressed and shared by the whole registry: one row per digest, however many repos use it.
blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(200), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("tier", String(16), nullable=False, server_default="standard"),  # standard | archive (0003)
)

# Blobs garbage collection has forgotten whose bytes may still exist (0004). A blob's row and its
# trash row never exist together: GC moves the row here in one transaction, then deletes the bytes
# and this row in another, so at no instant does `blobs` claim bytes that are gone.
blob_trash = Table(
    "blob_trash",
    metadata,
    Column("digest", String(200), primary_key=True),
    Column("tier", String(16), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("trashed_at", Float, nullable=False),
)

# A repository sees a blob once it was uploaded or mounted into it, or a manifest of it references it.
repo_blobs = Table(
    "repo_blobs",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(200), ForeignKey("blobs.digest"), primary_key=True),
    Column("linked_at", Float, nullable=False),
    Index("ix_repo_blobs_digest", "digest"),  # GC and mounts look links up by digest (0006)
)

manifests = Table(
    "manifests",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("subject_digest", String(200)),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),  # the exact pushed bytes (<= 4 MiB)
    Column("annotations", Text),  # JSON, copied into referrers responses
    Column("pushed_at", Float, nullable=False),
    Column("last_pulled_at", Float),
    Column("config_media_type", String(255)),  # ECR's artifactMediaType (0002)
    Column("image_size", BigInteger),  # ECR's imageSizeInBytes: blobs summed; an index: its largest child (0002)
    Column("storage_class", String(16), nullable=False, server_default="STANDARD"),  # STANDARD | ARCHIVE (0003)
    Column("archived_at", Float),
    Column("activated_at", Float),
    Index("ix_manifests_subject", "repo_id", "subject_digest"),
    Index("ix_manifests_repo_pushed", "repo_id", "pushed_at", "digest"),  # the console's pages by push (0018)
    Index("ix_manifests_repo_size", "repo_id", "image_size", "digest"),  # and by size (0018)
)

# What each manifest references: drives "referenced blobs must exist", index children and GC.
manifest_refs = Table(
    "manifest_refs",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("parent_digest", String(200), primary_key=True),
    Column("child_digest", String(200), primary_key=True),
    Column("child_kind", String(8), nullable=False),  # 'blob' | 'manifest'
    Index("ix_manifest_refs_child", "child_digest"),
)

tags = Table(
    "tags",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("digest", String(200), nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_tags_digest", "repo_id", "digest"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# -- identity (migration 0002) ---------------------------------------------------------------

principals = Table(
    "principals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("policy", Text, nullable=False),  # IAM-style identity policy JSON
    Column("created_at", Float, nullable=False),
    Column("account", String(12)),  # its account (0022); NULL: the first account
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # the access key id, AKIA...
    Column("principal_id", Integer, ForeignKey("principals.id", ondelete="CASCADE"), nullable=False),
    Column("secret", Text, nullable=False),  # encrypted at rest (Fernet); SigV4 needs it back
    Column("status", String(16), nullable=False),  # Active | Inactive
    Column("created_at", Float, nullable=False),
)

# An IAM user's inline policies, by name (0019); its identity policy is these and `policy` together.
principal_policies = Table(
    "principal_policies",
    metadata,
    Column("principal_id", Integer, ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# An IAM user's tags: aws:PrincipalTag/<key> in Conditions (0019).
principal_tags = Table(
    "principal_tags",
    metadata,
    Column("principal_id", Integer, ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

# IAM roles: a trust policy (who may assume it) and inline policies (what it may do) (0020).
roles = Table(
    "roles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("trust_policy", Text, nullable=False),
    Column("max_session", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("tags", Text, nullable=False, server_default="{}"),  # JSON: aws:PrincipalTag/* of its sessions
)
role_policies = Table(
    "role_policies",
    metadata,
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)
# OpenID Connect providers whose tokens STS exchanges for a role's keys (0020).
oidc_providers = Table(
    "oidc_providers",
    metadata,
    Column("url", String(255), primary_key=True),  # the issuer without its scheme, as IAM names it
    Column("issuer", String(300), nullable=False),
    Column("client_ids", Text, nullable=False),  # JSON list
    Column("created_at", Float, nullable=False),
)
# The short-lived keys of an assumed role (0020).
session_keys = Table(
    "session_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # ASIA...
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
    Column("session_name", String(64), nullable=False),
    Column("secret", Text, nullable=False),  # encrypted with the master key
    Column("token_hash", String(64), nullable=False),  # sha256 of the session token
    Column("expires_at", Float, nullable=False),
    Column("tags", Text, nullable=False, server_default="{}"),  # JSON: session tags (over the role's)
    Index("ix_session_keys_expires", "expires_at"),
)

# IAM groups, their members and inline policies; managed policies and their versions; what
# each user, group and role has attached (0021).
iam_groups = Table(
    "iam_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)
group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Integer, ForeignKey("iam_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("principal_id", Integer, ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_group_members_principal", "principal_id"),
)
group_policies = Table(
    "group_policies",
    metadata,
    Column("group_id", Integer, ForeignKey("iam_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)
managed_policies = Table(
    "managed_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("default_version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("policy_id", Integer, ForeignKey("managed_policies.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
policy_attachments = Table(
    "policy_attachments",
    metadata,
    Column("kind", String(8), primary_key=True),  # user | group | role
    Column("holder_id", Integer, primary_key=True),
    Column("policy_arn", String(300), primary_key=True),
    Index("ix_policy_attachments_arn", "policy_arn"),
)

# Registry-wide documents: the registry policy, settings that belong to the registry not a repository.
registry_documents = Table(
    "registry_documents",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("body", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

creation_templates = Table(
    "creation_templates",
    metadata,
    Column("prefix", String(256), primary_key=True),
    Column("body", Text, nullable=False),  # JSON in the API's RepositoryCreationTemplate shape
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# -- lifecycle, audit, leases (migration 0003) --------------------------------------------------

lifecycle_previews = Table(
    "lifecycle_previews",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("policy", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("results", Text, nullable=False),  # JSON summary counts (0007; the results are rows below)
    Column("created_at", Float, nullable=False),
)

# One row per image a preview acts on (0007), in the order GetLifecyclePolicyPreview pages them.
lifecycle_preview_results = Table(
    "lifecycle_preview_results",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("pushed_at", Float, nullable=False),
    Column("tagged", Boolean, nullable=False),
    Column("result", Text, nullable=False),  # one previewResult, ECR's structure
    Index("ix_preview_results_order", "repo_id", "pushed_at", "digest"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(512), nullable=False),  # a principal's ARN | cli:<user> | lifecycle | gc
    Column("action", String(64), nullable=False),  # PutImage | DeleteManifest | EXPIRE | GC ... (0017)
    Column("repository", String(256)),
    Column("digest", String(200)),
    Column("detail", Text),  # JSON: tags, rule priority, bytes
    Column("source", String(64)),  # the client's address, or "local" (0017)
    Column("outcome", String(64)),  # "ok" or the error the face answered (0017)
    Column("tag", String(256)),  # the tag a push, restore or delete touched (0017)
    Index("ix_audit_repository_at", "repository", "at"),
    Index("ix_audit_repository_id", "repository", "id"),  # the audit log paged by key (0006)
    Index("ix_audit_repository_tag_id", "repository", "tag", "id"),  # a tag's history (0017)
)

# One holder at a time for background jobs across processes and replicas.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
)


# Managed signing (0005): keys Kikötő signs with, and each image's status per signing profile.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("private_key", Text, nullable=False),
    Column("certificate_chain", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

image_signing = Table(
    "image_signing",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("profile_arn", String(200), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("failure_code", String(64)),
    Column("failure_reason", Text),
    Column("updated_at", Float, nullable=False),
)


# Pull-through cache (0008): the rules, the secrets they name (the Secrets Manager subset),
# and when each cached tag was last checked against its upstream.
pull_through_rules = Table(
    "pull_through_rules",
    metadata,
    Column("prefix", String(64), primary_key=True),  # ecrRepositoryPrefix without its '/', or ROOT
    Column("upstream_registry", String(64)),  # ECR's enum value; None: any OCI registry
    Column("upstream_url", String(512), nullable=False),
    Column("credential_arn", String(612)),
    Column("custom_role_arn", String(2048)),
    Column("upstream_prefix", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(512), primary_key=True),
    Column("arn", String(600), nullable=False, unique=True),
    Column("value", Text),  # the SecretString, encrypted with the master key
    Column("version_id", String(64)),
    Column("description", Text),
    Column("tags", Text),  # JSON list of {Key, Value}
    Column("created_at", Float, nullable=False),
    Column("changed_at", Float, nullable=False),
    Column("deletion_date", Float),  # scheduled for deletion (DeleteSecret with a recovery window)
)

upstream_checks = Table(
    "upstream_checks",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(128), primary_key=True),
    Column("checked_at", Float, nullable=False),
)


# Replication and events (0009): the outbox every image change writes in its own transaction,
# the consumers' positions in it, webhook targets and deliveries, peers, replication work.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("action", String(32), nullable=False),  # PUSH, DELETE, UPDATE_STORAGE_CLASS, PULL_THROUGH_CACHE, REPLICATE
    Column("repository", String(256), nullable=False),
    Column("digest", String(200), nullable=False),
    Column("tag", String(300)),
    Column("detail", Text),  # JSON: what else the event's detail carries
)

outbox_cursors = Table(
    "outbox_cursors",
    metadata,
    Column("consumer", String(160), primary_key=True),
    Column("position", Integer, nullable=False),
)

event_targets = Table(
    "event_targets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("pattern", Text),  # an EventBridge event pattern (JSON); None: every event
    Column("secret", Text),  # HMAC key, encrypted with the master key
    Column("cloudevents", Boolean, nullable=False, server_default=false()),
    Column("created_at", Float, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(64), nullable=False),
    Column("event_id", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # pending, delivered, failed (dead-lettered)
    Column("attempts", Integer, nullable=False),
    Column("next_at", Float, nullable=False),
    Column("last_error", Text),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("target", "event_id"),
)

peers = Table(
    "peers",
    metadata,
    Column("region", String(25), primary_key=True),
    Column("registry_id", String(12), primary_key=True),
    Column("url", String(512), nullable=False),
    Column("kind", String(8), nullable=False),  # kikoto (ECR API + /v2) or oci (/v2 with Basic)
    Column("access_key_id", String(256), nullable=False),
    Column("secret", Text, nullable=False),  # encrypted with the master key
    Column("created_at", Float, nullable=False),
)

replication_items = Table(
    "replication_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer),  # the outbox event it came from (None: a backfill)
    Column("backfill_id", String(36)),
    Column("region", String(25), nullable=False),
    Column("registry_id", String(12), nullable=False),
    Column("action", String(16), nullable=False),  # REPLICATE or DELETE
    Column("repository", String(256), nullable=False),
    Column("digest", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # IN_PROGRESS, COMPLETE, FAILED, STOPPED
    Column("attempts", Integer, nullable=False),
    Column("next_at", Float, nullable=False),
    Column("claimed_by", String(128)),
    Column("claimed_until", Float),
    Column("failure", Text),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("event_id", "region", "registry_id"),
    Index("ix_replication_due", "status", "next_at"),
    Index("ix_replication_image", "repository", "digest"),
    Index("ix_replication_backfill", "backfill_id"),
)

replication_backfills = Table(
    "replication_backfills",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("region", String(25), nullable=False),
    Column("registry_id", String(12), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("failure_code", String(64)),
)


# Scanning (0010): vulnerability data imported from OSV, each image's inventory, scans and findings.
vulnerabilities = Table(
    "vulnerabilities",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("modified", Float, nullable=False),
    Column("document", Text, nullable=False),  # the OSV record, as imported
)

vulnerable_packages = Table(
    "vulnerable_packages",
    metadata,
    Column("name", String(512), nullable=False),
    Column("ecosystem", String(128), nullable=False),
    Column("vuln_id", String(128), nullable=False),
    UniqueConstraint("name", "ecosystem", "vuln_id"),
)

image_scans = Table(
    "image_scans",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("status", String(32), nullable=False),  # PENDING, IN_PROGRESS, COMPLETE, FAILED, UNSUPPORTED_IMAGE
    Column("description", Text),
    Column("requested_at", Float, nullable=False),
    Column("manual_at", Float),  # the last StartImageScan (one per image per 24 h)
    Column("completed_at", Float),
    Column("vulndb_version", Integer),  # the vulnerability data the findings were computed from
    Column("severity_counts", Text),  # JSON
    Column("inventory", Text),  # JSON: the OS and the packages found (rescans need no layer)
    Column("claimed_until", Float),
    Index("ix_image_scans_status", "status"),
)

scan_findings = Table(
    "scan_findings",
    metadata,
    Column("repo_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("position", Integer, primary_key=True),  # the page key: most severe first
    Column("finding", Text, nullable=False),  # JSON: one finding in ECR's shape
)


# The console's storage trend (0012): the registry's stored bytes after each garbage collection.
storage_snapshots = Table(
    "storage_snapshots",
    metadata,
    Column("at", Float, primary_key=True),
    Column("blobs", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
)

# Console sessions ended by signing out (0013), kept until they would have expired.
revoked_sessions = Table(
    "revoked_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),
)


# Accounts beside the first (0022): the first is the settings' account_id and needs no row.
accounts = Table(
    "accounts",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("alias", String(63), unique=True),
    Column("created_at", Float, nullable=False),
)
