"""The shape of the code: small modules, and no import cycles (imports made only for type checking count too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("callbridge", "bench")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ours that ``name`` imports, at any level of its code (functions and TYPE_CHECKING blocks too)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {t for t in targets if t in known and t != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules: {long}"


def test_there_are_no_import_cycles() -> None:
    found = modules()
    known = set(found)
    # A package's __init__ importing its own submodules is how packages re-export; it is not a cycle of design.
    graph = {
        name: {t for t in imports_of(name, path, known) if not t.startswith(name + ".")} for name, path in found.items()
    }
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# What each layer must not know (shared/DESIGN.md, "Layers").
FORBIDDEN = {
    "callbridge.media": (
        "callbridge.api",
        "callbridge.calls",
        "callbridge.connectors",
        "callbridge.events",
        "callbridge.store",
        "callbridge.sessions",
        "callbridge.gateway",
        "callbridge.app",
    ),
    "callbridge.connectors": (
        "callbridge.api",
        "callbridge.calls",
        "callbridge.events",
        "callbridge.gateway",
        "callbridge.app",
        "fastapi",
        "starlette",
    ),
    "callbridge.store": (
        "callbridge.api",
        "callbridge.calls",
        "callbridge.connectors",
        "callbridge.events",
        "callbridge.media",
    ),
    "callbridge.calls": ("callbridge.api", "callbridge.gateway", "callbridge.app", "fastapi", "starlette"),
    "callbridge.api": ("aiortc", "aioice"),
    # The public testing kit drives the gateway and the emulator over HTTP only, as a user's CI would.
    "callbridge.testing": tuple(
        f"callbridge.{m}"
        for m in ("api", "calls", "connectors", "emulator", "events", "media", "store", "sessions", "gateway", "app")
    ),
    "callbridge.emulator": (
        "callbridge.api",
        "callbridge.calls",
        "callbridge.connectors",
        "callbridge.events",
        "callbridge.media",
        "callbridge.store",
        "callbridge.sessions",
        "callbridge.gateway",
        "callbridge.app",
        "callbridge.config",
        "callbridge.errors",
        "callbridge.tasks",
    ),
}


def raw_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def test_each_layer_keeps_out_of_what_it_must_not_know() -> None:
    broken = []
    for name, path in modules().items():
        for layer, forbidden in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                broken += [f"{name} imports {i}" for i in raw_imports(path) if i.startswith(forbidden)]
    assert broken == []


def test_the_readmes_code_map_has_a_line_for_every_package() -> None:
    code_map = (ROOT / "README.md").read_text().split("### Code map\n")[1].split("\n#")[0]
    packages = sorted(p.name for p in (ROOT / "callbridge").iterdir() if p.is_dir() and p.name[0] not in "_.")
    assert [p for p in packages if f"| `callbridge/{p}/` |" not in code_map] == []
