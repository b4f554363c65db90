"""A real PostgreSQL server for the tests, started as the `postgres` user (it refuses root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*argv: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return list(argv)


class PostgresServer:
    def __init__(self, durable: bool = False):
        """`durable`: fsync on, as in production (the benchmarks); tests run without it."""
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="kikoto-pg-"))
        self.port = free_port()
        self.data = self.root / "data"

    @staticmethod
    def available() -> str | None:
        """None when the server can be started here, else why not."""
        for tool in ("initdb", "pg_ctl"):
            if shutil.which(tool) is None:
                return f"{tool} is not on PATH"
        return None

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        subprocess.run(
            _as_postgres(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--locale=C.UTF-8", "-E", "UTF8"
            ),
            check=True,
            capture_output=True,
        )
        self._start()
        return self

    def _start(self) -> None:
        fsync = "on" if self.durable else "off"
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync={fsync} -c max_connections=300"
        subprocess.run(
            _as_postgres("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start"),
            check=True,
            capture_output=True,
        )

    def outage(self, seconds: float) -> None:
        """`pg_ctl stop -m fast`, `seconds` of nothing, then the server again (as a restart does,
        with time to see what clients get meanwhile)."""
        import time

        subprocess.run(
            _as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"), check=True, capture_output=True
        )
        time.sleep(seconds)
        self._start()

    def stop(self) -> None:
        subprocess.run(_as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-q",
                "-c",
                f'CREATE DATABASE "{name}"',
            ],
            check=True,
            capture_output=True,
        )
        return self.url(name)
