"""Garbage at size for GC's tests and benchmark: dead blobs (linked into a repository, referenced
by no manifest, as abandoned pushes leave them) among live ones (referenced by manifests of a
hundred layers each), written straight into a stopped registry's database and blob store:
a million rows in seconds instead of a million pushes."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import subprocess
from pathlib import Path

SIZE = 320  # bytes per blob: small, so GC's figure is the cost per blob, not per byte
LAYERS = 100  # live blobs per manifest


class Blobs(list[str]):
    """The hex digests of `count` blobs of a kind, whose bytes it makes again on demand (a
    million of them would not fit in memory at once)."""

    def __init__(self, kind: str, count: int) -> None:
        self.kind = kind
        super().__init__(hashlib.sha256(self.content(i)).hexdigest() for i in range(count))

    def content(self, i: int) -> bytes:
        return f"{self.kind} {i} ".encode().ljust(SIZE, b".")


def digests(kind: str, count: int) -> Blobs:
    return Blobs(kind, count)


def write_files(root: Path, *kinds: Blobs) -> None:
    """Their files in the disk store's layout: <root>/<first two hex digits>/<hex digest>."""
    for prefix in {name[:2] for blobs in kinds for name in blobs}:
        (root / prefix).mkdir(parents=True, exist_ok=True)
    for blobs in kinds:
        for i, name in enumerate(blobs):
            fd = os.open(root / name[:2] / name, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, blobs.content(i))
            os.close(fd)


REPOSITORY = "INSERT INTO repositories (name, created_at) VALUES ('junk', 0) ON CONFLICT (name) DO NOTHING"


def _tables(repo: int, dead: list[str], live: list[str]) -> dict[str, list[tuple]]:
    blobs = ["sha256:" + d for d in dead + live]
    manifests = [f"sha256:{i:064x}" for i in range(0, len(live), LAYERS)]
    return {
        "blobs (digest, size, created_at, tier)": [(d, SIZE, 0, "standard") for d in blobs],
        "repo_blobs (repo_id, digest, linked_at)": [(repo, d, 0) for d in blobs],
        "manifests (repo_id, digest, media_type, size, content, pushed_at)": [
            (repo, m, "x", 2, b"{}", 0) for m in manifests
        ],
        "manifest_refs (repo_id, parent_digest, child_digest, child_kind)": [
            (repo, manifests[i // LAYERS], "sha256:" + d, "blob") for i, d in enumerate(live)
        ],
    }


def fill_sqlite(database: Path, dead: list[str], live: list[str]) -> None:
    db = sqlite3.connect(database, timeout=60)  # a server may be running on it
    with db:
        db.execute(REPOSITORY)
        repo = db.execute("SELECT id FROM repositories WHERE name = 'junk'").fetchone()[0]
        for table, rows in _tables(repo, dead, live).items():
            if rows:
                db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    db.close()


def leave_garbage(data_dir: Path, dead: Blobs, live: Blobs | None = None) -> None:
    """Blobs in the embedded default's data directory: files, then rows."""
    live = live or Blobs("live", 0)
    write_files(data_dir / "blobs" / "sha256", dead, live)
    fill_sqlite(data_dir / "kikoto.db", dead, live)


def fill_postgres(url: str, dead: list[str], live: list[str]) -> None:
    """Through psql's COPY: the bench needs no PostgreSQL driver of its own."""

    def psql(*args: str, stdin: bytes | None = None) -> str:
        done = subprocess.run(["psql", url, "-qAt", *args], input=stdin, capture_output=True, check=True)
        return done.stdout.decode().strip()

    psql("-c", REPOSITORY)
    repo = int(psql("-c", "SELECT id FROM repositories WHERE name = 'junk'"))
    for table, rows in _tables(repo, dead, live).items():
        text = io.StringIO()
        for row in rows:
            text.write("\t".join("\\\\x7b7d" if v == b"{}" else str(v) for v in row) + "\n")
        psql("-c", f"COPY {table} FROM STDIN", stdin=text.getvalue().encode())
