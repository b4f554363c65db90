"""The console page a scan's findings are shown on."""

from __future__ import annotations

from aiohttp import web

from ...http.console.common import Visitor, page, render, require
from ...http.console.pages import repo_url
from ...http.services import ADMIN
from .scanner import Scanner


def findings_page(scanner: Scanner):
    @page
    async def findings(request: web.Request, who: Visitor) -> web.Response:
        name, digest = request.query.get("name", ""), request.query.get("digest", "")
        await require(request, who, "ecr:DescribeImageScanFindings", name)
        record = await request.app[ADMIN].get(name)
        scan, found, token = await scanner.findings(record.id, digest, 1000, None)
        rows = [{**f, "attributes": {a["key"]: a.get("value", "") for a in f["attributes"]}} for f in found]
        return render(
            request, who, "findings.html", name=name, digest=digest, scan=scan, rows=rows, repository_url=repo_url(name)
        )

    return findings
