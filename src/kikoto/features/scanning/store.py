"""Vulnerability data (OSV records and the packages they name), image scans and findings."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update

from ...storage.meta.base import SqlStore, batches, record
from ...storage.meta.schema import image_scans, scan_findings, vulnerabilities, vulnerable_packages


@dataclass(frozen=True)
class ScanRow:
    repo_id: int
    digest: str
    status: str
    description: str | None
    requested_at: float
    manual_at: float | None
    completed_at: float | None
    vulndb_version: int | None
    severity_counts: dict[str, Any]
    inventory: dict[str, Any] | None


def _scan(row: Any) -> ScanRow:
    scan = record(ScanRow, row, json_fields=("inventory",))
    return dataclasses.replace(scan, severity_counts=json.loads(row.severity_counts) if row.severity_counts else {})


class ScanStore(SqlStore):
    # -- vulnerability data ----------------------------------------------------------------------

    async def put_vulnerabilities(self, records: list[tuple[str, float, str, list[tuple[str, str]]]]) -> int:
        """(id, modified, OSV document, [(package name, ecosystem)]) records; a record replaces an
        older one with the same id. Returns how many were new or newer."""
        written = 0
        async with self._write(changed=False) as conn:
            ids = [r[0] for r in records]
            known = {
                row.id: row.modified
                for row in await conn.execute(
                    select(vulnerabilities.c.id, vulnerabilities.c.modified).where(vulnerabilities.c.id.in_(ids))
                )
            }
            for vuln_id, modified, document, packages in records:
                if vuln_id in known and known[vuln_id] >= modified:
                    continue
                written += 1
                await conn.execute(delete(vulnerabilities).where(vulnerabilities.c.id == vuln_id))
                await conn.execute(delete(vulnerable_packages).where(vulnerable_packages.c.vuln_id == vuln_id))
                await conn.execute(vulnerabilities.insert().values(id=vuln_id, modified=modified, document=document))
                rows = [{"name": n, "ecosystem": e, "vuln_id": vuln_id} for n, e in dict.fromkeys(packages)]
                if rows:
                    await conn.execute(vulnerable_packages.insert(), rows)
        return written

    async def candidates(self, names: list[str]) -> dict[str, list[tuple[str, str]]]:
        """package name -> [(ecosystem, vulnerability id)] for the names any record mentions."""
        found: dict[str, list[tuple[str, str]]] = {}
        async with self._read() as conn:
            for batch in batches(names):
                query = select(vulnerable_packages).where(vulnerable_packages.c.name.in_(batch))
                for row in await conn.execute(query):
                    found.setdefault(row.name, []).append((row.ecosystem, row.vuln_id))
        return found

    async def documents(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        found = {}
        async with self._read() as conn:
            for batch in batches(ids):
                query = select(vulnerabilities.c.id, vulnerabilities.c.document).where(vulnerabilities.c.id.in_(batch))
                found.update({row.id: json.loads(row.document) for row in await conn.execute(query)})
        return found

    async def vulndb_summary(self) -> tuple[int, float | None, dict[str, int]]:
        """(records, newest modified time, records per ecosystem)."""
        async with self._read() as conn:
            count = await conn.scalar(select(func.count()).select_from(vulnerabilities)) or 0
            newest = await conn.scalar(select(func.max(vulnerabilities.c.modified)))
            per = {
                row[0]: row[1]
                for row in await conn.execute(
                    select(vulnerable_packages.c.ecosystem, func.count(func.distinct(vulnerable_packages.c.vuln_id)))
                    .group_by(vulnerable_packages.c.ecosystem)
                    .order_by(vulnerable_packages.c.ecosystem)
                )
            }
        return count, newest, per

    # -- scans ------------------------------------------------------------------------------------

    async def scan(self, repo_id: int, digest: str) -> ScanRow | None:
        query = select(image_scans).where(image_scans.c.repo_id == repo_id, image_scans.c.digest == digest)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return _scan(row) if row else None

    async def scans(self, repo_id: int, digests: list[str]) -> dict[str, ScanRow]:
        if not digests:
            return {}
        query = select(image_scans).where(image_scans.c.repo_id == repo_id, image_scans.c.digest.in_(digests))
        async with self._read() as conn:
            return {row.digest: _scan(row) for row in await conn.execute(query)}

    async def request(self, repo_id: int, digest: str, now: float, manual: bool) -> None:
        """Ask for a scan (PENDING): a new row, or an existing one asked again. A scan under way
        (claimed, its lease alive) is left to finish: resetting it to PENDING would let a second
        process claim and run the same scan beside it, both writing its findings and SBOMs."""
        await self._request(repo_id, digest, now, manual, None)

    async def begin(self, repo_id: int, digest: str, now: float, lease: float) -> bool:
        """Request a scan and claim it for this caller in one step (`kikoto scan`): False when
        another process is running a scan of the image now."""
        return await self._request(repo_id, digest, now, False, now + lease)

    async def _request(self, repo_id: int, digest: str, now: float, manual: bool, claim: float | None) -> bool:
        values = {
            "status": "IN_PROGRESS" if claim else "PENDING",
            "requested_at": now,
            "claimed_until": claim,
            "description": None,
        }
        where = (image_scans.c.repo_id == repo_id, image_scans.c.digest == digest)
        running = (image_scans.c.status == "IN_PROGRESS") & (image_scans.c.claimed_until >= now)
        async with self._write(changed=False) as conn:
            if manual:
                await conn.execute(update(image_scans).where(*where).values(manual_at=now))
            result = await conn.execute(update(image_scans).where(*where, ~running).values(values))
            if result.rowcount == 1:
                return True
            exists = await conn.scalar(select(image_scans.c.digest).where(*where))
            if exists is not None:
                return False  # under way elsewhere
            await conn.execute(
                image_scans.insert().values(repo_id=repo_id, digest=digest, **values, manual_at=now if manual else None)
            )
        return True

    async def claim(self, now: float, lease: float) -> ScanRow | None:
        """One pending scan (or one a dead process left in progress) for this caller alone."""
        query = (
            select(image_scans.c.repo_id, image_scans.c.digest)
            .where(
                (image_scans.c.status == "PENDING")
                | ((image_scans.c.status == "IN_PROGRESS") & (image_scans.c.claimed_until < now))
            )
            .order_by(image_scans.c.requested_at)
            .limit(5)
        )
        async with self._read() as conn:
            candidates = (await conn.execute(query)).all()
        for repo_id, digest in candidates:
            async with self._write(changed=False) as conn:
                result = await conn.execute(
                    update(image_scans)
                    .where(image_scans.c.repo_id == repo_id, image_scans.c.digest == digest)
                    .where(
                        (image_scans.c.status == "PENDING")
                        | ((image_scans.c.status == "IN_PROGRESS") & (image_scans.c.claimed_until < now))
                    )
                    .values(status="IN_PROGRESS", claimed_until=now + lease)
                )
            if result.rowcount == 1:
                return await self.scan(repo_id, digest)
        return None

    async def finish(
        self,
        repo_id: int,
        digest: str,
        status: str,
        description: str | None,
        inventory: dict[str, Any] | None,
        findings: list[dict[str, Any]],
        severity_counts: dict[str, Any],
        vulndb_version: int | None,
        now: float,
    ) -> None:
        """Record a scan's outcome and its findings (replacing the previous ones) at once. The
        scan's row is written first: its lock orders two processes finishing the same image (a
        continuous rescan beside a scan), so each replaces the other's findings instead of both
        inserting the same positions."""
        async with self._write(changed=False) as conn:
            await conn.execute(
                update(image_scans)
                .where(image_scans.c.repo_id == repo_id, image_scans.c.digest == digest)
                .values(
                    status=status,
                    description=description,
                    inventory=json.dumps(inventory) if inventory is not None else None,
                    severity_counts=json.dumps(severity_counts),
                    vulndb_version=vulndb_version,
                    completed_at=now,
                    claimed_until=None,
                )
            )
            await conn.execute(
                delete(scan_findings).where(scan_findings.c.repo_id == repo_id, scan_findings.c.digest == digest)
            )
            if findings:
                await conn.execute(
                    scan_findings.insert(),
                    [
                        {"repo_id": repo_id, "digest": digest, "position": i, "finding": json.dumps(f)}
                        for i, f in enumerate(findings)
                    ],
                )

    async def findings(self, repo_id: int, digest: str, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        query = (
            select(scan_findings.c.position, scan_findings.c.finding)
            .where(scan_findings.c.repo_id == repo_id, scan_findings.c.digest == digest)
            .where(scan_findings.c.position > after)
            .order_by(scan_findings.c.position)
            .limit(limit)
        )
        async with self._read() as conn:
            return [(row.position, json.loads(row.finding)) for row in await conn.execute(query)]

    async def stale(self, vulndb_version: int, after: tuple[int, str] | None, limit: int) -> list[ScanRow]:
        """Completed scans computed from older vulnerability data, by key after `after`
        (continuous scanning sweeps them once per new version of the data)."""
        query = (
            select(image_scans)
            .where(image_scans.c.status == "COMPLETE", image_scans.c.vulndb_version < vulndb_version)
            .order_by(image_scans.c.repo_id, image_scans.c.digest)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(image_scans.c.repo_id, image_scans.c.digest) > after)
        async with self._read() as conn:
            return [_scan(row) for row in await conn.execute(query)]
