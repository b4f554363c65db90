"""A repository's images in the console as people browse them: newest push first, pages by
key, columns that sort (and say so to a screen reader), an index's platforms and an image's SBOM
under it rather than as rows of their own, and kinds in words with the media type on hover."""

from __future__ import annotations

import re

import pytest

from .conftest import Server
from .ecr_helpers import attach, push
from .images import Layout, push_layout
from .test_console import browser, sign_in  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e
PAGE = 100  # the console's page


def test_images_newest_first_in_pages_sorted_and_grouped(tmp_path, browser, skopeo):  # noqa: F811
    server = Server(tmp_path / "data").start()
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()
    try:
        server.ecr().create_repository(repositoryName="team/web")
        for n in range(PAGE + 3):
            push(server, "team/web", f"v{n}", f"seed-{n}", layers=1 + n % 3)  # sizes differ
        layout = Layout(tmp_path / "images")
        index = layout.multi_arch("web-multi")
        layout.tag(index, "multi")
        push_layout(skopeo, server, layout, "multi", "team/web", every_platform=True)
        attach(server, "team/web", index["digest"], index["size"], "application/spdx+json", b'{"spdxVersion":"2.3"}')
        listed = server.ecr().get_paginator("list_images").paginate(repositoryName="team/web")
        assert sum(len(p["imageIds"]) for p in listed) == PAGE + 3 + 4  # 103 images, an index, 2 platforms, an SBOM

        sign_in(page, server)
        listed = page.locator("table tbody tr", has_text="team/web").locator("td.num").first.inner_text()
        assert listed == str(PAGE + 4)  # 103 images and the index; its platforms and SBOM are part of it
        page.goto(server.url + "/console/repository?name=team/web")
        rows = page.locator("table.images tbody tr")
        assert rows.count() == PAGE
        first = rows.first
        assert first.locator(".tag").first.inner_text() == "multi"  # the newest push first
        kind = first.get_by_text("Index (multi-platform)")
        assert kind.get_attribute("title").startswith("application/vnd.oci.image.index.v1+json")
        assert "linux/amd64, linux/arm64" in first.inner_text()  # its platforms, under it
        first.get_by_text(re.compile(r"Referrers .*\(1\)")).click()
        assert first.get_by_text("SBOM", exact=True).get_attribute("title") == "application/spdx+json"  # in words
        assert rows.nth(1).locator(".tag").first.inner_text() == f"v{PAGE + 2}"
        assert (
            rows.nth(1)
            .get_by_text("Image", exact=True)
            .get_attribute("title")
            .endswith("application/vnd.oci.image.config.v1+json")
        )
        shown = [row.locator(".tag").first.inner_text() for row in rows.all()]
        page.get_by_role("link", name="More images").click()
        rest = [row.locator(".tag").first.inner_text() for row in page.locator("table.images tbody tr").all()]
        assert shown + rest == ["multi", *[f"v{n}" for n in reversed(range(PAGE + 3))]]  # once each, no child row

        # sort by size: largest first, then reversed; the header says how the column is sorted
        page.goto(server.url + "/console/repository?name=team/web")
        page.get_by_role("link", name=re.compile("^Size")).click()
        header = page.locator("th", has_text="Size")
        assert header.get_attribute("aria-sort") == "descending"
        sizes = page.locator("table.images tbody tr td.num").all_inner_texts()
        assert sizes[0] != sizes[-1]
        assert page.locator("th", has_text="Last push").get_attribute("aria-sort") == "none"
        page.get_by_role("link", name=re.compile("^Size")).click()
        assert page.locator("th", has_text="Size").get_attribute("aria-sort") == "ascending"
        ascending = page.locator("table.images tbody tr td.num").all_inner_texts()
        assert ascending[0] != sizes[0]

        # at 390 px each image is a card of labelled fields: its actions on screen, the order a control
        page.set_viewport_size({"width": 390, "height": 844})
        page.get_by_label("Order").select_option("-pushed")
        page.get_by_role("button", name="Sort").click()
        card = page.locator("table.images tbody tr").first
        delete = card.get_by_role("button", name="Delete image").bounding_box()
        assert delete and 0 <= delete["x"] and delete["x"] + delete["width"] <= 390, delete
        assert card.locator(".tag").first.inner_text() == "multi"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        server.stop()
