"""Imports run only downward, and no modules import each other in a circle.

Floors from the bottom (../shared/DESIGN.md): store and simulated import nothing of rolecall's;
then checks/iam (IAM semantics, no control ids); the control framework and shared SQL; the
guidance modules checks/gN_*; the registry and what iterates it (validate, completeness, the
exceptions register); reports; flows; cli. Every import counts, also those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("store", "simulated", "checks", "reports", "flows", "cli")
FLOORS: tuple[tuple[str, ...], ...] = (
    ("store", "simulated"),
    ("checks.iam",),
    ("checks.settings", "checks.gx_import"),
    ("checks.control", "checks.expectation", "checks.snapshot_sql", "checks.results",
     "checks.role_trust", "checks.frameworks"),
    ("checks.g1_no_iam_users", "checks.g2_identity_center", "checks.g3_service_roles",
     "checks.g4_external_id", "checks.g5_deployment_oidc", "checks.g6_scp_boundaries"),
    ("checks.catalogue", "checks.exceptions", "checks.register_facts", "checks.completeness",
     "checks.validate", "checks.counts"),
    ("reports",),
    ("flows",),
    ("cli",),
)


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


# The checks package itself holds nothing (its __init__ is empty); only its modules have floors.
EMPTY_PACKAGES = ("checks",)


def floor(module: str) -> int:
    """The floor of a module: the most specific prefix listed in FLOORS."""
    if module in EMPTY_PACKAGES:
        return 0
    best, level = -1, None
    for i, names in enumerate(FLOORS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, level = len(name), i
    if level is None:
        raise AssertionError(f"{module} has no floor: add it to FLOORS")
    return level


def imports_of(module: str) -> set[str]:
    """rolecall modules `module` imports (package imports resolve to the package)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{a.name}" for a in node.names]
            # `from checks import catalogue` imports the module; the package is only its namespace
            names = submodules if any(m in MODULES for m in submodules) else [node.module]
        found |= {n for n in names if n in MODULES and n != module}
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_from_a_higher_floor(module: str) -> None:
    up = sorted(m for m in imports_of(module) if floor(m) > floor(module))
    assert not up, f"{module} (floor {floor(module)}) imports {up} from above"


def test_there_is_no_import_circle() -> None:
    graph = {m: imports_of(m) for m in MODULES}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        if node in path:
            raise AssertionError("import circle: " + " -> ".join((*path[path.index(node):], node)))
        if node in done:
            return
        for nxt in graph[node]:
            if not nxt.startswith(node + "."):  # a package importing its own modules is no circle
                visit(nxt, (*path, node))
        done.add(node)

    for module in sorted(graph):
        visit(module, ())


def test_the_floors_name_every_package() -> None:
    assert {floor(m) for m in MODULES if m not in EMPTY_PACKAGES} == set(range(len(FLOORS)))
