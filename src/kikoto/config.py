"""One settings object: embedded defaults < TOML file (--config) < KIKOTO_* environment < command line."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "KIKOTO_"
DOMAIN = re.compile(r"(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@dataclass
class Settings:
    listen: str = "127.0.0.1:5000"
    data_dir: Path = Path("./data")
    public_host: str | None = None  # HOST[:PORT] used in URLs the registry returns
    public_scheme: str | None = None  # https when TLS ends in front of it (a balancer); default: as it serves
    database_url: str | None = None  # default: SQLite in the data dir
    blob_store: str | None = None  # file:///path (default <data-dir>) or s3://bucket/prefix
    s3_endpoint_url: str | None = None  # for S3-compatible stores other than AWS (SeaweedFS, MinIO, Ceph)
    s3_proxy_downloads: bool = False  # stream blobs through the registry instead of 307 to presigned URLs
    tls_cert: Path | None = None
    tls_key: Path | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    create_on_push: bool = False  # create any missing repository on push (ECR: only CREATE_ON_PUSH templates do)
    allow_sparse_index: bool = False  # accept indexes whose children are not in the repository
    pull_through_tag_ttl: float = 86400.0  # a cached tag is re-checked upstream at most this often (ECR: 24 h)
    pull_through_insecure_upstreams: bool = False  # allow http:// upstreams (tests, private networks)
    log_level: str = "info"
    account_id: str = "000000000000"  # the 12-digit registry id in ARNs and responses
    region: str = "us-east-1"  # the SigV4 region clients sign for
    # with it, each account's registry answers at <account>.dkr.ecr.<region>.<registry_domain> (as ECR's)
    registry_domain: str | None = None
    master_key: str | None = None  # Fernet key encrypting secrets at rest; default <data-dir>/master.key
    auth_challenge: str = "basic"  # what 401s on /v2/ ask for: basic (as ECR) or bearer (token flow)
    admin_access_key_id: str | None = None  # for automation: the admin key pair, instead of a generated one
    admin_secret_access_key: str | None = None
    lifecycle_interval: float = 86400.0  # seconds between lifecycle runs (0: never in the background)
    gc_interval: float = 3600.0  # seconds between garbage collections (0: never in the background)
    outbox_interval: float = 0.5  # seconds between passes over replication and webhook work (0: off)
    replication_retry_cap: float = 300.0  # the longest wait between replication attempts (backoff)
    event_max_attempts: int = 10  # webhook delivery attempts before an event is dead-lettered
    event_retry_cap: float = 300.0  # the longest wait between webhook delivery attempts
    scan_cyclonedx: bool = False  # attach a CycloneDX 1.5 SBOM beside the SPDX one
    scan_timeout: float = 300.0  # one scan's time limit: past it the scan is FAILED and the next one starts
    scan_max_layer_bytes: int = 8 << 30  # what one layer may decompress to before its scan is FAILED
    event_timeout: float = 30.0  # a webhook receiver must answer within this many seconds
    gc_grace_period: float = 7200.0  # blobs linked or uploaded more recently than this are never collected
    upload_ttl: float = 86400.0  # abandoned upload sessions expire after this long
    event_loop: str = "uvloop"  # uvloop (faster small requests) or asyncio (see docs/benchmarks.md)
    # Limits on what clients can make a worker spend (docs/security.md)
    request_memory_limit: int = 256 << 20  # bytes of request bodies held in memory per worker, all requests
    header_timeout: float = 10.0  # a request's headers must arrive within this many seconds (else 408)
    body_idle_timeout: float = 60.0  # a request body that sends nothing for this long is cut off (408)
    max_connections: int = 1000  # open connections per worker; beyond it the oldest idle ones are closed
    rate_limit_per_principal: float = 0.0  # requests a second per access key (0: off), per worker
    rate_limit_per_address: float = 0.0  # requests a second per client address (0: off), per worker
    rate_limit_burst: float = 50.0  # requests a client may make at once before the rate applies
    min_free_space: int = 1 << 30  # new uploads are refused when the data dir's disk has less free (bytes)
    public_metrics: bool = False  # /metrics without credentials, without repository names (trusted networks)
    # balancers whose X-Forwarded-For names the client (CIDRs, comma-separated): aws:SourceIp is the
    # socket's peer unless that peer is one of these, then the last address they did not add
    trusted_proxies: str = ""
    oidc_insecure_issuers: bool = False  # allow http:// OpenID Connect issuers (tests, private networks)
    oidc_jwks_dir: Path | None = None  # key sets of issuers an offline site cannot reach (<host>.json)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'kikoto.db').resolve()}"

    @property
    def scheme(self) -> str:
        """The scheme of the URLs clients are given (Location, token realm, repository URIs)."""
        return self.public_scheme or self.serving_scheme

    @property
    def serving_scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def validate(self) -> None:
        if ":" not in self.listen or not self.listen.rsplit(":", 1)[1].isdigit():
            raise ValueError(f"listen must be HOST:PORT, got {self.listen!r}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        if self.public_scheme not in (None, "http", "https"):
            raise ValueError("public_scheme must be http or https")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if not (len(self.account_id) == 12 and self.account_id.isdigit()):
            raise ValueError("account_id must be 12 digits")
        if self.registry_domain is not None and not DOMAIN.fullmatch(self.registry_domain):
            raise ValueError(f"registry_domain must be a DNS name such as example.net, got {self.registry_domain!r}")
        if self.event_loop not in ("uvloop", "asyncio"):
            raise ValueError("event_loop must be uvloop or asyncio")
        if self.auth_challenge not in ("basic", "bearer"):
            raise ValueError("auth_challenge must be basic or bearer")
        if self.blob_store and not self.blob_store.startswith(("file://", "s3://")):
            raise ValueError("blob_store must be file:///path or s3://bucket[/prefix]")
        if self.blob_store and self.blob_store.startswith("s3://") and self.database.startswith("sqlite"):
            raise ValueError("an S3 blob store is for replicas: give it a PostgreSQL --database-url")
        for name in ("request_memory_limit", "header_timeout", "body_idle_timeout", "max_connections"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for network in filter(None, (n.strip() for n in self.trusted_proxies.split(","))):
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {network!r} is not an address or a CIDR") from None
        if bool(self.admin_access_key_id) != bool(self.admin_secret_access_key):
            raise ValueError("admin_access_key_id and admin_secret_access_key go together")

    @property
    def public(self) -> str:
        """HOST[:PORT] clients use: --public-host, else the listen address."""
        return self.public_host or self.listen


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if value is None:
        return None
    if "bool" in kind:
        return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")
    if "int" in kind:
        return int(value)
    if "float" in kind:
        return float(value)
    if "Path" in kind:
        return Path(value)
    return str(value)


def load_settings(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    if config_file is not None:
        with open(config_file, "rb") as fh:
            document = tomllib.load(fh)
        for key, value in document.items():
            key = key.replace("-", "_")
            if key not in names:
                raise ValueError(f"{config_file}: unknown setting {key!r}")
            values[key] = value
    environ = os.environ if environ is None else environ
    for name in names:
        if ENV_PREFIX + name.upper() in environ:
            values[name] = environ[ENV_PREFIX + name.upper()]
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    settings = Settings(**{k: _coerce(k, v) for k, v in values.items()})
    settings.validate()
    return settings
