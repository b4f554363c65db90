"""docs/screenshots/, made anew from a demo registry: `make screenshots`.

A registry on 127.0.0.1:5000 (another port if that one is taken) is filled as a team would fill
it (python-app 1.0.0 to 1.2.0 and latest, a multi-platform team/node-app with its SBOM, a
creation template, a pull-through rule, scanning on push, a CI key, a lifecycle policy, two
garbage collections), then each console page is shot in Chromium at 1280 px, some also in
Hungarian and at 390 px. Nothing of the test suite's data appears: the tests keep their own
screenshots in build/screenshots."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kikoto.http.console.lifecycle import TEMPLATES  # noqa: E402
from tests.e2e.conftest import Server, port_open  # noqa: E402
from tests.e2e.ecr_helpers import attach  # noqa: E402
from tests.e2e.images import Layout, push_layout  # noqa: E402
from tests.e2e.test_console import CHROMIUM_FLAGS, sign_in  # noqa: E402

SHOTS = ROOT / "docs" / "screenshots"
LIFECYCLE = TEMPLATES["latest-forever-rest-90-days"]  # the Hungarian guide's: latest forever, the rest 90 days


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", *args], check=True, capture_output=True)


def push(server: Server, work: Path, repository: str, tag: str, seed: str, multi: bool = False) -> dict:
    layout = Layout(work / f"{repository.replace('/', '-')}-{tag}")
    descriptor = layout.multi_arch(seed) if multi else layout.image(seed, layers=3, layer_bytes=400_000)
    layout.tag(descriptor, tag)
    push_layout(skopeo, server, layout, tag, repository, every_platform=True)
    return descriptor


def fill(server: Server, work: Path) -> None:
    ecr = server.ecr()
    ecr.create_repository_creation_template(
        prefix="team", appliedFor=["CREATE_ON_PUSH"], imageTagMutability="MUTABLE", description="Team images"
    )
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}],
    )
    ecr.create_repository(repositoryName="python-app")
    for version in ("1.0.0", "1.1.0"):
        push(server, work, "python-app", version, f"python-app-{version}")
    push(server, work, "python-app", "latest", "python-app-1.1.0")  # latest follows each release
    push(server, work, "python-app", "1.2.0", "python-app-1.2.0")
    push(server, work, "python-app", "latest", "python-app-1.2.0")
    ecr.put_lifecycle_policy(repositoryName="python-app", lifecyclePolicyText=json.dumps(LIFECYCLE))
    node = push(server, work, "team/node-app", "2.0.0", "node-app-2.0.0", multi=True)
    sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": "team/node-app:2.0.0", "packages": []}).encode()
    attach(server, "team/node-app", node["digest"], node["size"], "application/spdx+json", sbom)
    push(server, work, "base/alpine", "3.20", "alpine-3.20")
    server.kikoto("keys", "create", "ci-pipeline", "--role", "power-user")
    for _ in range(2):  # the storage trend is drawn from the snapshots garbage collection takes
        server.kikoto("gc", "--grace-period", "0")


def shoot(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    later = (datetime.date.today() + datetime.timedelta(days=120)).isoformat()
    pages = {
        "repositories": "/console/repositories",
        "repository": "/console/repository?name=python-app",
        "lifecycle": f"/console/lifecycle?name=python-app&preview=1&as_of={later}",
        "history": "/console/history?name=python-app&tag=latest",
        "audit": "/console/audit",
        "storage": "/console/storage",
        "settings": "/console/settings",
        "keys": "/console/keys",
        "simulate": "/console/simulate?principal=ci-pipeline&action=ecr%3APutImage&repository=python-app",
    }
    variants = [  # (suffix, language, width, the pages shot so)
        ("", "en", 1280, list(pages)),
        ("-hu", "hu", 1280, ["repositories", "lifecycle"]),
        ("-390px", "en", 390, ["repositories", "repository"]),
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        for language in ("en", "hu"):
            locale = "hu-HU" if language == "hu" else "en-GB"
            page = browser.new_page(viewport={"width": 1280, "height": 800}, locale=locale)
            page.goto(server.url + "/")
            page.screenshot(path=str(SHOTS / f"sign-in{'-hu' if language == 'hu' else ''}.png"), full_page=True)
            page.close()
        for suffix, language, width, names in variants:
            context = browser.new_context(
                viewport={"width": width, "height": 900 if width > 600 else 844},
                locale="hu-HU" if language == "hu" else "en-GB",  # the date fields' format
            )
            context.add_cookies([{"name": "kikoto_lang", "value": "en", "url": server.url}])  # to sign in
            page = context.new_page()
            sign_in(page, server)
            page.goto(f"{server.url}/console/lang/{language}?back=/console/repositories")
            for name in names:
                page.goto(server.url + pages[name])
                page.screenshot(path=str(SHOTS / f"{name}{suffix}.png"), full_page=True)
            page.close()
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kikoto-demo-") as work:
        server = Server(Path(work) / "data")
        if not port_open(5000):  # the README's address, in the pull commands the pages show
            server.port = 5000
        server.start()
        try:
            fill(server, Path(work))
            for old in SHOTS.glob("*.png"):
                old.unlink()
            SHOTS.mkdir(parents=True, exist_ok=True)
            shoot(server)
        finally:
            server.stop()
    print(f"{len(list(SHOTS.glob('*.png')))} screenshots in {SHOTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
