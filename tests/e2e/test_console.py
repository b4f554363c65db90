"""The web console in a real browser: Playwright driving Debian's chromium (Playwright's own
browser download cannot work here). Sign in, create a repository, push with skopeo, see the
image, edit and preview and apply a lifecycle policy, delete; a read-only key sees no write
control and its crafted POST is refused; a POST without the CSRF token is refused; stored text
renders as text; the Hungarian pages. Screenshots go to docs/screenshots."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import require

from .conftest import ADMIN_KEY, ADMIN_SECRET, REGION, VENV_BIN, Server
from .images import Layout

pytestmark = pytest.mark.e2e
# What the tests saw, for a person to look at after a run (docs/screenshots are made by
# scripts/screenshots.py from a demo registry, without test data).
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    require(None if shutil.which("chromium") else "Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def sign_in(page, server: Server, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET) -> None:
    page.goto(server.url + "/")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/console/repositories.*"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_user_manages_the_registry_in_the_browser(tmp_path, browser, skopeo):
    server = Server(tmp_path / "data").start()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(server.url + "/")
        assert page.get_by_role("heading", name="Sign in").is_visible()
        shot(page, "sign-in")
        page.get_by_label("Access key ID").fill(ADMIN_KEY)
        page.get_by_label("Secret access key").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        assert (
            page.get_by_role("alert").inner_text().startswith("The access key ID or the secret access key is not valid")
        )
        errors.clear()  # that refusal was a 401, as it should be
        sign_in(page, server)

        # create a repository from the console
        page.get_by_label("Repository name").fill("team/web")
        page.get_by_role("button", name="Create repository").click()
        page.wait_for_url(re.compile(r".*/console/repository\?name=team(%2F|/)web"))
        assert page.get_by_role("heading", name="team/web").is_visible()

        # push with skopeo: the image appears with its size
        layout = Layout(tmp_path / "images")
        for n in range(3):
            layout.tag(layout.image(f"web-{n}", layers=2, layer_bytes=50_000), f"1.{n}")
            skopeo(
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                server.creds,
                f"oci:{layout.root}:1.{n}",
                f"docker://{server.host}/team/web:1.{n}",
            )
        page.reload()
        rows = page.locator("table.images tbody tr")
        assert rows.count() == 3
        assert "KiB" in rows.first.inner_text()
        assert page.get_by_text(f"podman pull {server.host}/team/web@sha256:").first.count() == 1
        shot(page, "repository")

        # a repository policy that is not valid: ECR's message, in place, with the text kept
        page.locator("textarea[name=policy]").fill('{"Statement": "nope"}')
        page.get_by_role("button", name="Save policy").click()
        assert "policy" in page.get_by_role("alert").inner_text().lower()
        assert page.locator("textarea[name=policy]").input_value() == '{"Statement": "nope"}'

        # a lifecycle policy from the Hungarian guide's template, with a description that holds markup
        page.goto(server.url + "/console/lifecycle?name=team/web&template=keep-last-5")
        policy = json.loads(page.locator("textarea[name=policy]").input_value())
        policy["rules"][0]["selection"]["countNumber"] = 1
        policy["rules"][0]["description"] = "<script>alert('x')</script> keep one"
        page.locator("textarea[name=policy]").fill(json.dumps(policy))
        page.get_by_role("button", name="Save policy").click()
        page.wait_for_url(re.compile(r".*/console/lifecycle\?name=.*"))
        assert page.get_by_role("cell", name="<script>alert('x')</script> keep one").is_visible()  # text, not markup
        assert page.locator("script:not([src])").count() == 0
        page.get_by_role("button", name="Preview").click()
        assert "2 to expire, 0 to archive, 1 kept" in page.locator("#preview p").first.inner_text()
        shot(page, "lifecycle")
        page.get_by_role("button", name="Save and apply now").click()
        page.locator("#confirm").get_by_role("button", name="Save and act on 2 images").click()
        page.wait_for_url(re.compile(r".*/console/lifecycle\?name=.*applied=1"))
        page.goto(server.url + "/console/repository?name=team/web")
        assert page.locator("table.images tbody tr").count() == 1

        # delete the last image (the console asks first)
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.get_by_role("button", name="Delete image").click()
        assert page.locator("table.images tbody tr").count() == 0

        for _ in range(2):  # the storage trend comes from snapshots taken after each garbage collection
            server.kikoto("gc", "--grace-period", "0")
        page.goto(server.url + "/console/storage")
        assert page.locator("svg.trend circle").count() == 2
        assert page.get_by_text("Last garbage collection").is_visible()
        page.goto(server.url + "/console/settings")  # creation templates, pull-through, replication, scanning
        assert page.get_by_role("heading", name="Repository creation templates").is_visible()
        page.goto(server.url + "/console/audit?action=EXPIRE&since=2000-01-01")
        assert page.get_by_role("cell", name="EXPIRE").count() >= 1  # the lifecycle run above, filtered
        page.goto(server.url + "/console/audit?action=GC")
        assert page.get_by_role("cell", name="EXPIRE").count() == 0
        for path, name in (("/console/storage", "storage"), ("/console/audit", "audit"), ("/console/keys", "keys")):
            page.goto(server.url + path)
            shot(page, name)
        assert page.get_by_role("heading", name="Access keys").is_visible()
        page.get_by_label("Principal").fill("ci-bot")
        page.get_by_role("button", name="Create key").click()
        assert page.get_by_text("it is shown this once").is_visible()
        assert "AWS_SECRET_ACCESS_KEY=" in page.locator("#new-secret").inner_text()
        page.goto(server.url + "/console/keys")  # the secret is never shown again
        assert page.locator("#new-secret").count() == 0 and page.get_by_role("cell", name="ci-bot").is_visible()

        # deleting a repository asks for its name
        page.goto(server.url + "/console/repositories")
        page.get_by_text("Delete repository").first.click()
        page.get_by_label("Type the repository name").fill("team/wrong")
        page.get_by_role("button", name="Delete repository").click()
        assert "team/web" in page.get_by_role("alert").inner_text()
        page.goto(server.url + "/console/repositories")
        page.get_by_text("Delete repository").first.click()
        page.get_by_label("Type the repository name").fill("team/web")
        page.get_by_role("button", name="Delete repository").click()
        page.wait_for_url(re.compile(r".*/console/repositories$"))
        assert page.get_by_role("link", name="team/web").count() == 0

        # 390 px wide: still readable (no page-wide horizontal scroll), and the keyboard reaches the nav
        phone = browser.new_context(viewport={"width": 390, "height": 844})
        small = phone.new_page()
        sign_in(small, server)
        assert small.evaluate("document.documentElement.scrollWidth") <= 390
        small.keyboard.press("Tab")
        small.keyboard.press("Tab")
        assert small.evaluate("document.activeElement.textContent") == "Repositories"
        shot(small, "repositories-390px")
        phone.close()
        # no script or policy error (the refusals above are 4xx answers, which chromium logs too)
        assert not [e for e in errors if "Failed to load resource" not in e], errors
    finally:
        context.close()
        server.stop()


def test_read_only_keys_csrf_and_hungarian(tmp_path, browser):
    server = Server(tmp_path / "data").start()
    try:
        ecr = server.ecr()
        ecr.create_repository(repositoryName="shared/app")
        created = server.kikoto("keys", "create", "viewer", "--role", "read-only").stdout
        key = created.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
        secret = created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="hu-HU")
        page = context.new_page()
        page.goto(server.url + "/")
        assert page.get_by_role("heading", name="Bejelentkezés").is_visible()  # Accept-Language: hu
        shot(page, "sign-in-hu")
        page.goto(server.url + "/console/lang/en?back=/")
        sign_in(page, server, key, secret)
        assert page.get_by_role("link", name="shared/app").is_visible()
        assert page.get_by_role("button", name="Create repository").count() == 0  # no write controls
        assert page.get_by_text("Delete repository").count() == 0
        page.goto(server.url + "/console/repository?name=shared/app")
        assert page.get_by_role("button", name="Save policy").count() == 0
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        cookies = {c["name"]: c["value"] for c in context.cookies()}

        # a crafted POST from the read-only principal, with a valid session and token: refused
        forged = requests.post(
            f"{server.url}/console/repositories",
            data={"csrf": csrf, "name": "sneaky"},
            cookies=cookies,
            allow_redirects=False,
        )
        assert forged.status_code == 403 and "not authorized" in forged.text
        # without the CSRF token (a cross-site form): refused before anything is checked
        missing = requests.post(
            f"{server.url}/console/repositories", data={"name": "sneaky"}, cookies=cookies, allow_redirects=False
        )
        assert missing.status_code == 403 and "CSRF" in missing.text
        assert "sneaky" not in [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]

        page.goto(server.url + "/console/lang/hu?back=/console/repositories")
        assert page.get_by_role("heading", name="Tárolók").is_visible()
        shot(page, "repositories-hu")
        # the session ends with its key
        server.kikoto("keys", "revoke", key)
        page.goto(server.url + "/console/repositories")
        assert page.get_by_role("heading", name="Bejelentkezés").is_visible()
        context.close()
    finally:
        server.stop()


def test_the_first_run_guide_works_verbatim_with_aws_endpoint_url_ecr(tmp_path):
    """After `export AWS_ENDPOINT_URL_ECR=...`, `aws ecr get-login-password` needs no --endpoint-url,
    and GET / is the sign-in page, never a JSON error."""
    server = Server(tmp_path / "data").start()
    try:
        env = {
            "AWS_ACCESS_KEY_ID": ADMIN_KEY,
            "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_ECR": server.url,
            "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        }
        password = subprocess.run(
            [str(VENV_BIN / "aws"), "ecr", "get-login-password"], capture_output=True, text=True, env=env, timeout=60
        )
        assert password.returncode == 0, password.stderr
        login = requests.get(f"{server.url}/v2/", auth=("AWS", password.stdout.strip()))
        assert login.status_code == 200
        home = requests.get(server.url + "/")
        assert home.status_code == 200 and home.headers["Content-Type"].startswith("text/html")
        assert "Access key ID" in home.text
        assert "script-src 'self'" in home.headers["Content-Security-Policy"]
        # an unauthenticated sign-in is read no further than two keys need; the language switch
        # only redirects within this site
        huge = requests.post(f"{server.url}/console/sign-in", data={"access_key_id": "x" * 100_000})
        assert huge.status_code == 413 and "Access key ID" in huge.text
        for back in ("//evil.example", "/\\evil.example", "https://evil.example"):
            switched = requests.get(f"{server.url}/console/lang/en", params={"back": back}, allow_redirects=False)
            assert switched.headers["Location"] == "/", back
    finally:
        server.stop()


def test_settings_show_each_principal_only_what_the_api_shows_it_and_sign_out_ends_the_session(tmp_path, browser):
    server = Server(tmp_path / "data").start()
    try:
        server.ecr().create_pull_through_cache_rule(
            ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws", upstreamRegistry="ecr-public"
        )
        policy = tmp_path / "templates-only.json"
        policy.write_text(
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "ecr:DescribeRepositoryCreationTemplates", "Resource": "*"}
                    ],
                }
            )
        )
        created = server.kikoto("keys", "create", "templates", "--policy", str(policy)).stdout
        key = created.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
        secret = created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
        for width, language in ((1280, "en"), (390, "en"), (1280, "hu"), (390, "hu")):
            context = browser.new_context(viewport={"width": width, "height": 800})
            page = context.new_page()
            page.goto(f"{server.url}/console/lang/{language}?back=/")
            sign_in_page = page.locator("input[name=access_key_id]")
            sign_in_page.fill(key)
            page.locator("input[name=secret_access_key]").fill(secret)
            page.locator("form button[type=submit]").first.click()
            page.goto(server.url + "/console/settings")
            assert page.locator("h1").first.is_visible()
            text = page.content()
            assert "public.ecr.aws" not in text and "ecr-public" not in text  # the API refuses it this data
            assert page.locator("section.card").count() == 1  # creation templates, which it may read
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            shot(page, f"settings-narrow-{language}-{width}")
            copied = {c["name"]: c["value"] for c in context.cookies()}
            page.locator("form[action='/console/sign-out'] button").click()
            page.wait_for_url(re.compile(r".*/$"))
            # the session cookie copied before signing out opens nothing any more
            again = requests.get(f"{server.url}/console/settings", cookies=copied)
            assert "access_key_id" in again.text and "public.ecr.aws" not in again.text
            context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        sign_in(page, server)
        page.goto(server.url + "/console/settings")
        assert page.get_by_text("public.ecr.aws").is_visible()
        assert page.locator("section.card").count() == 4
        context.close()
    finally:
        server.stop()
