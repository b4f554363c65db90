"""Upstream registries for the pull-through cache tests: CNCF Distribution (Debian's
docker-registry) with htpasswd (bcrypt) authentication and an access log to count requests."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import bcrypt

from .conftest import Local, free_port


class Distribution(Local):
    def __init__(self, root: Path, user: str = "hubuser", password: str = "hub-password-1"):
        self.root, self.user, self.password = root, user, password
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = root / "distribution.log"

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("docker-registry") else "docker-registry (Debian's Distribution) is not installed"

    @property
    def creds(self) -> str:
        return f"{self.user}:{self.password}"

    def start(self) -> Distribution:
        self.root.mkdir(parents=True, exist_ok=True)
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=5)).decode()
        (self.root / "htpasswd").write_text(f"{self.user}:{hashed}\n")
        config = self.root / "config.yml"
        config.write_text(
            f"""version: 0.1
log: {{level: info, accesslog: {{disabled: false}}}}
storage:
  filesystem: {{rootdirectory: {self.root / "data"}}}
  delete: {{enabled: true}}
auth:
  htpasswd: {{realm: upstream, path: {self.root / "htpasswd"}}}
http: {{addr: "{self.host}"}}
"""
        )
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)

    def requests(self, method: str, path_pattern: str) -> int:
        """How many `method` requests whose path matches `path_pattern` were answered 2xx."""
        pattern = re.compile(rf'"{method} {path_pattern} HTTP/1\.1" 2\d\d')
        return len(pattern.findall(self.log.read_text(errors="replace")))
