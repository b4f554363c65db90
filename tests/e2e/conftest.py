"""A real `kikoto serve` process on 127.0.0.1, and the real clients that drive it."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from ..conftest import require
from ..pg import free_port

VENV_BIN = Path(sys.executable).parent


def wait_until(condition, seconds: float = 30, what: str = "the condition", step: float = 0.05):
    """Poll `condition()` until it returns something true (returned), failing after `seconds`:
    tests wait on conditions, never on a fixed sleep."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(step)


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


ADMIN_KEY, ADMIN_SECRET = "AKIAE2EADMIN00000001", "e2e-admin-secret-0123456789"
REGION = "us-east-1"
# KIKOTO_E2E_BACKEND=s3: every server these tests start runs on PostgreSQL + S3 (SeaweedFS), the
# replicated deployment's storage, instead of SQLite + local disk (`make test` runs both).
SHARED_BACKEND = os.environ.get("KIKOTO_E2E_BACKEND", "local") == "s3"
_backend: dict = {}


@pytest.fixture(scope="session", autouse=SHARED_BACKEND)
def shared_backend(request):
    """Start PostgreSQL and SeaweedFS once for the whole session when the S3 backend is asked for."""
    _backend["postgres"] = request.getfixturevalue("postgres")
    _backend["s3"] = request.getfixturevalue("s3_url")
    yield
    _backend.clear()


class Local:
    """Something the tests started, listening on a port of 127.0.0.1."""

    port: int
    scheme = "http"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


class Server(Local):
    def __init__(
        self,
        data_dir: Path,
        workers: int = 2,
        extra: list[str] | None = None,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
    ):
        self.data_dir = data_dir
        self.env = {
            "KIKOTO_ADMIN_ACCESS_KEY_ID": ADMIN_KEY,
            "KIKOTO_ADMIN_SECRET_ACCESS_KEY": ADMIN_SECRET,
            "KIKOTO_CREATE_ON_PUSH": "true",
            # background runs would race the tests' own; tests run them explicitly
            "KIKOTO_LIFECYCLE_INTERVAL": "0",
            "KIKOTO_GC_INTERVAL": "0",
            **(env or {}),
        }
        self.port = free_port()
        self.workers = workers
        self.extra = extra or []
        if _backend and database_url is None:
            # a port comes free again once its server stops, so it cannot name what outlives
            # the server: a later server on the same port met its predecessor's database
            unique = uuid.uuid4().hex[:12]
            database_url = _backend["postgres"].create_database(f"e2e_{unique}")
            bucket, endpoint = _backend["s3"]
            self.env.setdefault("KIKOTO_BLOB_STORE", f"{bucket}/e2e-{unique}")
            self.env.setdefault("KIKOTO_S3_ENDPOINT_URL", endpoint)
        self.database_url = database_url
        if database_url:  # in the environment, so admin commands run beside the server find it too
            self.env["KIKOTO_DATABASE_URL"] = database_url
        self.process: subprocess.Popen | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    @property
    def process_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self) -> Server:
        argv = [
            str(VENV_BIN / "kikoto"),
            "serve",
            "--listen",
            self.host,
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            *self.extra,
        ]
        # only this start's lines count: a restarted server's log still holds the last "ready"
        # (a test restarting a peer went on before the new process listened)
        before = self.log.stat().st_size if self.log.exists() else 0
        self.process = subprocess.Popen(
            argv, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True, env=self.process_env
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.log, "rb") as log:
                log.seek(before)
                if b"kikoto ready on" in log.read():
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"kikoto serve did not start:\n{self.log.read_text(errors='replace')}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def kikoto(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """An admin command (`kikoto keys create ...`) against this server's storage, beside it."""
        return subprocess.run(
            [str(VENV_BIN / "kikoto"), *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            env=self.process_env,
            check=check,
            timeout=300,
        )

    def aws(self, *args: str, stdin: str | None = None, keys: tuple[str, str] = (ADMIN_KEY, ADMIN_SECRET)) -> str:
        """The aws CLI (`aws ecr ...`, `aws secretsmanager ...`) against this server, as the admin
        (or the owner of `keys`); its standard output (JSON for the API calls)."""
        config = self.data_dir.parent / "aws-config"  # v1 fetches any parameter that looks like a URL
        config.write_text("[default]\ncli_follow_urlparam = false\n")  # unless told not to
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": keys[0],
            "AWS_SECRET_ACCESS_KEY": keys[1],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        result = subprocess.run(
            [str(VENV_BIN / "aws"), *args, "--endpoint-url", self.url, "--output", "json"],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 0, f"aws {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    def ecr(self, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET):
        """A boto3 ECR client pointed at this server (real SigV4 signing)."""
        import boto3

        from ..ecr_shapes import validate_every_response

        client = boto3.client(
            "ecr", endpoint_url=self.url, region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret
        )
        validate_every_response(client)  # every answer is checked against botocore's model
        return client

    def client(self, service: str, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET):
        """A plain boto3 client of `service` (ecr, secretsmanager) pointed at this server."""
        import boto3

        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret
        )

    def password(self, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET) -> str:
        """`aws ecr get-login-password`, done with boto3."""
        token = self.ecr(key, secret).get_authorization_token()["authorizationData"][0]["authorizationToken"]
        return base64.b64decode(token).decode().split(":", 1)[1]

    @property
    def creds(self) -> str:
        return f"AWS:{self.password()}"

    def auth_headers(self) -> dict[str, str]:
        """What `podman login` sends afterwards: Basic AWS:<password>."""
        return {"Authorization": "Basic " + base64.b64encode(self.creds.encode()).decode()}


@pytest.fixture
def server(tmp_path):
    instance = Server(tmp_path / "data").start()
    yield instance
    instance.stop()


def tool(name: str) -> str:
    path = shutil.which(name)
    require(None if path else f"{name} is not installed")
    return path


@pytest.fixture
def skopeo():
    path = tool("skopeo")

    def run(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([path, *args], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"skopeo {' '.join(args)} failed:\n{result.stderr}"
        return result

    return run


@pytest.fixture
def podman(tmp_path):
    path = tool("podman")
    runroot = Path(tempfile.mkdtemp(prefix="kp-", dir="/tmp"))  # podman wants a runroot under 50 characters
    base = [
        path,
        "--root",
        str(tmp_path / "podman"),
        "--runroot",
        str(runroot),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
    ]

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*base, *args],
            capture_output=True,
            text=True,
            timeout=300,
            input=stdin,
            env={**os.environ, "TMPDIR": str(tmp_path), "REGISTRY_AUTH_FILE": str(tmp_path / "podman-auth.json")},
        )
        assert result.returncode == 0, f"podman {' '.join(args)} failed:\n{result.stderr}"
        return result

    run.root, run.runroot, run.base = tmp_path / "podman", runroot, base  # base: podman and its storage options
    yield run
    shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture
def containerd(tmp_path):
    require(None if shutil.which("containerd") and shutil.which("ctr") else "containerd is not installed")
    require(None if os.geteuid() == 0 else "containerd runs as root here")
    root = Path(tempfile.mkdtemp(prefix="ctrd-", dir="/tmp"))  # socket paths must be short
    config = root / "config.toml"
    config.write_text(
        f"""version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{root}/c.sock"
[ttrpc]
  address = "{root}/t.sock"
"""
    )
    process = subprocess.Popen(
        ["containerd", "--config", str(config)], stdout=open(root / "log", "wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while not (root / "c.sock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    def ctr(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["ctr", "--address", str(root / "c.sock"), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"ctr {' '.join(args)} failed:\n{result.stderr}\n{result.stdout}"
        return result

    yield ctr
    process.terminate()
    process.wait(timeout=20)
    shutil.rmtree(root, ignore_errors=True)
