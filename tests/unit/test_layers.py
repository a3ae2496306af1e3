"""The architecture, read from the import graph of every module (tests and bench included):
the pure core and the domain rules import no infrastructure, the infrastructure imports no
domain, tests do not import the benchmarks, and no two modules import each other in a ring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "services", "tests", "bench")
DOMAINS = ("booking", "scheduling", "notification")
PURE_DOMAIN_FILES = (
    "domain",
    "records",
    "rules",
    "report",
    "notices",
    "retirement",
    "ledger",
    "overdue",
    "delivery",
    "acks",
)
CLIENTS = ("faust", "aiokafka", "mode", "structlog")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (a late import is still a dependency)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


GRAPH = {
    module_name(path): imports_of(path)
    for package in PACKAGES
    for path in sorted((ROOT / package).rglob("*.py"))
}
MODULES = set(GRAPH)


def internal(imported: set[str]) -> set[str]:
    return {name for name in imported if name in MODULES}


def is_pure(module: str) -> bool:
    parts = module.split(".")
    if module.startswith(("schemas", "services.core")) or module == "services.access":
        return True
    return (
        len(parts) == 3
        and parts[0] == "services"
        and parts[1] in DOMAINS
        and parts[2] in PURE_DOMAIN_FILES
    )


def test_the_graph_is_read() -> None:
    assert "services.streams.durable" in MODULES and "services.core.outcomes" in MODULES
    assert "services.core.outcomes" in internal(GRAPH["services.scheduling.domain"])


@pytest.mark.parametrize("module", sorted(m for m in MODULES if is_pure(m)))
def test_pure_modules_import_only_schemas_and_the_core(module: str) -> None:
    wrong = {
        name
        for name in GRAPH[module]
        if name.split(".")[0] in CLIENTS or (name in MODULES and not is_pure(name))
    }
    assert wrong == set()


@pytest.mark.parametrize(
    "module",
    sorted(
        m
        for m in MODULES
        if m.split(".")[:2] in (["services", "streams"], ["services", "kafka"], ["services", "ops"])
    ),
)
def test_the_infrastructure_imports_no_domain(module: str) -> None:
    wrong = {
        name
        for name in internal(GRAPH[module])
        if name.split(".")[:2] in [["services", domain] for domain in DOMAINS]
    }
    assert wrong == set()


def test_tests_do_not_import_the_benchmarks() -> None:
    wrong = {
        (module, name)
        for module in MODULES
        if module.startswith("tests")
        for name in internal(GRAPH[module])
        if name.startswith("bench")
    }
    assert wrong == set()


def test_no_import_cycle() -> None:
    edges = {module: internal(GRAPH[module]) - {module} for module in MODULES}
    # a package's __init__ that only documents it is no dependency of its modules
    state: dict[str, int] = {}
    rings: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for name in sorted(edges[module]):
            if state.get(name) == 1:
                rings.append([*path[path.index(name) :], name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert rings == []


def package_of(module: str) -> str:
    """The room of the map (docs/architecture.md) a module stands in."""
    parts = module.split(".")
    if parts[0] != "services":
        return parts[0]
    if parts[1:3] == ["kafka", "patches"]:
        return "services.kafka.patches"
    return ".".join(parts[:2])


EDGES = ("schemas", "services.core", "services.kafka", "services.ops", "services.settings")
# docs/architecture.md, "Packages": what each package may import besides itself.
MAP: dict[str, set[str]] = {
    "schemas": set(),
    "services.core": {"schemas"},
    "services.ops": set(),
    "services.access": {"schemas"},
    "services.settings": set(),  # plain values: what they mean on a broker is kafka's
    "services.kafka": {"schemas", "services.access", "services.ops", "services.settings"},
    "services.kafka.patches": {"services.kafka", "services.ops"},
    # where the KEKs come from: a file, or an HSM or KMS over PKCS#11 (#46)
    "services.keys": {"schemas", "services.core", "services.settings"},
    "services.streams": {*EDGES, "services.kafka.patches", "services.keys"},
    # agencies' webhooks: the HTTP, the signatures, the address and rate rules
    "services.delivery": {"schemas", "services.core", "services.ops"},
    # jail intake: NIEM documents over HTTP, published as SPEC 3.1's events (dead letters as
    # the stream services write them: services.streams.codec)
    "services.intake": {*EDGES, "services.streams"},
    "services.ledger": set(EDGES),  # the ledger's sealer and the verifier's reading (#46)
    **{f"services.{domain}": {*EDGES, "services.streams"} for domain in DOMAINS},
    # people signing in to what shows CJI, and the access log (#46)
    "services.people": set(EDGES),
    "services.board": {*EDGES, "services.people"},
    "services.simulator": set(EDGES),
}
MAP["services.notification"].add("services.delivery")


@pytest.mark.parametrize("package", sorted(MAP))
def test_each_package_imports_only_what_the_map_allows(package: str) -> None:
    wrong = {
        (module, name)
        for module in MODULES
        if package_of(module) == package
        for name in internal(GRAPH[module])
        if package_of(name) != package
        and package_of(name) not in MAP[package]
        and name != "services"
    }
    assert wrong == set()


def test_settings_know_no_broker() -> None:
    """Settings are plain values; what they mean on Apache Kafka or Tansu is kafka's
    (``services.kafka.client.tuning``): no arrow runs back up from the settings."""
    for module in MODULES:
        if package_of(module) == "services.settings":
            outside = {n for n in internal(GRAPH[module]) if package_of(n) != "services.settings"}
            assert outside == set(), module


def test_no_file_in_services_or_schemas_is_over_300_lines() -> None:
    """#43: a file a new maintainer reads in one sitting."""
    root = Path(__file__).resolve().parents[2]
    long = {
        str(path.relative_to(root)): lines
        for folder in ("services", "schemas")
        for path in (root / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 300
    }
    assert long == {}


def test_every_package_is_on_the_map() -> None:
    rooms = {package_of(m) for m in MODULES if m.startswith(("services", "schemas"))}
    assert rooms - set(MAP) - {"services", "services.cli"} == set()
