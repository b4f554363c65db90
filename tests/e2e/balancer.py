"""A real load balancer in front of the replicas: HAProxy (Debian `haproxy`), round robin, each
replica health-checked on /readyz as docs/deploy.md configures it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from ..pg import free_port
from .conftest import Local

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"  # what docs/deploy.md gives


class Balancer(Local):
    def __init__(self, root: Path, backends: list[str], tls: Path | None = None) -> None:
        """`tls`: a PEM of certificate and key: TLS ends here (`bind ... ssl crt`, as deploy.md says)."""
        self.root, self.backends, self.tls = root, backends, tls
        self.scheme = "https" if tls else "http"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("haproxy") else "haproxy (Debian haproxy) is missing"

    @property
    def socket(self) -> Path:
        return self.root / "admin.sock"

    def stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's own counters per replica (`show stat`): requests answered (`hrsp_2xx`, ...),
        sessions (`stot`), health (`status`)."""
        with socket.socket(socket.AF_UNIX) as admin:
            admin.connect(str(self.socket))
            admin.sendall(b"show stat\n")
            data = b""
            while chunk := admin.recv(65536):
                data += chunk
        header, *rows = data.decode().lstrip("# ").splitlines()
        names = header.split(",")
        found = {}
        for row in rows:
            values = dict(zip(names, row.split(","), strict=False))
            if values.get("pxname") == "replicas" and values.get("svname", "").startswith("r"):
                found[values["svname"]] = values
        return found

    def requests_per_replica(self) -> list[int]:
        stats = self.stats()
        return [int(stats[f"r{n}"]["req_tot"] or 0) for n in range(len(self.backends))]

    def start(self) -> Balancer:
        self.root.mkdir(parents=True, exist_ok=True)
        lines = []
        for line in CONFIG.read_text().splitlines():
            if line.strip().startswith("server "):
                continue  # ours instead
            if line.strip().startswith("bind "):
                line = f"    bind 127.0.0.1:{self.port}" + (f" ssl crt {self.tls}" if self.tls else "")
            elif line.strip().startswith("stats socket "):
                line = f"    stats socket {self.socket} level admin"
            lines.append(line)
        lines += [f"    server r{n} {backend} check" for n, backend in enumerate(self.backends)]
        config = self.root / "haproxy.cfg"
        config.write_text("\n".join(lines) + "\n")
        log = (self.root / "haproxy.log").open("ab")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.root / "haproxy.log").read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
