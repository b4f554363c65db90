"""The lifecycle page in a real browser: a draft is previewed before it is saved, at today's date
and at a later one; the preview counts images as a user does (an SBOM and an index's platform
images under their subject) and says for each which rule decided and why, and what is kept and
by what; "save and apply now" says what it will do and acts only once confirmed, and asks again
if the repository changed meanwhile."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from kikoto.http.console.lifecycle import TEMPLATES

from .conftest import Server
from .ecr_helpers import attach
from .images import Layout, push_layout
from .test_console import browser, sign_in  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e

KEEP_LATEST_AND_TWO = {
    "rules": [
        TEMPLATES["latest-forever-rest-90-days"]["rules"][0],  # "Never delete latest", as the guide has it
        {
            "rulePriority": 2,
            "description": "Keep the newest two",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 2},
            "action": {"type": "expire"},
        },
    ]
}


def push_images(server: Server, tmp_path, skopeo) -> dict:
    """1.0 (with an SBOM), 1.1, 1.2, a two-platform index 2.0, then latest: five images as a
    user counts them, eight manifests as the registry stores them."""
    layout = Layout(tmp_path / "images")
    descriptors = {}
    for tag in ("1.0", "1.1", "1.2", "2.0", "latest"):
        descriptor = layout.multi_arch(f"web-{tag}") if tag == "2.0" else layout.image(f"web-{tag}", layers=1)
        layout.tag(descriptor, tag)
        descriptors[tag] = descriptor
        push_layout(skopeo, server, layout, tag, "team/web", every_platform=True)
    first = descriptors["1.0"]
    attach(server, "team/web", first["digest"], first["size"], "application/spdx+json", b'{"spdxVersion":"SPDX-2.3"}')
    return descriptors


def test_a_draft_is_previewed_explained_and_applied_only_once_confirmed(tmp_path, browser, skopeo):  # noqa: F811
    server = Server(tmp_path / "data").start()
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()
    try:
        server.ecr().create_repository(repositoryName="team/web")
        push_images(server, tmp_path, skopeo)
        sign_in(page, server)
        page.goto(server.url + "/console/lifecycle?name=team/web")
        assert page.get_by_text("No lifecycle policy").is_visible()

        # the draft, unsaved, previewed today: 1.0, 1.1 and 1.2 go (the SBOM with 1.0); latest and 2.0 stay
        page.locator("textarea[name=policy]").fill(json.dumps(KEEP_LATEST_AND_TWO))
        page.get_by_role("button", name="Preview").click()
        today = datetime.datetime.now(datetime.UTC)
        summary = page.locator("#preview p").first.inner_text()
        assert f"As of {today.day} {today:%B %Y}: 3 to expire, 0 to archive, 2 kept" in summary, summary
        assert "With them go 1 attached" in summary, summary
        acted = page.locator("#preview table").first.locator("tbody tr")
        assert [row.locator(".tags").inner_text() for row in acted.all()] == ["1.2", "1.1", "1.0"]
        assert "2 · Keep the newest two" in acted.first.inner_text()
        assert re.search(r"number \d among the newest images the rule selects; it keeps 2", acted.first.inner_text())
        assert "and 1 attached" in acted.nth(2).inner_text()  # the SBOM, under its image
        kept = page.locator("#preview table").nth(1).locator("tbody tr")
        assert "1 · Never delete latest" in kept.filter(has_text="latest").inner_text()
        assert "selected, but within the rule's limit of 9999" in kept.filter(has_text="latest").inner_text()
        assert "and 2 attached" in kept.filter(has_text="2.0").inner_text()  # its two platform images
        # the rules in words
        assert page.get_by_role("cell", name="images tagged latest").is_visible()
        assert page.get_by_role("cell", name="beyond the newest 2").is_visible()
        page.goto(server.url + "/console/lifecycle?name=team/web")  # nothing was saved
        assert page.get_by_text("No lifecycle policy").is_visible()

        # a draft that expires by age: nothing today, everything but latest a year from now
        aging = json.loads(json.dumps(KEEP_LATEST_AND_TWO))
        aging["rules"][1] = {
            "rulePriority": 2,
            "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30},
            "action": {"type": "expire"},
        }
        page.locator("textarea[name=policy]").fill(json.dumps(aging))
        page.get_by_role("button", name="Preview").click()
        assert "0 to expire" in page.locator("#preview p").first.inner_text()
        later = (today + datetime.timedelta(days=365)).date()
        page.get_by_label("As of (forecast)").fill(later.isoformat())
        page.get_by_role("button", name="Preview").click()
        assert f"As of {later.day} {later:%B %Y}: 4 to expire" in page.locator("#preview p").first.inner_text()
        reasons = page.locator("#preview table").first.inner_text()  # the day begins at midnight, UTC
        assert re.search(r"pushed 36[45] days ago; the rule allows 30", reasons), reasons
        assert page.locator("textarea[name=policy]").input_value() == json.dumps(aging)  # the draft stays

        # a draft that is not valid: ECR's message beside the editor, the text kept
        page.locator("textarea[name=policy]").fill('{"rules": []}')
        page.get_by_role("button", name="Preview").click()
        assert "Lifecycle policy validation failure" in page.get_by_role("alert").inner_text()
        assert page.locator("textarea[name=policy]").input_value() == '{"rules": []}'

        # save and apply now: first what it will do; nothing is done until confirmed
        page.locator("textarea[name=policy]").fill(json.dumps(KEEP_LATEST_AND_TWO))
        page.get_by_role("button", name="Save and apply now").click()
        confirm = page.locator("#confirm")
        assert "Apply this policy now?" in confirm.inner_text()
        assert "3 to expire" in confirm.inner_text() and "1.2, 1.1, 1.0" in confirm.inner_text()
        assert len(server.ecr().list_images(repositoryName="team/web")["imageIds"]) == 8

        # the repository changes before the confirmation arrives: asked again, with the new outcome
        layout = Layout(tmp_path / "more")
        layout.tag(layout.image("web-1.3", layers=1), "1.3")
        push_layout(skopeo, server, layout, "1.3", "team/web")
        confirm.get_by_role("button", name="Save and act on 3 images").click()
        assert "The repository changed since you were asked" in page.get_by_role("alert").inner_text()
        assert "4 to expire" in page.locator("#confirm").inner_text()
        assert len(server.ecr().list_images(repositoryName="team/web")["imageIds"]) == 9
        page.locator("#confirm").get_by_role("button", name="Save and act on 4 images").click()
        page.wait_for_url(re.compile(r".*applied=1"))
        assert page.get_by_role("status").inner_text() == "The policy was saved and applied."
        left = {i.get("imageTag") for i in server.ecr().list_images(repositoryName="team/web")["imageIds"]}
        assert left == {"latest", "1.3"}  # 1.3 and latest are the newest two now: 2.0 went too, with its platforms
        saved = json.loads(server.ecr().get_lifecycle_policy(repositoryName="team/web")["lifecyclePolicyText"])
        assert saved == KEEP_LATEST_AND_TWO
        # the audit log has the one save and what it expired; not the previews nor the questions
        page.goto(server.url + "/console/audit?repository=team/web")
        actions = page.locator("table.audit tbody tr td:nth-child(4)").all_inner_texts()
        assert actions.count("PutLifecyclePolicy") == 1 and actions.count("EXPIRE") >= 4, actions
        assert "StartLifecyclePolicyPreview" not in actions
    finally:
        server.stop()


def test_the_preview_speaks_hungarian_with_its_numbers(tmp_path, browser, skopeo):  # noqa: F811
    server = Server(tmp_path / "data").start()
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US").new_page()
    try:
        server.ecr().create_repository(repositoryName="team/web")
        push_images(server, tmp_path, skopeo)
        policy = json.dumps(KEEP_LATEST_AND_TWO)
        server.ecr().put_lifecycle_policy(repositoryName="team/web", lifecyclePolicyText=policy)
        sign_in(page, server)
        page.goto(server.url + "/console/lang/hu?back=/console/lifecycle%3Fname%3Dteam/web%26preview%3D1")
        summary = page.locator("#preview p").first.inner_text()
        assert "3 kép törlődne, 0 archiválódna, 2 maradna" in summary, summary
        assert re.search(r"\d+,\d\s?KiB szabadulna fel", summary), summary  # a decimal comma
        assert "Never" not in page.get_by_role("cell", name="címkéjű képek").first.inner_text()
        assert page.get_by_text("Törlés").first.is_visible() and page.get_by_text("Marad").first.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # a refusal in Hungarian, with the API's exact words beneath
        page.locator("textarea[name=policy]").fill('{"rules": []}')
        page.get_by_role("button", name="Előnézet").click()
        alert = page.get_by_role("alert").inner_text()
        assert alert.startswith("Egy érték érvénytelen") and "Az API válasza: Invalid parameter" in alert, alert
        page.goto(server.url + "/console/keys")  # statuses and roles in words of the language
        assert page.get_by_role("cell", name="Aktív").first.is_visible()
        assert "Csak olvasás" in page.get_by_label("Szerep").inner_text()
    finally:
        server.stop()
