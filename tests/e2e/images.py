"""Real, runnable-shaped OCI images written as an OCI image layout on disk (what skopeo reads)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

from kikoto.domain.manifests import OCI_INDEX, OCI_MANIFEST


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class Layout:
    """An OCI image layout directory we can fill with images and indexes."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        self.index: list[dict] = []

    def blob(self, data: bytes, media_type: str, **extra) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data), **extra}

    def image(self, seed: str, layers: int = 3, arch: str = "amd64", layer_bytes: int = 2000) -> dict:
        """An image manifest with `layers` gzip'd tar layers whose diff_ids are right."""
        descriptors, diff_ids = [], []
        for i in range(layers):
            payload = random.Random(f"{seed}/{i}").randbytes(layer_bytes)  # incompressible, reproducible
            raw = _tar({f"data/{seed}-{i}.bin": payload, f"etc/layer-{i}": seed.encode()})
            diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
            descriptors.append(self.blob(gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"))
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": ["/bin/true"], "Labels": {"seed": seed}},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created_by": "kikoto tests"}] * layers,
            }
        ).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(config, "application/vnd.oci.image.config.v1+json"),
            "layers": descriptors,
        }
        return self.blob(json.dumps(manifest).encode(), OCI_MANIFEST)

    def multi_arch(self, seed: str) -> dict:
        children = []
        for arch in ("amd64", "arm64"):
            child = self.image(f"{seed}-{arch}", arch=arch)
            child["platform"] = {"architecture": arch, "os": "linux"}
            children.append(child)
        return self.blob(
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode(), OCI_INDEX
        )

    def tag(self, descriptor: dict, name: str) -> None:
        entry = dict(descriptor, annotations={"org.opencontainers.image.ref.name": name})
        entry.pop("platform", None)
        self.index.append(entry)
        (self.root / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index})
        )

    def read(self, digest: str) -> bytes:
        return (self.root / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def push_layout(
    skopeo, server, layout: Layout, tag: str, repository: str, every_platform: bool = False, creds: str | None = None
) -> None:
    """Copy the layout's `tag` to `repository:tag` on the server with skopeo, as a user pushes
    (`skopeo`: the fixture's runner, or any callable taking skopeo's arguments), as the admin or
    with `creds` (AWS:<password>)."""
    platforms = ["--all"] if every_platform else []
    source, destination = f"oci:{layout.root}:{tag}", f"docker://{server.host}/{repository}:{tag}"
    skopeo("copy", *platforms, "--dest-tls-verify=false", "--dest-creds", creds or server.creds, source, destination)
