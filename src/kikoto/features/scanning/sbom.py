"""Software bills of materials for a scanned image: SPDX 2.3 JSON (always) and CycloneDX 1.5
JSON (on request), each package with its package URL (purl)."""

from __future__ import annotations

import datetime
import hashlib
import urllib.parse
import uuid
from typing import Any

from .inventory import OsRelease, Package

SPDX_MEDIA_TYPE = "application/spdx+json"
CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json"
PURL_TYPES = {"deb": "deb", "apk": "apk", "rpm": "rpm", "pypi": "pypi", "npm": "npm", "go": "golang", "maven": "maven"}


def purl(package: Package, os_release: OsRelease | None) -> str:
    kind = PURL_TYPES[package.kind]
    version = urllib.parse.quote(package.version, safe="")
    if package.kind in ("deb", "apk", "rpm"):
        distro = os_release.id if os_release and os_release.id else package.kind
        qualifier = f"?distro={distro}-{os_release.version_id}" if os_release and os_release.version_id else ""
        return f"pkg:{kind}/{distro}/{urllib.parse.quote(package.name, safe='')}@{version}{qualifier}"
    if package.kind == "maven" and ":" in package.name:
        group, artifact = package.name.split(":", 1)
        return f"pkg:maven/{group}/{artifact}@{version}"
    if package.kind == "npm" and package.name.startswith("@"):
        scope, name = package.name.split("/", 1)
        return f"pkg:npm/{urllib.parse.quote(scope, safe='')}/{name}@{version}"
    return f"pkg:{kind}/{package.name}@{version}"


def _spdx_id(package: Package) -> str:
    key = f"{package.kind}/{package.name}@{package.version}:{package.path}"
    return "SPDXRef-Package-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def spdx(name: str, digest: str, packages: list[Package], os_release: OsRelease | None, now: float) -> dict[str, Any]:
    created = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    image_id = "SPDXRef-Image"
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{name}@{digest}",
        "documentNamespace": f"https://kikoto.invalid/spdx/{name}/{digest}/{uuid.uuid4()}",
        "creationInfo": {"created": created, "creators": ["Tool: kikoto"]},
        "packages": [
            {
                "name": name,
                "SPDXID": image_id,
                "versionInfo": digest,
                "downloadLocation": "NOASSERTION",
                "primaryPackagePurpose": "CONTAINER",
                "checksums": [{"algorithm": "SHA256", "checksumValue": digest.split(":", 1)[-1]}],
            }
        ],
        "relationships": [
            {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}
        ],
    }
    for package in packages:
        document["packages"].append(
            {
                "name": package.name,
                "SPDXID": _spdx_id(package),
                "versionInfo": package.version,
                "downloadLocation": "NOASSERTION",
                "sourceInfo": f"found in {package.path}",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": purl(package, os_release),
                    }
                ],
            }
        )
        document["relationships"].append(
            {"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": _spdx_id(package)}
        )
    return document


def cyclonedx(
    name: str, digest: str, packages: list[Package], os_release: OsRelease | None, now: float
) -> dict[str, Any]:
    created = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    components: list[dict[str, Any]] = []
    if os_release and os_release.id:
        components.append({"type": "operating-system", "name": os_release.id, "version": os_release.version_id})
    for package in packages:
        components.append(
            {
                "type": "library",
                "bom-ref": _spdx_id(package),
                "name": package.name,
                "version": package.version,
                "purl": purl(package, os_release),
                "properties": [{"name": "kikoto:path", "value": package.path}],
            }
        )
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": [{"name": "kikoto"}],
            "component": {"type": "container", "name": name, "version": digest},
        },
        "components": components,
    }
