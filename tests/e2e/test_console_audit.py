"""Every change from every face in the audit log, with who, from where and how it ended: pushes
and a refused push over /v2 (skopeo), a delete over the ECR API (aws CLI),
a repository made in the console, a key made with the CLI. Then a tag's history in the console,
and a restore of the tag to the digest it pointed at before, which skopeo then pulls."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from .conftest import ADMIN_KEY, Server
from .images import Layout, push_layout
from .test_console import browser, sign_in  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e


def credentials(created: str) -> tuple[str, str]:
    return created.split("AWS_ACCESS_KEY_ID=")[1].split()[0], created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]


def test_every_change_is_recorded_and_a_tag_is_restored_from_its_history(tmp_path, browser, skopeo):  # noqa: F811
    server = Server(tmp_path / "data").start()
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()
    try:
        account = server.ecr().describe_registry()["registryId"]
        admin_arn = f"arn:aws:iam::{account}:user/admin"
        server.aws("ecr", "create-repository", "--repository-name", "team/web")
        first = None
        for seed in ("web-a", "web-b"):  # 1.0 is pushed, then moved to another image
            layout = Layout(tmp_path / seed)
            descriptor = layout.image(seed, layers=1)
            first = first or descriptor
            layout.tag(descriptor, "1.0")
            push_layout(skopeo, server, layout, "1.0", "team/web")
        layout.tag(layout.image("web-old", layers=1), "old")
        push_layout(skopeo, server, layout, "old", "team/web")
        server.aws("ecr", "batch-delete-image", "--repository-name", "team/web", "--image-ids", "imageTag=old")
        reader, reader_secret = credentials(server.kikoto("keys", "create", "reader", "--role", "read-only").stdout)
        refused = subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                f"AWS:{server.password(reader, reader_secret)}",
                f"oci:{layout.root}:old",
                f"docker://{server.host}/team/web:sneaky",
            ],
            capture_output=True,
            text=True,
        )
        assert refused.returncode != 0
        sign_in(page, server)
        page.get_by_role("textbox", name="Repository name").fill("team/api")
        page.get_by_role("button", name="Create repository").click()
        page.wait_for_url(re.compile(r".*/console/repository\?name=team(%2F|/)api"))

        page.goto(server.url + "/console/audit")
        table = page.locator("table.audit tbody")
        text = table.inner_text()
        for action in ("CreateRepository", "PutManifest", "BatchDeleteImage", "keys create"):
            assert action in text, (action, text)
        pushes = table.locator("tr", has_text="PutManifest").filter(has_text="Done")
        assert pushes.count() == 3 and admin_arn in pushes.first.inner_text()
        assert "127.0.0.1" in pushes.first.inner_text()
        made = table.locator("tr", has_text="CreateRepository").first.inner_text()
        assert "team/api" in made and admin_arn in made  # the console's change, by the signed-in principal
        cli_row = table.locator("tr", has_text="keys create").inner_text()
        assert "cli:" in cli_row  # the admin command, by the local user
        assert reader_secret not in text

        # the refused push, found by its outcome
        page.get_by_label("Outcome").select_option("refused")
        page.get_by_role("button", name="Filter").click()
        refusal = page.locator("table.audit tbody tr").first.inner_text()
        assert "DENIED" in refusal and ":user/reader" in refusal and "sneaky" in refusal, refusal
        assert "Done" not in page.locator("table.audit tbody").inner_text()

        # the tag's history: pushed twice; restore it to the first image
        page.goto(server.url + "/console/repository?name=team/web")
        page.get_by_role("link", name="1.0", exact=True).click()
        assert page.get_by_role("heading", name="History of team/web:1.0").is_visible()
        rows = page.locator("table.history tbody tr")
        assert rows.count() == 2 and "now" in rows.first.inner_text(), page.locator("main").inner_text()
        page.once("dialog", lambda dialog: dialog.accept())
        rows.nth(1).get_by_role("button", name=re.compile("Restore to")).click()
        assert page.get_by_role("status").inner_text() == "1.0 points at the chosen digest again."
        assert "Restored here" in page.locator("table.history tbody tr").first.inner_text()
        inspected = skopeo(
            "inspect", "--tls-verify=false", "--creds", server.creds, f"docker://{server.host}/team/web:1.0"
        )
        assert json.loads(inspected.stdout)["Digest"] == first["digest"]
        restored = server.ecr().describe_images(repositoryName="team/web", imageIds=[{"imageTag": "1.0"}])
        assert restored["imageDetails"][0]["imageDigest"] == first["digest"]

        # the history is read with the repository's read action; its restore needs PutImage
        assert ADMIN_KEY not in page.content()
    finally:
        server.stop()
