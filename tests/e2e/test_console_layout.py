"""The console's layout in a real browser, on every page the navigation reaches (and a
repository's own pages), at 1280 and 390 px, in English and Hungarian: every visible form
control is tall enough to use, not clipped by a box around it, and on the screen or in a box
that scrolls to it; axe-core finds no serious or critical accessibility violation. (A
stylesheet rule for the storage chart once squeezed every filter form into a 14 px strip, and
no click-through test noticed.) And a page visited as a user visits it shows no error (every
repository page once showed a red "None" under its empty policy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import require

from .conftest import ADMIN_KEY, ADMIN_SECRET, Server
from .images import Layout
from .test_console import browser, sign_in  # noqa: F401 (the module's browser fixture)

pytestmark = pytest.mark.e2e
VIEWPORTS = [(1280, 800), (390, 844)]
AXE = Path(__file__).resolve().parents[2] / ".venv" / "node" / "node_modules" / "axe-core" / "axe.min.js"

# axe-core's rules on the page as shown; what matters here is what it calls serious or critical.
ACCESSIBILITY = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter(v => ['serious', 'critical'].includes(v.impact))
    .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
}"""

# For each visible control: what is wrong with it, if anything (JavaScript, run in the page).
CHECK = """() => {
  const faults = [];
  const width = document.documentElement.clientWidth;
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button')) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;  // not shown
    const name = `${el.tagName.toLowerCase()}[${el.name || el.id || el.textContent.trim().slice(0, 30)}]`;
    const small = ['checkbox', 'radio'].includes(el.type) ? 12 : 24;
    if (box.height < small) faults.push(`${name} is ${box.height.toFixed(0)} px tall`);
    let scrolls = false;
    for (let up = el.parentElement; up; up = up.parentElement) {
      const s = getComputedStyle(up);
      if (['auto', 'scroll'].includes(s.overflowX)) { scrolls = true; break; }
      if (s.overflow === 'hidden' || s.overflowY === 'hidden' || s.overflowX === 'hidden') {
        const outer = up.getBoundingClientRect();
        const outside = box.top < outer.top - 1 || box.bottom > outer.bottom + 1
          || box.left < outer.left - 1 || box.right > outer.right + 1;
        if (outside) faults.push(`${name} is clipped by ${up.tagName.toLowerCase()}.${up.className}`);
      }
    }
    if (!scrolls && (box.left < -1 || box.right > width + 1))
      faults.push(`${name} is off the screen (${box.left.toFixed(0)}-${box.right.toFixed(0)} of ${width} px)`);
  }
  return faults;
}"""


def push_image(skopeo, server: Server, tmp_path, seed: str) -> None:
    """An image of its own as team/web:1.0.0, pushed with skopeo as a user pushes."""
    source = Layout(tmp_path / "src")
    source.tag(source.image(seed), "1.0.0")
    destination = f"docker://{server.host}/team/web:1.0.0"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", server.creds, f"oci:{source.root}:1.0.0", destination)


def test_every_control_on_every_page_is_usable_at_both_widths_in_both_languages(tmp_path, browser, skopeo):  # noqa: F811
    require(None if AXE.exists() else "axe-core is not installed (scripts/system-deps.sh installs it with npm)")
    server = Server(tmp_path / "data", workers=1).start()
    try:
        # what the README has a user do first: a template without a description, a policy whose
        # rules have none (pages that rendered these once answered 500 with raw JSON)
        server.aws(
            "ecr",
            "create-repository-creation-template",
            "--prefix",
            "team",
            "--applied-for",
            "CREATE_ON_PUSH",
            "--image-tag-mutability",
            "IMMUTABLE",
        )
        push_image(skopeo, server, tmp_path, "layout")
        rule = {
            "rulePriority": 1,
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5},
        }
        policy = json.dumps({"rules": [{**rule, "action": {"type": "expire"}}]})
        server.aws("ecr", "put-lifecycle-policy", "--repository-name", "team/web", "--lifecycle-policy-text", policy)
        # bypass_csp: axe-core is injected as an inline script, which the console's CSP forbids
        context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        page = context.new_page()
        sign_in(page, server)
        links = page.eval_on_selector_all("nav a", "links => links.map(a => a.getAttribute('href'))")
        pages = sorted(
            {
                *links,
                "/console/repository?name=team/web",
                "/console/lifecycle?name=team/web&preview=1&as_of=2030-01-01",
                "/console/history?name=team/web&tag=1.0.0",
            }
        )
        assert len(pages) >= 6, pages
        page.goto(f"{server.url}/console/repository?name=team/web")
        assert page.get_by_text("No repository policy: access follows").is_visible()  # a normal state, said so
        faults = []
        for language in ("en", "hu"):
            page.goto(f"{server.url}/console/lang/{language}?back=/console/repositories")
            for width, height in VIEWPORTS:
                page.set_viewport_size({"width": width, "height": height})
                for path in pages:
                    response = page.goto(server.url + path)
                    assert response is not None and response.status == 200, (path, response and response.status)
                    faults += [f"{path} {language} {width}px: {fault}" for fault in page.evaluate(CHECK)]
                    header = page.locator("header").bounding_box()
                    if header and header["height"] > (110 if width < 600 else 80):  # it took 190 px of a phone
                        faults.append(f"{path} {language} {width}px: the header is {header['height']:.0f} px tall")
                    page.add_script_tag(path=str(AXE))
                    faults += [f"{path} {language} {width}px: {v}" for v in page.evaluate(ACCESSIBILITY)]
                    shown = page.locator(".error, [role=alert]").all_inner_texts()  # a normal visit shows no error
                    faults += [f"{path} {language} {width}px: shows the error {text!r}" for text in shown]
        context.close()
        assert not faults, "\n".join(faults)
    finally:
        server.stop()


def test_the_console_refuses_the_names_the_api_refuses_and_says_why_beside_the_field(tmp_path, browser):  # noqa: F811
    server = Server(tmp_path / "data", workers=1).start()
    try:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        sign_in(page, server)
        for bad in ("Bad_Name", "My App en", "team//web", "-lead"):
            page.get_by_label("Repository name").fill(bad)
            with page.expect_response(lambda r: r.request.method == "POST") as answered:
                page.get_by_role("button", name="Create repository").click()
            assert answered.value.status == 400
            field = page.get_by_label("Repository name")
            assert field.input_value() == bad and field.get_attribute("aria-invalid") == "true"
            rule = page.locator("#name-rule")
            assert rule.is_visible() and f"“{bad}” cannot be a repository name" in rule.inner_text()
        listed = server.client("ecr").describe_repositories()["repositories"]
        assert listed == []  # nothing the ECR API could not delete was created
        page.get_by_label("Repository name").fill("team/web-app")
        page.get_by_role("button", name="Create repository").click()
        assert page.get_by_role("heading", name="team/web-app").is_visible()
        page.close()
    finally:
        server.stop()


def test_storage_draws_its_trend_with_axes_and_lists_only_repositories_that_hold_bytes(tmp_path, browser, skopeo):  # noqa: F811
    server = Server(tmp_path / "data", workers=1).start()
    try:
        server.client("ecr").create_repository(repositoryName="empty/one")
        push_image(skopeo, server, tmp_path, "trend")
        for _ in range(2):  # a point of the trend after each collection
            server.kikoto("gc")
        page = browser.new_page(viewport={"width": 390, "height": 844})
        sign_in(page, server)
        page.goto(f"{server.url}/console/storage")
        assert page.locator("ul.bars .label").all_inner_texts() == ["team/web"]  # not the empty repository
        labels = page.locator("svg.trend text").all_text_contents()
        assert len(labels) == 4 and labels[1] == "0\u00a0B" and labels[0].endswith(("B", "KiB", "MiB"))  # both axes
        page.get_by_text("The values after each garbage collection").click()
        assert len(page.locator("details li").all_inner_texts()) == 2
        page.screenshot(path=str(tmp_path / "storage.png"), full_page=True)
        page.close()
    finally:
        server.stop()


def test_copy_buttons_copy_over_plain_http_off_localhost(tmp_path, browser, skopeo):  # noqa: F811
    """A registry reached by name over plain HTTP is no secure context: the browser has no
    clipboard API there, and the copy buttons used to do nothing at all."""
    import shutil

    from .test_console import CHROMIUM_FLAGS

    server = Server(tmp_path / "data", workers=1).start()
    try:
        push_image(skopeo, server, tmp_path, "copy")
        named = f"http://registry.test:{server.port}"  # resolved to 127.0.0.1 by the browser itself
        # a browser of its own, which resolves the name (launched by the module's Playwright)
        chromium = browser.browser_type.launch(
            executable_path=shutil.which("chromium"),
            args=[*CHROMIUM_FLAGS, "--host-resolver-rules=MAP registry.test 127.0.0.1"],
        )
        context = chromium.new_context()
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = context.new_page()
        page.goto(named + "/")
        page.get_by_label("Access key ID").fill(ADMIN_KEY)
        page.get_by_label("Secret access key").fill(ADMIN_SECRET)
        page.get_by_role("button", name="Sign in").click()
        page.goto(named + "/console/repository?name=team/web")
        assert page.evaluate("window.isSecureContext") is False
        button = page.locator("td button.copy[data-copy^='sha256:']").first  # an image's digest
        wanted = button.get_attribute("data-copy")
        button.click()
        copied = page.locator("textarea.copy-field")
        if copied.count():  # the browser refused even the selection: the text waits, selected
            assert copied.input_value() == wanted
            selected = "(f => f.value.substring(f.selectionStart, f.selectionEnd))(document.activeElement)"
            assert page.evaluate(selected) == wanted
        else:  # copied: read back from where the clipboard API is allowed
            assert button.inner_text() == "✓"
            reader = context.new_page()
            reader.goto(server.url + "/")
            assert reader.evaluate("navigator.clipboard.readText()") == wanted
        chromium.close()
    finally:
        server.stop()


def test_revoking_the_key_you_are_signed_in_with_warns_first(tmp_path, browser):  # noqa: F811
    server = Server(tmp_path / "data", workers=1).start()
    try:
        server.kikoto("keys", "create", "ci", "--role", "read-only")
        page = browser.new_page()
        sign_in(page, server)
        page.goto(f"{server.url}/console/keys")
        own = page.locator("tr", has=page.get_by_text(ADMIN_KEY))
        assert own.get_by_text("you are signed in with it").is_visible()
        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        own.get_by_role("button", name="Revoke").click()
        assert asked and asked[0].startswith(f"{ADMIN_KEY} is the key you are signed in with")
        page.goto(f"{server.url}/console/keys")  # dismissed: nothing happened
        assert page.locator("tr", has=page.get_by_text(ADMIN_KEY)).get_by_role("button", name="Revoke").is_visible()
        other = page.locator("tbody tr").filter(has_not=page.get_by_text(ADMIN_KEY)).first
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        other.get_by_role("button", name="Revoke").click()
        assert asked[1].startswith("Revoke AKIA") and "signed in" not in asked[1]  # another key: the plain question
        page.close()
    finally:
        server.stop()


def test_the_navigation_shows_a_principal_only_the_pages_it_may_open(tmp_path, browser):  # noqa: F811
    """A read-only key saw links to storage, the audit log and the keys, each leading to a page
    that only said it was not allowed, in ARNs."""
    server = Server(tmp_path / "data", workers=1).start()
    try:
        created = server.kikoto("keys", "create", "viewer", "--role", "read-only").stdout
        key = created.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
        secret = created.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0]
        page = browser.new_page()
        sign_in(page, server, key, secret)
        links = page.eval_on_selector_all("nav a", "links => links.map(a => a.getAttribute('href'))")
        assert links == ["/console/repositories", "/console/settings"]
        for link in links:
            assert page.goto(server.url + link).status == 200
        refused = page.goto(server.url + "/console/keys")  # typed in by hand: said in words, not ARNs
        assert refused.status == 403
        said = page.get_by_role("alert")
        assert said.inner_text().startswith("Your access key's policy does not allow this (kikoto:ManageKeys).")
        assert not page.get_by_text("arn:aws:iam::").is_visible()  # AWS's own words wait, folded
        page.get_by_text("What the API answers").click()
        assert page.get_by_text("is not authorized to perform: kikoto:ManageKeys").is_visible()
        page.close()
        admin = browser.new_page()
        sign_in(admin, server)  # the admin sees every page
        assert (
            len(admin.eval_on_selector_all("nav a", "links => links.map(a => a.getAttribute('href'))")) == 6
        )  # every page, "who may" among them
        admin.close()
    finally:
        server.stop()
