"""Images are untrusted input to the scanner (the platform round of the audit): what one image
can make a scan spend is bounded (members read, package files, packages, distinct images of an
index, decompressed bytes, time), an image's rpmdb is not run as a program, and bad OSV data is
refused at import instead of leaving scans stuck."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import tarfile
import time

import zstandard

from kikoto.app import SERVICES
from kikoto.features.scanning.layers import MAX_FILES, MAX_RPM_ROWS

from ..helpers import OCI_INDEX, descriptor, image_manifest, push_blob, put_manifest
from .conftest import peak_memory

MiB = 1 << 20
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def tar_of(files) -> bytes:
    """A tar of (path, content) pairs, written without keeping TarInfo objects around."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, content in files:
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
            tar.members.clear()
    return buffer.getvalue()


async def push(registry, tag: str, layers: list[bytes], repo: str = "app") -> bytes:
    client = await registry.authed()
    await push_blob(client, repo, CONFIG)
    for layer in layers:
        await push_blob(client, repo, layer)
    manifest = image_manifest(CONFIG, layers)
    response = await put_manifest(client, repo, tag, manifest)
    assert response.status == 201, await response.text()
    return manifest


async def scan(registry, tag: str, repo: str = "app"):
    row, findings = await scanner_of(registry).scan_now(repo, tag)
    return row, findings


async def test_a_layer_of_many_files_keeps_memory_flat(registry_with):
    """The tar reader kept every member it had read: 200k files cost 543 MiB."""
    registry = await registry_with()
    files = ((f"srv/f{n}", b"") for n in range(200_000))
    layer = gzip.compress(tar_of(files), compresslevel=1)
    await push(registry, "many", [layer])
    (row, _), grown = await peak_memory(scan(registry, "many"))
    assert row.status == "COMPLETE", row.description
    assert grown < 24 * MiB, f"200k members grew the process by {grown / MiB:.0f} MiB"


async def test_too_many_package_files_fail_the_scan_saying_so(registry_with):
    registry = await registry_with()
    package = json.dumps({"name": "left-pad", "version": "1.0.0"}).encode()
    files = ((f"app/node_modules/p{n}/package.json", package) for n in range(MAX_FILES + 10))
    layer = gzip.compress(tar_of(files), compresslevel=1)
    assert len(layer) < 4 * MiB
    await push(registry, "npm", [layer])
    row, findings = await scan(registry, "npm")
    assert row.status == "FAILED" and f"more than {MAX_FILES} package files" in row.description, row.description
    assert findings == []


async def test_an_index_scans_each_distinct_image_once_and_a_bounded_number(registry_with):
    registry = await registry_with()
    client = await registry.authed()
    child = await push(registry, "child", [gzip.compress(tar_of([("etc/hostname", b"x")]))])
    entry = descriptor(
        child, "application/vnd.oci.image.manifest.v1+json", platform={"os": "linux", "architecture": "amd64"}
    )
    repeated = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry] * 150}).encode()
    assert (await put_manifest(client, "app", "repeated", repeated, OCI_INDEX)).status == 201
    started = time.monotonic()
    row, _ = await scan(registry, "repeated")
    assert row.status == "COMPLETE", row.description
    assert time.monotonic() - started < 5
    stored = await scanner_of(registry).scans.scan(row.repo_id, row.digest)
    assert stored is not None and len({p["path"] for p in stored.inventory["packages"]}) == 0
    children = []
    for n in range(65):
        manifest = await push(registry, f"c{n}", [gzip.compress(tar_of([("etc/hostname", str(n).encode())]))])
        children.append(descriptor(manifest, "application/vnd.oci.image.manifest.v1+json"))
    wide = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    assert (await put_manifest(client, "app", "wide", wide, OCI_INDEX)).status == 201
    row, _ = await scan(registry, "wide")
    assert row.status == "FAILED" and "more than 64 distinct images" in row.description, row.description


def _rpmdb(tmp_path, *statements: str) -> bytes:
    path = tmp_path / f"rpmdb-{time.monotonic_ns()}.sqlite"
    database = sqlite3.connect(path)
    for statement in statements:
        database.execute(statement)
    database.commit()
    database.close()
    return path.read_bytes()


async def test_an_images_rpmdb_is_not_run_as_a_program(registry_with, tmp_path):
    """A `Packages` view was queried: 396 MiB for a 4 KiB file, or a loop for as long as it ran."""
    registry = await registry_with(scan_timeout=20)
    endless = _rpmdb(
        tmp_path,
        "CREATE VIEW Packages AS WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
        "SELECT x AS hnum, randomblob(100000) AS blob FROM n",
    )
    computed = _rpmdb(
        tmp_path,
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, seed INTEGER, "
        "blob BLOB GENERATED ALWAYS AS (zeroblob(seed)))",
        "INSERT INTO Packages (seed) VALUES (900000000)",
    )
    for tag, database in (("view", endless), ("generated", computed)):
        layer = gzip.compress(
            tar_of([("etc/os-release", b"ID=rocky\nVERSION_ID=9.3\n"), ("var/lib/rpm/rpmdb.sqlite", database)])
        )
        await push(registry, tag, [layer])
        started = time.monotonic()
        (row, _), grown = await peak_memory(scan(registry, tag))
        assert row.status == "COMPLETE", row.description  # no packages read from it
        assert time.monotonic() - started < 5 and grown < 64 * MiB, (tag, grown / MiB)
    rows = _rpmdb(
        tmp_path,
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
        f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT {MAX_RPM_ROWS + 1}) "
        "INSERT INTO Packages (blob) SELECT x'00' FROM n",
    )
    await push(registry, "rows", [gzip.compress(tar_of([("var/lib/rpm/rpmdb.sqlite", rows)]))])
    row, _ = await scan(registry, "rows")
    assert row.status == "FAILED" and f"more than {MAX_RPM_ROWS} rows" in row.description, row.description


def _zeros_layer(size: int) -> bytes:
    """A tar holding one file of `size` zero bytes, as it streams (nothing of that size in memory)."""
    header = tarfile.TarInfo("big.bin")
    header.size = size
    head = header.tobuf(format=tarfile.GNU_FORMAT)
    zero = bytes(MiB)

    def chunks():
        yield head
        for _ in range(size // MiB):
            yield zero
        yield bytes(1024)  # the end-of-archive blocks

    return chunks()


async def test_decompression_bombs_stop_at_the_layer_limit(registry_with):
    registry = await registry_with(scan_max_layer_bytes=64 * MiB)
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    bomb = b"".join(compressor.compress(c) for c in _zeros_layer(512 * MiB)) + compressor.flush()
    gzipped = io.BytesIO()
    with gzip.GzipFile(fileobj=gzipped, mode="wb", compresslevel=1, mtime=0) as out:
        for c in _zeros_layer(256 * MiB):
            out.write(c)
    for tag, layer in (("zstd", bomb), ("gzip", gzipped.getvalue())):
        assert len(layer) < 2 * MiB
        await push(registry, tag, [layer])
        started = time.monotonic()
        row, _ = await scan(registry, tag)
        assert row.status == "FAILED" and f"more than {64 * MiB} bytes" in row.description, row.description
        assert time.monotonic() - started < 10


async def test_a_scan_stops_at_its_time_limit(registry_with):
    registry = await registry_with(scan_timeout=0.2)
    compressor = zstandard.ZstdCompressor(level=1).compressobj()
    layer = b"".join(compressor.compress(c) for c in _zeros_layer(2048 * MiB)) + compressor.flush()
    await push(registry, "slow", [layer])
    started = time.monotonic()
    row, _ = await scan(registry, "slow")
    assert row.status == "FAILED" and "time limit" in row.description, row.description
    assert time.monotonic() - started < 3


def _osv(vid: str, affected) -> str:
    return json.dumps({"id": vid, "modified": "2026-01-01T00:00:00Z", "affected": affected})


async def test_bad_osv_records_are_skipped_with_their_ids(registry_with, tmp_path):
    registry = await registry_with()
    data = scanner_of(registry).data
    folder = tmp_path / "osv"
    folder.mkdir()
    package = {"name": "left-pad", "ecosystem": "npm"}
    (folder / "good.json").write_text(
        _osv("GHSA-good", [{"package": package, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}])
    )
    (folder / "number.json").write_text(_osv("GHSA-number", [1]))
    (folder / "empty-event.json").write_text(
        _osv("GHSA-empty", [{"package": package, "ranges": [{"type": "SEMVER", "events": [{}]}]}])
    )
    (folder / "not-json.json").write_text("{")
    with open(folder / "huge.json", "wb") as huge:
        huge.write(b'{"id": "GHSA-huge", "details": "' + b"x" * (17 * MiB) + b'"}')
    done, grown = await peak_memory(data.import_path(folder))
    assert grown < 64 * MiB, grown / MiB
    assert (done.read, done.skipped_count) == (1, 4)
    skipped = dict(done.skipped)
    assert "affected entry is not an object" in skipped["GHSA-number"]
    assert "event" in skipped["GHSA-empty"]
    assert "not JSON" in skipped["not-json.json"] and "larger than" in skipped["huge.json"]


async def test_a_scan_never_stays_in_progress_on_bad_stored_data(registry_with):
    """A record with `events: [{}]` imported before validation left matching scans IN_PROGRESS."""
    registry = await registry_with()
    scanner = scanner_of(registry)
    bad = {
        "id": "GHSA-old",
        "affected": [
            {"package": {"name": "left-pad", "ecosystem": "npm"}, "ranges": [{"type": "SEMVER", "events": [{}]}]}
        ],
    }
    await scanner.scans.put_vulnerabilities([("GHSA-old", 0.0, json.dumps(bad), [("left-pad", "npm")])])
    package = json.dumps({"name": "left-pad", "version": "1.0.0"}).encode()
    await push(registry, "npm", [gzip.compress(tar_of([("app/node_modules/left-pad/package.json", package)]))])
    row, _ = await scan(registry, "npm")
    assert row.status in ("FAILED", "COMPLETE") and row.status != "IN_PROGRESS", row


def scanner_of(registry):
    return registry.app[SERVICES].features["scanning"].service
