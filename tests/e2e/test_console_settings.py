"""The registry's settings made in the console: creation templates, pull-through rules,
replication and scanning are created, edited and deleted there, checked as the API checks them
(a refusal in the API's own words, next to the form, with what was typed kept) and seen by the
aws CLI afterwards; each change is in the audit log."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from .conftest import Server
from .test_console import browser, sign_in  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e


def api_refusal(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Message"]


def test_settings_are_made_edited_and_deleted_in_the_console_as_the_api_checks_them(tmp_path, browser):  # noqa: F811
    server = Server(tmp_path / "data").start()
    ecr = server.ecr()
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()
    try:
        sign_in(page, server)
        page.goto(server.url + "/console/settings")
        templates = page.locator("#templates")

        # a template the API refuses: its message, beside the form, the typed prefix kept
        said = api_refusal(ecr.create_repository_creation_template, prefix="Bad Prefix", appliedFor=["CREATE_ON_PUSH"])
        templates.get_by_text("New template").click()
        templates.get_by_label("Prefix").fill("Bad Prefix")
        templates.get_by_label("a push creates the repository").check()
        templates.get_by_role("button", name="Create template").click()
        assert templates.get_by_role("alert").inner_text() == f"Not saved: {said}"
        assert page.locator("#templates").get_by_label("Prefix").input_value() == "Bad Prefix"

        # the README's template, made here: no description, immutable tags, on push
        templates = page.locator("#templates")
        templates.get_by_label("Prefix").fill("team")
        templates.get_by_label("Tag mutability").last.select_option("IMMUTABLE")
        templates.get_by_role("button", name="Create template").click()
        page.wait_for_url(re.compile(r".*saved=CreateRepositoryCreationTemplate.*"))
        assert page.get_by_role("status").inner_text() == "Saved."
        [made] = ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
        assert (made["prefix"], made["appliedFor"]) == ("team", ["CREATE_ON_PUSH"])
        assert made["imageTagMutability"] == "IMMUTABLE"

        # edited: a description, and pull-through too
        row = page.locator("#templates tbody tr", has_text="team")
        row.get_by_text("Edit").click()
        row.get_by_label("Description").fill("Team images")
        row.get_by_label("the pull-through cache creates it").check()
        row.get_by_role("button", name="Save").click()
        [edited] = ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
        assert edited["description"] == "Team images"
        assert sorted(edited["appliedFor"]) == ["CREATE_ON_PUSH", "PULL_THROUGH_CACHE"]

        # a pull-through rule: refused as the API refuses it, then made and deleted
        said = api_refusal(
            ecr.create_pull_through_cache_rule,
            ecrRepositoryPrefix="hub",
            upstreamRegistryUrl="registry-1.docker.io",
            upstreamRegistry="docker-hub",
        )
        rules = page.locator("#rules")
        rules.get_by_text("New rule").click()
        rules.get_by_label("Repository prefix").fill("hub")
        rules.get_by_label("Upstream registry URL").fill("registry-1.docker.io")
        rules.get_by_label("Upstream kind").select_option("docker-hub")
        rules.get_by_role("button", name="Create rule").click()
        assert page.locator("#rules").get_by_role("alert").inner_text() == f"Not saved: {said}"
        rules = page.locator("#rules")
        rules.get_by_label("Repository prefix").fill("quay")
        rules.get_by_label("Upstream registry URL").fill("quay.io")
        rules.get_by_label("Upstream kind").select_option("quay")
        rules.get_by_role("button", name="Create rule").click()
        described = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
        assert [(r["ecrRepositoryPrefix"], r["upstreamRegistryUrl"]) for r in described] == [("quay", "quay.io")]
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#rules tbody tr", has_text="quay").get_by_role("button", name="Delete").click()
        page.wait_for_url(re.compile(r".*saved=DeletePullThroughCacheRule.*"))
        assert ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []

        # replication: JSON the API refuses, then a rule it takes
        bad = {"rules": [{"destinations": [{"region": "nowhere!", "registryId": "000000000000"}]}]}
        said = api_refusal(ecr.put_replication_configuration, replicationConfiguration=bad)
        page.locator("#replication textarea").fill(json.dumps(bad))
        page.locator("#replication").get_by_role("button", name="Save").click()
        assert page.locator("#replication").get_by_role("alert").inner_text() == f"Not saved: {said}"
        assert json.loads(page.locator("#replication textarea").input_value()) == bad
        page.locator("#replication textarea").fill("{not json")
        page.locator("#replication").get_by_role("button", name="Save").click()
        assert "not valid JSON" in page.locator("#replication").get_by_role("alert").inner_text()
        good = {"rules": [{"destinations": [{"region": "eu-west-1", "registryId": "000000000000"}]}]}
        page.locator("#replication textarea").fill(json.dumps(good))
        page.locator("#replication").get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r".*saved=PutReplicationConfiguration.*"))
        [rule] = ecr.describe_registry()["replicationConfiguration"]["rules"]
        assert rule["destinations"][0]["region"] == "eu-west-1"

        # scanning: on push for team/*
        page.locator("#scanning").get_by_label("Scan on push").fill("team/*")
        page.locator("#scanning").get_by_role("button", name="Save").click()
        page.wait_for_url(re.compile(r".*saved=PutRegistryScanningConfiguration.*"))
        rules_now = ecr.get_registry_scanning_configuration()["scanningConfiguration"]["rules"]
        assert rules_now == [
            {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "team/*", "filterType": "WILDCARD"}]}
        ]
        assert page.locator("#scanning").get_by_label("Scan on push").input_value() == "team/*"

        # the template deleted; every change (and refusal) is in the audit log
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#templates tbody tr", has_text="team").get_by_role("button", name="Delete").click()
        page.wait_for_url(re.compile(r".*saved=DeleteRepositoryCreationTemplate.*"))
        assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []
        page.goto(server.url + "/console/audit")
        log = page.locator("table.audit tbody").inner_text()
        for operation in (
            "CreateRepositoryCreationTemplate",
            "UpdateRepositoryCreationTemplate",
            "DeleteRepositoryCreationTemplate",
            "CreatePullThroughCacheRule",
            "DeletePullThroughCacheRule",
            "PutReplicationConfiguration",
            "PutRegistryScanningConfiguration",
        ):
            assert operation in log, operation
        assert "InvalidParameterException" in log or "ValidationException" in log  # the refusals, too
    finally:
        server.stop()
