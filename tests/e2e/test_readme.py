"""The READMEs' first workflow, run as printed (English and Hungarian): only the address and
the admin's key pair are put in, and `podman` is the machine's podman on a test storage. A
command that fails as printed (podman refused plain HTTP to 127.0.0.1 before it said
--tls-verify=false) fails this test."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import ADMIN_KEY, ADMIN_SECRET, VENV_BIN, Server
from .images import Layout

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def first_block(readme: Path, after: str) -> str:
    """The first ```sh block after the line containing `after`."""
    text = readme.read_text()
    return re.search(r"```sh\n(.*?)```", text[text.index(after) :], re.S).group(1)


@pytest.mark.parametrize(
    ("readme", "heading"),
    [
        (ROOT / "README.md", "## Using it: the ECR workflow"),
        (ROOT / "docs" / "README.hu.md", "## Az ECR-munkafolyamat"),
    ],
)
def test_the_readme_workflow_runs_as_printed(tmp_path, podman, readme, heading):
    server = Server(tmp_path / "data", workers=1).start()
    try:
        for auth in ("podman-auth.json", "auth.json"):  # podman reads these before it writes them
            (tmp_path / auth).write_text("{}")
        source = Layout(tmp_path / "src")
        source.tag(source.image("node-app"), "1.0.0")
        podman("pull", f"oci:{source.root}:1.0.0")  # the reader's own image, node-app:1.0.0
        image_id = podman("images", "-q").stdout.split()[0]
        podman("tag", image_id, "node-app:1.0.0")
        bin_dir = tmp_path / "bin"  # `podman` as printed, on the test's storage
        bin_dir.mkdir()
        wrapper = bin_dir / "podman"
        wrapper.write_text("#!/bin/sh\nexec " + " ".join(podman.base) + ' "$@"\n')
        wrapper.chmod(0o755)

        block = first_block(readme, heading)
        block = block.replace("AWS_ACCESS_KEY_ID=AKIA...", f"AWS_ACCESS_KEY_ID={ADMIN_KEY}")
        block = block.replace("AWS_SECRET_ACCESS_KEY=...", f"AWS_SECRET_ACCESS_KEY={ADMIN_SECRET}")
        block = block.replace("127.0.0.1:5000", server.host)
        assert ADMIN_KEY in block and server.host in block and "podman login" in block
        env = {
            "PATH": f"{bin_dir}:{VENV_BIN}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path),
            "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block], capture_output=True, text=True, env=env, timeout=300
        )
        assert run.returncode == 0, f"{block}\n--- stdout ---\n{run.stdout}\n--- stderr ---\n{run.stderr}"
        assert '"1.0.0"' in run.stdout  # describe-images found what was pushed
    finally:
        server.stop()
