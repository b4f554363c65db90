"""Images for the scanning tests, built here (no network): root filesystems with the package
databases of Debian, Alpine and Rocky Linux, Python, npm and Java trees, optionally a Go binary,
written as OCI layouts with gzip, zstd or uncompressed layers, whiteouts included."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

import zstandard

from kikoto.domain.manifests import OCI_MANIFEST

from .images import Layout

LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def tar_of(files: dict[str, bytes | tuple[bytes, int]]) -> bytes:
    """A tar of `files` (path -> content, or (content, mode)); a path whose content is None-like
    b"" under a `.wh.` name is a whiteout."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, value in sorted(files.items()):
            content, mode = value if isinstance(value, tuple) else (value, 0o644)
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), mode, 0
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def compress(raw: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(raw, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def image(layout: Layout, layers: list[dict], tag: str, how: str = "gzip") -> dict:
    """An image of `layers` (each a dict of files), tagged `tag` in the layout."""
    descriptors, diff_ids = [], []
    for files in layers:
        raw = tar_of(files)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descriptors.append(layout.blob(compress(raw, how), LAYER_TYPES[how]))
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": layout.blob(config, "application/vnd.oci.image.config.v1+json"),
        "layers": descriptors,
    }
    descriptor = layout.blob(json.dumps(manifest).encode(), OCI_MANIFEST)
    layout.tag(descriptor, tag)
    return descriptor


def os_release(distro: str, version: str) -> bytes:
    return f'ID={distro}\nVERSION_ID="{version}"\nPRETTY_NAME="{distro} {version}"\n'.encode()


def dpkg_status(*packages: tuple[str, str, str | None]) -> bytes:
    stanzas = []
    for name, version, source in packages:
        stanza = f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
        if source:
            stanza += f"Source: {source}\n"
        stanzas.append(stanza + "Description: test package\n")
    return "\n".join(stanzas).encode()


def apk_installed(*packages: tuple[str, str, str]) -> bytes:
    return "".join(f"C:Q1test=\nP:{n}\nV:{v}\nA:x86_64\no:{o}\n\n" for n, v, o in packages).encode()


def python_metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA description.\n".encode()


def package_json(name: str, version: str) -> bytes:
    return json.dumps({"name": name, "version": version}).encode()


def jar(group: str, artifact: str, version: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            f"META-INF/maven/{group}/{artifact}/pom.properties",
            f"groupId={group}\nartifactId={artifact}\nversion={version}\n",
        )
        archive.writestr("org/example/Main.class", b"\xca\xfe\xba\xbe")
    return buffer.getvalue()


def rpm_header(name: str, version: str, release: str, epoch: int | None, arch: str = "x86_64") -> bytes:
    """An rpmdb header blob (index count, data length, entries, data store), as rpm writes it."""
    entries, store = [], b""

    def string(tag: int, value: str) -> None:
        nonlocal store
        entries.append((tag, 6, len(store), 1))
        store += value.encode() + b"\0"

    string(1000, name)
    string(1001, version)
    string(1002, release)
    string(1022, arch)
    string(1044, f"{name}-{version}-{release}.src.rpm")
    if epoch is not None:
        store += b"\0" * (-len(store) % 4)
        entries.append((1003, 4, len(store), 1))
        store += struct.pack(">i", epoch)
    index = b"".join(struct.pack(">iiii", *entry) for entry in entries)
    return struct.pack(">II", len(entries), len(store)) + index + store


def rpmdb(*headers: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rpmdb.sqlite"
        database = sqlite3.connect(path)
        database.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
        database.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
        database.commit()
        database.close()
        return path.read_bytes()


def go_binary(work: Path) -> bytes | None:
    """A Go binary built here with a dependency (a local module), or None without `go`."""
    go = shutil.which("go")
    if go is None:
        return None
    source = work / "gosrc"
    (source / "dep").mkdir(parents=True, exist_ok=True)
    (source / "dep" / "go.mod").write_text("module example.com/dep\n\ngo 1.19\n")
    (source / "dep" / "dep.go").write_text('package dep\n\nfunc Hello() string { return "hello" }\n')
    (source / "go.mod").write_text(
        "module example.com/app\n\ngo 1.19\n\nrequire example.com/dep v1.2.3\n\n"
        "replace example.com/dep v1.2.3 => ./dep\n"
    )
    (source / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/dep"\n)\n\nfunc main() { fmt.Println(dep.Hello()) }\n'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "GOCACHE": str(work / "gocache"),
        "GOPATH": str(work / "gopath"),
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
    }
    subprocess.run([go, "build", "-o", str(work / "app")], cwd=source, env=env, check=True, capture_output=True)
    return (work / "app").read_bytes()
