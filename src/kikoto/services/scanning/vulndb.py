"""Vulnerability data in the OSV format, imported offline (`kikoto vulndb import PATH`: OSV JSON
files, a directory of them, or the per-ecosystem `all.zip` archives OSV publishes), and the
matching of an inventory against it."""

from __future__ import annotations

import datetime
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ...domain.inventory import OsRelease, Package
from ...storage.meta.ecr import EcrStore
from ...storage.meta.scanning import ScanStore
from . import matching

DOCUMENT = "vulndb-status"
BATCH = 500
SEVERITY_ORDER = {name: i for i, name in enumerate(matching.SEVERITIES)}


def _epoch(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _documents(path: Path) -> Iterator[bytes]:
    """Every OSV JSON document under `path` (a file, a zip archive or a directory of either)."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix in (".json", ".zip"):
                yield from _documents(child)
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.filename.endswith(".json") and member.file_size < 16 << 20:
                    yield archive.read(member)
    else:
        yield path.read_bytes()


def _record(data: bytes) -> tuple[str, float, str, list[tuple[str, str]]] | None:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        return None
    packages = []
    for entry in document.get("affected") or []:
        package = entry.get("package") or {}
        name, ecosystem = package.get("name"), package.get("ecosystem")
        if isinstance(name, str) and isinstance(ecosystem, str):
            kind = "pypi" if ecosystem == "PyPI" else ""
            lookup = matching.lookup_name(Package(kind, name, "", "")) if kind else name
            packages.append((lookup, ecosystem))
    modified = _epoch(document.get("modified"))
    return document["id"], modified, json.dumps(document, separators=(",", ":")), packages


class VulnerabilityData:
    def __init__(self, store: ScanStore, ecr_store: EcrStore):
        self.store, self.ecr_store = store, ecr_store

    async def status(self) -> dict:
        text = await self.ecr_store.document(DOCUMENT)
        status = json.loads(text) if text else {"version": 0, "imported_at": None, "sources": []}
        count, newest, per = await self.store.vulndb_summary()
        return {**status, "records": count, "newest_modified": newest, "ecosystems": per}

    async def version(self) -> int:
        text = await self.ecr_store.document(DOCUMENT)
        return json.loads(text)["version"] if text else 0

    async def import_path(self, path: Path, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
        """(records read, records new or newer); the data's version moves when any changed, so
        continuous scanning re-evaluates what it scanned before."""
        read = written = 0
        batch: list = []
        for data in _documents(path):
            record = _record(data)
            if record is None:
                continue
            batch.append(record)
            read += 1
            if len(batch) >= BATCH:
                written += await self.store.put_vulnerabilities(batch)
                batch = []
                if progress:
                    progress(read)
        if batch:
            written += await self.store.put_vulnerabilities(batch)
        status = await self.status()
        sources = [*status.get("sources", []), {"path": str(path), "records": read, "at": time.time()}][-20:]
        new = {"version": status["version"] + (1 if written else 0), "imported_at": time.time(), "sources": sources}
        await self.ecr_store.put_document(DOCUMENT, json.dumps(new))
        return read, written

    async def match(self, packages: list[Package], os_release: OsRelease | None) -> list[dict]:
        """Findings in ECR's shape, most severe first, one per (vulnerability, package)."""
        names = sorted({matching.lookup_name(p) for p in packages})
        candidates = await self.store.candidates(names)
        ids = sorted({vuln_id for found in candidates.values() for _, vuln_id in found})
        documents = await self.store.documents(ids)
        findings: dict[tuple[str, str, str], dict] = {}
        for package in packages:
            ours = matching.ecosystem(package, os_release)
            name = matching.lookup_name(package)
            if ours is None:
                continue
            for record_ecosystem, vuln_id in candidates.get(name, []):
                if not matching.covers(record_ecosystem, ours) or vuln_id not in documents:
                    continue
                record = documents[vuln_id]
                for entry in record.get("affected") or []:
                    listed = entry.get("package") or {}
                    if listed.get("ecosystem") != record_ecosystem:
                        continue
                    hit, fixed = matching.affected(entry, package.version, record_ecosystem)
                    if hit:
                        key = (vuln_id, package.name, package.version)
                        findings.setdefault(key, _finding(record, entry, package, fixed))
                        break
        return sorted(findings.values(), key=lambda f: (SEVERITY_ORDER[f["severity"]], f["name"]))


def _finding(record: dict, entry: dict, package: Package, fixed: str | None) -> dict:
    severity, score, vector = matching.severity(record, entry)
    aliases = [a for a in record.get("aliases") or [] if a.startswith("CVE-")]
    name = record["id"] if record["id"].startswith("CVE-") or not aliases else aliases[0]
    attributes = [
        ("package_name", package.name),
        ("package_version", package.version),
        ("package_manager", package.kind),
        ("file_path", package.path),
        ("osv_id", record["id"]),
    ]
    if fixed:
        attributes.append(("fixed_in_version", fixed))
    if score is not None and vector:
        prefix = "CVSS4" if vector.startswith("CVSS:4") else "CVSS3"
        attributes += [(f"{prefix}_SCORE", f"{score:.1f}"), (f"{prefix}_VECTOR", vector)]
    finding = {
        "name": name,
        "uri": f"https://osv.dev/vulnerability/{record['id']}",
        "severity": severity,
        "attributes": [{"key": k, "value": v[:256]} for k, v in attributes if v],
    }
    description = record.get("summary") or record.get("details")
    if description:
        finding["description"] = description[:2000]
    return finding
