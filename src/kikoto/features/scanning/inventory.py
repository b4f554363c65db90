"""What is installed in an image: parsers for the package databases and manifests found in
its layers (bytes in, packages out). Pure code: the scanner (services/scanning) streams the
layers and hands each file it cares about to `parse_file`.

Formats: /etc/os-release; dpkg (`var/lib/dpkg/status` and distroless `status.d/*`); apk
(`lib/apk/db/installed`); rpm (header blobs from the sqlite rpmdb); Python distributions
(`*.dist-info/METADATA`, `*.egg-info/PKG-INFO`); npm (`node_modules/**/package.json`); Go
binaries (the build info the linker embeds); Java archives (`META-INF/maven/**/pom.properties`).
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from dataclasses import dataclass

GO_MAGIC = b"\xff Go buildinf:"
MAX_ARCHIVE = 64 << 20  # a jar larger than this is not opened (memory stays bounded)


@dataclass(frozen=True)
class Package:
    kind: str  # deb, apk, rpm, pypi, npm, go, maven
    name: str
    version: str
    path: str  # the file it was found in
    source: str | None = None  # a dpkg/rpm source package, when it differs


@dataclass(frozen=True)
class OsRelease:
    id: str
    version_id: str
    pretty_name: str


def parse_os_release(text: str) -> OsRelease:
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key and value:
            values[key.strip()] = value.strip().strip('"').strip("'")
    return OsRelease(values.get("ID", ""), values.get("VERSION_ID", ""), values.get("PRETTY_NAME", ""))


def _stanzas(text: str):
    """RFC 822-style stanzas (dpkg status), as dicts of their first-line fields."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields = {}
        elif not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    if fields:
        yield fields


def parse_dpkg_status(text: str, path: str) -> list[Package]:
    found = []
    for fields in _stanzas(text):
        status = fields.get("Status", "install ok installed")
        if not status.endswith(" installed") or "Package" not in fields or "Version" not in fields:
            continue
        source = fields.get("Source", "").split(" ")[0] or None
        found.append(Package("deb", fields["Package"], fields["Version"], path, source))
    return found


def parse_apk_installed(text: str, path: str) -> list[Package]:
    found, name, version = [], None, None
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if name and version:
                found.append(Package("apk", name, version, path))
            name = version = None
        elif line.startswith("P:"):
            name = line[2:].strip()
        elif line.startswith("V:"):
            version = line[2:].strip()
    return found


def parse_python_metadata(text: str, path: str) -> Package | None:
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break  # the body (description) follows the headers
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return Package("pypi", name, version, path) if name and version else None


def parse_package_json(data: bytes, path: str) -> Package | None:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    name, version = document.get("name"), document.get("version")
    if isinstance(name, str) and isinstance(version, str) and name and version:
        return Package("npm", name, version, path)
    return None


def parse_pom_properties(text: str, path: str) -> Package | None:
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if not line.startswith("#") and value:
            values[key.strip()] = value.strip()
    if values.get("groupId") and values.get("artifactId") and values.get("version"):
        return Package("maven", f"{values['groupId']}:{values['artifactId']}", values["version"], path)
    return None


MAX_ARCHIVE_READ = 4 * MAX_ARCHIVE  # what one jar's entries may decompress to, nested jars included


def parse_java_archive(data: bytes, path: str, budget: list[int] | None = None) -> list[Package]:
    """The Maven coordinates a jar (or war/ear) carries, nested archives one level deep. What
    its entries decompress to is bounded as a whole (a jar of ten thousand 60 MiB nested jars
    would otherwise be a decompression bomb that no single entry's limit catches)."""
    budget = budget if budget is not None else [MAX_ARCHIVE_READ]
    found = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        for member in archive.infolist():
            pom = member.filename.endswith("pom.properties") and member.file_size < 1 << 20
            nested = member.filename.endswith(".jar") and member.file_size < MAX_ARCHIVE and path.count("!") < 1
            if not (pom or nested):
                continue
            budget[0] -= member.file_size
            if budget[0] < 0:
                break
            if pom:
                package = parse_pom_properties(archive.read(member).decode("utf-8", "replace"), path)
                if package:
                    found.append(package)
            else:
                found += parse_java_archive(archive.read(member), f"{path}!{member.filename}", budget)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return found
    return found


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated varint")


def parse_go_buildinfo(data: bytes, path: str) -> list[Package]:
    """Module paths and versions from a Go binary's build info (Go 1.18+: inline strings).
    `data` starts at the build info's magic."""
    if not data.startswith(GO_MAGIC) or len(data) < 32:
        return []
    flags = data[15]
    if not flags & 0x2:  # pre-1.18 pointer-based build info: not read
        return []
    try:
        length, at = _varint(data, 32)
        go_version = data[at : at + length].decode()
        length, at = _varint(data, at + length)
        modinfo = data[at : at + length]
    except (ValueError, UnicodeDecodeError):
        return []
    if len(modinfo) > 32:
        modinfo = modinfo[16:-16]  # sentinels around the module info
    found = [Package("go", "stdlib", go_version.removeprefix("go"), path)] if go_version.startswith("go") else []
    last = None
    for line in modinfo.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if parts[0] in ("mod", "dep") and len(parts) >= 3:
            last = Package("go", parts[1], parts[2], path)
            found.append(last)
        elif parts[0] == "=>" and len(parts) >= 3 and last is not None:
            found[-1] = Package("go", last.name, parts[2], path)  # replaced: the replacement's version counts
    return found


RPM_TAGS = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1022: "arch", 1044: "sourcerpm"}


def parse_rpm_header(blob: bytes, path: str) -> Package | None:
    """One package from an rpmdb header blob (as the sqlite rpmdb stores it: index count and
    data length, the index entries, the data store)."""
    try:
        count, size = struct.unpack(">II", blob[:8])
        if count > 100_000 or 8 + count * 16 + size > len(blob):
            return None
        store = blob[8 + count * 16 : 8 + count * 16 + size]
        values: dict[str, str | int] = {}
        for i in range(count):
            tag, kind, offset, _ = struct.unpack(">iiii", blob[8 + i * 16 : 24 + i * 16])
            if tag not in RPM_TAGS or offset >= len(store):
                continue
            if kind == 4:  # INT32
                values[RPM_TAGS[tag]] = struct.unpack(">i", store[offset : offset + 4])[0]
            elif kind in (6, 9):  # STRING, I18NSTRING
                values[RPM_TAGS[tag]] = store[offset : store.index(b"\0", offset)].decode("utf-8", "replace")
    except (struct.error, ValueError):
        return None
    if not values.get("name") or not values.get("version"):
        return None
    version = f"{values['version']}-{values.get('release', '0')}"
    if values.get("epoch"):
        version = f"{values['epoch']}:{version}"
    source = str(values.get("sourcerpm", "")).rsplit("-", 2)[0] or None
    return Package("rpm", str(values["name"]), version, path, source)


# -- which files matter ------------------------------------------------------------------------

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
APK_INSTALLED = "lib/apk/db/installed"
RPM_SQLITE = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
JAVA_ARCHIVES = (".jar", ".war", ".ear")


def wanted(path: str, executable: bool) -> str | None:
    """What kind of file `path` (relative, without a leading '/') is to the scanner, if any."""
    if path in OS_RELEASE:
        return "os-release"
    if path == DPKG_STATUS or (path.startswith(DPKG_STATUS_D) and not path.endswith(".md5sums")):
        return "dpkg"
    if path == APK_INSTALLED:
        return "apk"
    if path in RPM_SQLITE:
        return "rpm"
    if path.endswith(("/METADATA", "/PKG-INFO")) and (".dist-info/" in path or ".egg-info/" in path):
        return "python"
    if path.endswith("/package.json") and "node_modules/" in path:
        return "npm"
    if path.endswith(JAVA_ARCHIVES):
        return "java"
    if executable:
        return "binary"  # maybe a Go binary: the scanner looks for the build info
    return None


def parse_file(kind: str, data: bytes, path: str) -> list[Package]:
    """Packages in one file the scanner kept (`kind` from `wanted`); rpm and binaries have their
    own readers in the scanner (a database, a search through the bytes)."""
    text = data.decode("utf-8", "replace") if kind in ("dpkg", "apk", "python") else ""
    if kind == "dpkg":
        return parse_dpkg_status(text, path)
    if kind == "apk":
        return parse_apk_installed(text, path)
    if kind == "python":
        return [p for p in [parse_python_metadata(text, path)] if p]
    if kind == "npm":
        return [p for p in [parse_package_json(data, path)] if p]
    if kind == "java":
        return parse_java_archive(data, path)
    return []
