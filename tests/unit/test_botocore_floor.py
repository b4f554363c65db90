"""The botocore floor in pyproject.toml is real: Kikötő refuses to start when an operation it
answers is missing from botocore's ECR model, so the oldest botocore it accepts must have all of
them. This installs exactly that version into a throwaway environment (the rest of the
dependencies are borrowed from the running one) and imports every operation there."""

from __future__ import annotations

import re
import subprocess
import sysconfig
import tomllib
import venv
from pathlib import Path

from ..conftest import require

ROOT = Path(__file__).resolve().parents[2]


def floor() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [re.fullmatch(r"botocore>=([\d.]+)", d.split(";")[0].strip()) for d in project["dependencies"]]
    versions = [m.group(1) for m in found if m]
    assert len(versions) == 1, "pyproject.toml must give botocore a floor (botocore>=X.Y.Z)"
    return versions[0]


def test_the_oldest_botocore_allowed_has_every_operation(tmp_path):
    version = floor()
    env = tmp_path / "floor"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", f"botocore=={version}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0:
        require(f"pip could not install botocore=={version}: {installed.stderr[-500:]}")
    # everything else (aiohttp, jmespath, kikoto itself, ...) from this environment, after the
    # floor's own site-packages so that its botocore is the one imported
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n" + str(ROOT / "src") + "\n")
    probe = (
        "import botocore\n"
        f"assert botocore.__version__ == {version!r}, botocore.__version__\n"
        "from kikoto.app import FEATURES\n"
        "from kikoto.http.ecr.operations import OPERATIONS\n"
        "from kikoto.features.pull_through.secretsmanager import SECRETS_OPERATIONS\n"
        "print(len(OPERATIONS) + sum(len(f.OPERATIONS) for f in FEATURES), len(SECRETS_OPERATIONS))\n"
    )
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kikoto does not import with botocore {version}:\n{result.stderr}"
    assert result.stdout.split() == ["62", "5"], result.stdout
