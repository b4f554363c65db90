"""deploy/kubernetes is what docs/deploy.md tells operators to apply: kubectl accepts it (a client
dry run; the API discovery kubectl asks for first is answered by a stub, as there is no cluster
here), every setting it sets is one Kikötő knows, and its probes are the registry's."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kikoto.config import Settings

from ..conftest import require

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"

RESOURCES = {
    "/api/v1": [("configmaps", "ConfigMap", True), ("secrets", "Secret", True), ("services", "Service", True)],
    "/apis/apps/v1": [("deployments", "Deployment", True)],
    "/apis/policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
}


class Discovery(BaseHTTPRequestHandler):
    """The API discovery of a cluster that has nothing in it yet."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        if path == "/api":
            body = {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        elif path == "/apis":
            groups = [("apps", "v1"), ("policy", "v1")]
            body = {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                        "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                    }
                    for g, v in groups
                ],
            }
        elif path in RESOURCES:
            body = {
                "kind": "APIResourceList",
                "groupVersion": path.removeprefix("/apis/").removeprefix("/api/") if "apis" in path else "v1",
                "resources": [
                    {"name": n, "singularName": "", "namespaced": ns, "kind": k, "verbs": ["create", "get", "patch"]}
                    for n, k, ns in RESOURCES[path]
                ],
            }
        else:
            self._answer(
                404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
            )
            return
        self._answer(200, body)

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_kubectl_accepts_the_manifests(api, tmp_path):
    require(None if shutil.which("kubectl") else "kubectl is not installed")
    result = subprocess.run(
        ["kubectl", "--server", api, "--kubeconfig", "/dev/null", "apply", "--dry-run=client", "--validate=false"]
        + ["-k", str(DEPLOY), "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == [
        "configmap/kikoto",
        "deployment.apps/kikoto",
        "poddisruptionbudget.policy/kikoto",
        "secret/kikoto",
        "service/kikoto",
    ]


def test_every_setting_the_manifests_set_is_a_kikoto_setting():
    import yaml

    known = {f"KIKOTO_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    set_here = set()
    for name in ("configmap.yaml", "secret.yaml"):
        document = yaml.safe_load((DEPLOY / name).read_text())
        set_here |= set(document.get("data") or document.get("stringData"))
    unknown = {k for k in set_here if k.startswith("KIKOTO_")} - known
    assert unknown == set() and "KIKOTO_MASTER_KEY" in set_here and "KIKOTO_DATABASE_URL" in set_here


def test_the_probes_are_the_registrys_health_endpoints():
    import yaml

    deployment = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pdb = yaml.safe_load((DEPLOY / "pdb.yaml").read_text())
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
