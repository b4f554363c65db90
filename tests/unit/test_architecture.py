"""Import contracts: the layers of docs/architecture.md, checked on every module's imports.

domain is pure (the standard library and RE2 only); services know nothing of HTTP; the faces
(http) reach storage only through services (the blob store port's types excepted); storage
knows neither services nor faces."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "src" / "kikoto"
STDLIB = set(sys.stdlib_module_names)


def imports(path: Path) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    package = ["kikoto", *path.relative_to(ROOT).with_suffix("").parts[:-1]]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


def violations(layer: str, forbidden) -> list[str]:
    found = []
    for path in modules(layer):
        for name in sorted(imports(path)):
            if forbidden(name):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_the_domain_is_pure():
    def impure(name: str) -> bool:
        top = name.split(".")[0]
        if top in STDLIB or top == "re2" or name.startswith("kikoto.domain"):
            return False
        return True

    assert violations("domain", impure) == []


def test_services_are_free_of_http():
    assert violations("services", lambda n: n.split(".")[0] == "aiohttp" or n.startswith("kikoto.http")) == []


CONCRETE_STORES = ("kikoto.storage.meta", "kikoto.storage.blobs.filesystem", "kikoto.storage.blobs.s3")


def test_the_faces_do_not_touch_concrete_stores():
    assert violations("http", lambda n: n.startswith(CONCRETE_STORES)) == []


def test_no_face_reads_another_faces_services():
    """The ECR face's service record is its own; the other faces take services by their keys
    (http/services.py), so none reaches the rest through a shared bag."""
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in [*modules("http"), *modules("features")]
        if "ecr" not in path.relative_to(ROOT).parts[:2] and path.stem not in ("operations", "secretsmanager")
        for name in sorted(imports(path))
        if name.startswith("kikoto.http.ecr.context.ECR")
    ]
    assert found == []


def test_storage_knows_neither_services_nor_faces():
    assert violations("storage", lambda n: n.startswith(("kikoto.services", "kikoto.http"))) == []


def test_the_remote_adapters_know_only_the_domain():
    """Clients of other systems (upstream and peer registries, webhook receivers): adapters the services drive."""
    assert violations("remote", lambda n: n.startswith(("kikoto.services", "kikoto.http", "kikoto.storage"))) == []


CORE = ["domain", "services", "http", "storage", "remote", "jobs"]
FEATURES = sorted(p.parent.name for p in (ROOT / "features").glob("*/__init__.py"))
FACE_MODULES = {"__init__", "operations", "secretsmanager", "console", "cli"}  # a feature's wiring and faces


@pytest.mark.parametrize("layer", CORE)
def test_the_core_knows_no_feature(layer):
    """Features wrap and add to the core; the core never reaches up to one (nor to the composition)."""
    found = violations(layer, lambda n: n.startswith(("kikoto.features", "kikoto.app", "kikoto.core")))
    assert found == []


@pytest.mark.parametrize("feature", FEATURES)
def test_features_do_not_import_each_other(feature):
    others = tuple(f"kikoto.features.{other}" for other in FEATURES if other != feature)
    assert violations(f"features/{feature}", lambda n: n.startswith(others)) == []


@pytest.mark.parametrize("feature", FEATURES)
def test_a_features_rules_and_stores_know_no_face(feature):
    """Inside a feature the same layers hold: only its wiring and face modules speak HTTP."""
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(f"features/{feature}")
        if path.stem not in FACE_MODULES
        for name in sorted(imports(path))
        if name.startswith(("kikoto.http", "kikoto.cli", "aiohttp.web"))
    ]
    assert found == []


def test_every_feature_is_wired_in():
    from kikoto.app import FEATURES as WIRED

    assert sorted(package.__name__.rsplit(".", 1)[1] for package in WIRED) == FEATURES
    assert len(FEATURES) >= 5


@pytest.mark.parametrize("layer", ["domain", "services", "http", "storage", "remote", "jobs", "features"])
def test_the_contract_sees_the_layer(layer):
    """A contract that reads no module could never fail."""
    assert modules(layer) and any(imports(p) for p in modules(layer))


def module_graph() -> dict[str, set[str]]:
    """Every kikoto module -> the kikoto modules it imports (at any depth of its code)."""

    def name(path: Path) -> str:
        parts = ["kikoto", *path.relative_to(ROOT).with_suffix("").parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    known = {name(p) for p in ROOT.rglob("*.py")}
    graph = {}
    for path in ROOT.rglob("*.py"):
        targets = set()
        for imported in imports(path):
            while imported and imported not in known:  # kikoto.x.y.Name -> kikoto.x.y
                imported = imported.rpartition(".")[0]
            if imported:
                targets.add(imported)
        # a module's own packages are loaded before it anyway (`from . import i18n`): no edge
        source = name(path)
        graph[source] = {t for t in targets if t != source and not source.startswith(t + ".")}
    return graph


def test_no_module_imports_itself_back():
    """Import loops (cli.py <-> cli_outbox.py, http/errors.py -> oci/common.py -> limits.py ->
    ecr/errors.py -> http/errors.py) make every module of the loop one piece to change."""
    graph = module_graph()
    loops = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for target in graph.get(node, ()):
                if target == start:
                    loops.append(" -> ".join([*path, start]))
                elif target not in seen and target > start:  # each loop once, from its least module
                    seen.add(target)
                    stack.append((target, [*path, target]))
    assert loops == []


def test_the_cli_is_a_package_of_command_groups():
    cli = ROOT / "cli"
    assert (cli / "__init__.py").exists() and (cli / "common.py").exists()
    assert not list(ROOT.glob("cli*.py")), "command modules live in kikoto/cli/"


def test_services_and_features_reach_the_metadata_stores_through_their_ports():
    """The core's services and the features type against one Protocol per aggregate
    (storage/meta/ports.py); only a feature's own store module implements SQL, and its wiring
    (`__init__.py`, a composition root of its own) builds that store on the core's engine."""
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in [*modules("services"), *modules("features"), *modules("jobs")]
        if path.name not in ("store.py", "__init__.py")
        for name in sorted(imports(path))
        if name.startswith("kikoto.storage.meta") and not name.startswith("kikoto.storage.meta.ports")
    ]
    assert found == []
