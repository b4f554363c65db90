"""Which OSV records affect a package: each ecosystem's own version order (univers: dpkg, apk,
rpm, PEP 440, semver for npm and Go, Maven), OSV's `ranges` with `introduced`, `fixed`,
`last_affected` and `limit` events and its explicit `versions`; severity from the CVSS vector
(v3 or v4 base score, the `cvss` library) or the ecosystem's own rating."""

from __future__ import annotations

import functools
import re
from typing import Any

import cvss
from univers.versions import (
    AlpineLinuxVersion,
    DebianVersion,
    GolangVersion,
    MavenVersion,
    PypiVersion,
    RpmVersion,
    SemverVersion,
)

from .inventory import OsRelease, Package

VERSION_ORDERS = {
    "Debian": DebianVersion,
    "Ubuntu": DebianVersion,
    "Alpine": AlpineLinuxVersion,
    "Rocky Linux": RpmVersion,
    "AlmaLinux": RpmVersion,
    "Red Hat": RpmVersion,
    "openSUSE": RpmVersion,
    "SUSE": RpmVersion,
    "PyPI": PypiVersion,
    "npm": SemverVersion,
    "Go": GolangVersion,
    "Maven": MavenVersion,
}
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"]
RATINGS = {  # ecosystems' own words -> ECR's severities
    "critical": "CRITICAL",
    "high": "HIGH",
    "important": "HIGH",
    "moderate": "MEDIUM",
    "medium": "MEDIUM",
    "low": "LOW",
    "negligible": "INFORMATIONAL",
    "unimportant": "INFORMATIONAL",
}


def ecosystem(package: Package, os_release: OsRelease | None) -> str | None:
    """The OSV ecosystem a package's records are filed under."""
    language = {"pypi": "PyPI", "npm": "npm", "go": "Go", "maven": "Maven"}
    if package.kind in language:
        return language[package.kind]
    if os_release is None:
        return None
    distro, version = os_release.id, os_release.version_id
    major, minor = (version.split(".") + ["0"])[:2]
    if package.kind == "deb":
        return {"debian": f"Debian:{major}", "ubuntu": f"Ubuntu:{version}"}.get(distro)
    if package.kind == "apk" and distro == "alpine":
        return f"Alpine:v{major}.{minor}"
    if package.kind == "rpm":
        named = {"rocky": f"Rocky Linux:{major}", "almalinux": f"AlmaLinux:{major}", "rhel": "Red Hat"}
        return named.get(distro) or (
            "openSUSE" if distro.startswith("opensuse") else "SUSE" if distro == "sles" else None
        )
    return None


def lookup_name(package: Package) -> str:
    """The name OSV records use: distributions file by source package, PyPI by normalised name."""
    if package.kind in ("deb", "apk", "rpm"):
        return package.source or package.name
    if package.kind == "pypi":
        return re.sub(r"[-_.]+", "-", package.name).lower()
    return package.name


def covers(record_ecosystem: str, ours: str) -> bool:
    return record_ecosystem == ours or record_ecosystem.startswith(ours + ":")


def _order(ecosystem_name: str):
    return VERSION_ORDERS.get(ecosystem_name.split(":")[0])


def _parse(order, text: str):
    try:
        return order(text.removeprefix("v") if order is GolangVersion else text)
    except Exception:  # a version this order cannot read is not comparable
        return None


def _by_version(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
    """Events in version order, `introduced: 0` first (compared with `<` alone, see below)."""
    if a[1] is None or b[1] is None:
        return (a[1] is not None) - (b[1] is not None)
    return -1 if a[1] < b[1] else 1 if b[1] < a[1] else 0


def affected(entry: dict[str, Any], version: str, ecosystem_name: str) -> tuple[bool, str | None]:
    """(whether `version` is affected by one OSV `affected` entry, the version that fixes it)."""
    if version in (entry.get("versions") or []):
        return True, None
    order = _order(ecosystem_name)
    ours = _parse(order, version) if order else None
    if ours is None:
        return False, None
    for span in entry.get("ranges") or []:
        if span.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        events = []
        for event in span.get("events") or []:
            (kind, value), *_ = event.items()
            at = None if kind == "introduced" and value == "0" else _parse(order, str(value))
            if at is None and not (kind == "introduced" and value == "0"):
                continue
            events.append((kind, at, str(value)))
        events.sort(key=functools.cmp_to_key(_by_version))
        hit, fixed = False, None
        for kind, at, text in events:
            # only `<` is asked of the version objects: some of univers' classes answer `>=` by
            # comparing the version strings (attrs' generated ordering), not by the ecosystem's rules
            if kind == "introduced" and (at is None or not ours < at):
                hit = True
            elif kind == "fixed" and at is not None:
                if not ours < at:
                    hit = False
                elif hit and fixed is None:
                    fixed = text
            elif kind == "last_affected" and at is not None and at < ours:
                hit = False
            elif kind == "limit" and at is not None and not ours < at:
                hit = False
        if hit:
            return True, fixed
    return False, None


def rank(score: float) -> str:
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score > 0:
        return "LOW"
    return "INFORMATIONAL"


def severity(record: dict[str, Any], entry: dict[str, Any]) -> tuple[str, float | None, str | None]:
    """(ECR severity, CVSS base score, vector): the vector's base score when there is one, else
    the ecosystem's rating, else UNDEFINED."""
    for item in sorted(record.get("severity") or [], key=lambda s: s.get("type", ""), reverse=True):
        vector = item.get("score", "")
        try:
            if item.get("type") == "CVSS_V4":
                score = float(cvss.CVSS4(vector).base_score)
            elif item.get("type") == "CVSS_V3":
                score = float(cvss.CVSS3(vector).scores()[0])
            else:
                continue
        except Exception:  # a malformed vector: fall back to the ratings
            continue
        return rank(score), score, vector
    for place in (
        entry.get("ecosystem_specific") or {},
        entry.get("database_specific") or {},
        record.get("database_specific") or {},
    ):
        rating = str(place.get("severity") or place.get("urgency") or "").lower()
        if rating in RATINGS:
            return RATINGS[rating], None, None
    return "UNDEFINED", None, None
