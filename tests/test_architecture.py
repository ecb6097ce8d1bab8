"""The dependency rules of ARCHITECTURE.md, read from the code's own imports (AST, nothing imported)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "store", "loadtest")
# Foundation modules every wing may use; they use no wing.
FOUNDATION = {"gateway", "gateway.config", "gateway.errors", "gateway.text", "gateway.countries", "gateway.metrics",
              "gateway.encoding"}
ENTRY_POINT = "gateway.__main__"  # patches gevent, installs the resolver, runs the CLI
# Wing -> the wings it may import (besides the foundation and store). process/ composes everything.
WINGS = {
    "egress": set(),
    "tracing": {"egress"},
    "ahead": {"tracing", "egress"},
    "clicks": {"ahead", "tracing", "egress"},
    "postbacks": {"clicks", "ahead", "tracing", "egress"},
    "routes": {"clicks", "postbacks", "ahead", "tracing", "egress"},
    "console": {"clicks", "postbacks", "ahead", "tracing", "egress", "routes"},
    "process": {"clicks", "postbacks", "ahead", "tracing", "egress", "routes", "console"},
    "cli": {"clicks", "postbacks", "ahead", "tracing", "egress", "process"},
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `name` imports (relative imports resolved; `from a import b` counts a.b if a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in out if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "gateway" and len(parts) > 1 and parts[1] in WINGS else None


def test_store_imports_neither_gateway_nor_loadtest(graph):
    """`store` is the bottom layer: the gateway and the lab depend on it, never the other way round."""
    wrong = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.startswith("store") for t in ts
                   if t.startswith(("gateway", "loadtest")))
    assert wrong == []


def test_gateway_never_imports_the_lab(graph):
    """The lab (doubles, bench, load test, demo) depends on the gateway; its commands join the CLI as plugins."""
    wrong = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.startswith("gateway") for t in ts
                   if t.startswith("loadtest"))
    assert wrong == []


def test_there_is_no_import_circle(graph):
    """Tarjan's strongly connected components: every one must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_wings_depend_only_on_the_wings_below_them(graph):
    """The foundation uses no wing; each wing imports only the foundation, `store` and the wings listed for it."""
    wrong = []
    for module, targets in graph.items():
        if not module.startswith("gateway") or module == ENTRY_POINT:
            continue
        allowed = set() if module in FOUNDATION else WINGS.get(wing(module) or "", set())
        for target in targets:
            target_wing = wing(target)
            if target_wing and target_wing != wing(module) and target_wing not in allowed:
                wrong.append(f"{module} -> {target}")
    assert sorted(wrong) == []


def test_only_store_spells_redis_keys_and_sql():
    """No SQL statement or Redis key prefix outside `store/`: they live in queries.sql and store.keys."""
    plain = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM", "COPY ", "prefix}", "{{pool}}", "{{pair:",
             "offers:changed")
    suspicious = [re.escape(needle) for needle in plain] + [r"[\"':](lock|rate|browser):"]  # a key's segment
    found = [f"{path.relative_to(REPO)}: {match.group().strip()}" for path in (REPO / "gateway").rglob("*.py")
             for needle in suspicious if (match := re.search(needle, path.read_text()))]
    assert found == []


def test_only_the_browser_worker_drives_a_browser(graph):
    """Playwright brings its own event loop: the modules that drive Chromium (chromium, and bridge, its threaded
    proxy) are imported by the browser worker alone, and `__main__` runs the worker before gevent patches
    anything; nothing a gateway process loads reaches them."""
    drivers = {"gateway.tracing.chromium", "gateway.tracing.bridge"}
    importers = {module for module, targets in graph.items() if targets & drivers and module not in drivers}
    assert importers == {"gateway.process.browser_worker"}
    worker_importers = {module for module, targets in graph.items() if "gateway.process.browser_worker" in targets}
    assert worker_importers == {ENTRY_POINT}
    source = (REPO / "gateway" / "__main__.py").read_text()
    assert source.index("browser_worker") < source.index("monkey.patch_all()")
    playwright = {path.relative_to(REPO).as_posix() for path in (REPO / "gateway").rglob("*.py")
                  if re.search(r"^\s*(from|import) playwright", path.read_text(), re.MULTILINE)}
    assert playwright == {"gateway/tracing/chromium.py"}
