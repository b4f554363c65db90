"""Vulnerability data in the OSV format, imported offline (`kikoto vulndb import PATH`: OSV JSON
files, a directory of them, or the per-ecosystem `all.zip` archives OSV publishes), and the
matching of an inventory against it."""

from __future__ import annotations

import datetime
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...storage.meta.ports import DocumentStore
from . import matching
from .inventory import OsRelease, Package
from .store import ScanStore

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


MAX_RECORD = 16 << 20  # one OSV document (a file or an archive member): larger ones are skipped, unread
EVENT_KINDS = frozenset({"introduced", "fixed", "last_affected", "limit"})


def _documents(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(where, bytes) of every OSV JSON document under `path` (a file, a zip archive or a
    directory of either), one at a time; bytes None for a document over MAX_RECORD, which is
    never read."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix in (".json", ".zip"):
                yield from _documents(child)
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.filename.endswith(".json"):
                    where = f"{path.name}:{member.filename}"
                    yield where, archive.read(member) if member.file_size <= MAX_RECORD else None
    else:
        yield path.name, path.read_bytes() if path.stat().st_size <= MAX_RECORD else None


def _strings(value, optional: bool = True) -> bool:
    return (optional and value is None) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def problem(document) -> str | None:
    """Why an OSV document cannot be used (None: it can): every part the matcher reads has the
    shape the OSV schema gives it, so a bad record is refused at import, never at a scan."""
    if not isinstance(document, dict) or not isinstance(document.get("id"), str) or not document["id"]:
        return "no id"
    if not isinstance(document.get("affected") or [], list):
        return "affected is not a list"
    if not _strings(document.get("aliases")):
        return "aliases is not a list of strings"
    for key in ("summary", "details", "modified"):
        if document.get(key) is not None and not isinstance(document[key], str):
            return f"{key} is not a string"
    for key in ("database_specific",):
        if document.get(key) is not None and not isinstance(document[key], dict):
            return f"{key} is not an object"
    severities = document.get("severity") or []
    if not isinstance(severities, list) or not all(
        isinstance(s, dict) and isinstance(s.get("type", ""), str) and isinstance(s.get("score", ""), str)
        for s in severities
    ):
        return "severity is not a list of {type, score}"
    for entry in document.get("affected") or []:
        if not isinstance(entry, dict):
            return "an affected entry is not an object"
        package = entry.get("package")  # optional in OSV (a GIT range alone names no package)
        if package is not None and (
            not isinstance(package, dict) or not all(isinstance(package.get(k), str) for k in ("name", "ecosystem"))
        ):
            return "an affected entry's package has no name and ecosystem"
        if not _strings(entry.get("versions")):
            return "versions is not a list of strings"
        for key in ("ecosystem_specific", "database_specific"):
            if entry.get(key) is not None and not isinstance(entry[key], dict):
                return f"{key} is not an object"
        ranges = entry.get("ranges") or []
        if not isinstance(ranges, list):
            return "ranges is not a list"
        for span in ranges:
            if not isinstance(span, dict) or not isinstance(span.get("type"), str):
                return "a range has no type"
            events = span.get("events")
            if not isinstance(events, list) or not events:
                return "a range has no events"
            for event in events:
                if (
                    not isinstance(event, dict)
                    or len(event) != 1
                    or not set(event) <= EVENT_KINDS
                    or not isinstance(next(iter(event.values())), str)
                ):
                    return "an event is not one of introduced, fixed, last_affected or limit with a version"
    return None


def _record(document: dict[str, Any]) -> tuple[str, float, str, list[tuple[str, str]]]:
    packages = []
    for entry in document.get("affected") or []:
        package = entry.get("package")
        if package is None:
            continue
        name, ecosystem = package["name"], package["ecosystem"]
        kind = "pypi" if ecosystem == "PyPI" else ""
        lookup = matching.lookup_name(Package(kind, name, "", "")) if kind else name
        packages.append((lookup, ecosystem))
    modified = _epoch(document.get("modified"))
    return document["id"], modified, json.dumps(document, separators=(",", ":")), packages


@dataclass
class Imported:
    """What an import did: records read, new or newer, and those skipped with why."""

    read: int = 0
    written: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id or where, why): the first 100
    skipped_count: int = 0

    def skip(self, what: str, why: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < 100:
            self.skipped.append((what, why))


class VulnerabilityData:
    def __init__(self, store: ScanStore, documents: DocumentStore) -> None:
        self.store, self.documents = store, documents

    async def status(self) -> dict[str, Any]:
        text = await self.documents.document(DOCUMENT)
        status = json.loads(text) if text else {"version": 0, "imported_at": None, "sources": []}
        count, newest, per = await self.store.vulndb_summary()
        return {**status, "records": count, "newest_modified": newest, "ecosystems": per}

    async def version(self) -> int:
        text = await self.documents.document(DOCUMENT)
        return json.loads(text)["version"] if text else 0

    async def import_path(self, path: Path, progress: Callable[[int], None] | None = None) -> Imported:
        """Import OSV documents, one at a time (memory stays at one document and a batch);
        records that do not fit OSV's schema are skipped and counted with their ids. The data's
        version moves when any record changed, so continuous scanning re-evaluates what it
        scanned before."""
        done = Imported()
        batch: list[Any] = []
        for where, data in _documents(path):
            if data is None:
                done.skip(where, f"larger than {MAX_RECORD} bytes")
                continue
            try:
                document = json.loads(data)
            except (ValueError, UnicodeDecodeError, RecursionError):
                done.skip(where, "not JSON")
                continue
            why = problem(document)
            if why is not None:
                name = document.get("id") if isinstance(document, dict) else None
                done.skip(name if isinstance(name, str) else where, why)
                continue
            batch.append(_record(document))
            done.read += 1
            if len(batch) >= BATCH:
                done.written += await self.store.put_vulnerabilities(batch)
                batch = []
                if progress:
                    progress(done.read)
        if batch:
            done.written += await self.store.put_vulnerabilities(batch)
        status = await self.status()
        source = {"path": str(path), "records": done.read, "skipped": done.skipped_count, "at": time.time()}
        sources = [*status.get("sources", []), source][-20:]
        version = status["version"] + (1 if done.written else 0)
        await self.documents.put_document(
            DOCUMENT, json.dumps({"version": version, "imported_at": time.time(), "sources": sources})
        )
        return done

    async def match(self, packages: list[Package], os_release: OsRelease | None) -> list[dict[str, Any]]:
        """Findings in ECR's shape, most severe first, one per (vulnerability, package)."""
        names = sorted({matching.lookup_name(p) for p in packages})
        candidates = await self.store.candidates(names)
        ids = sorted({vuln_id for found in candidates.values() for _, vuln_id in found})
        documents = await self.store.documents(ids)
        findings: dict[tuple[str, str, str], dict[str, Any]] = {}
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


def _finding(record: dict[str, Any], entry: dict[str, Any], package: Package, fixed: str | None) -> dict[str, Any]:
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
