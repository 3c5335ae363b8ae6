"""The house's structure, read from the source: no import circle, no capability probes on components."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the package as installed: ppl_ssl/ plus models/ and guides/ mapped to ppl_ssl.models and ppl_ssl.guides
SOURCES = {"ppl_ssl": ROOT / "ppl_ssl", "ppl_ssl.models": ROOT / "models", "ppl_ssl.guides": ROOT / "guides"}


def modules() -> dict[str, Path]:
    found = {}
    for prefix, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([prefix, *parts])
            if prefix == "ppl_ssl" and parts[:1] in (["models"], ["guides"]):
                continue
            found[name] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Every ppl_ssl module that `name` imports, at the top or inside a function (both run), resolved to modules."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {t for t in targets if t in known and t != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, name, set(found)) for name, path in found.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_the_package():
    graph = import_graph()
    assert "ppl_ssl.models.ssl" in graph and "ppl_ssl.guides.mean_field" in graph
    assert "ppl_ssl.registry" in graph["ppl_ssl.priors"]


def test_no_module_imports_one_that_imports_it_back():
    found = circles(import_graph())
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


PROBE = re.compile(r"\b(getattr|hasattr)\(")
# (de)serialisation and plumbing that walks fields or modules by name, and one check of the installed torch's
# features: none of them asks a component what it can do
ALLOWED_PROBES = {"ppl_ssl/__init__.py", "ppl_ssl/config.py", "ppl_ssl/registry.py", "ppl_ssl/data/datasets.py",
                  "ppl_ssl/commands/fit.py", "ppl_ssl/train/step.py"}


def test_no_capability_is_probed():
    offenders = []
    for name, path in modules().items():
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED_PROBES:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if PROBE.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "capabilities are declared by the contracts, not probed:\n" + "\n".join(offenders)


def test_no_capability_is_a_function_attribute():
    pattern = re.compile(r"^\w+\.(needs_\w+|supports_\w+|check_config|has_\w+)\s*=", re.M)
    offenders = [p.relative_to(ROOT).as_posix() for p in modules().values() if pattern.search(p.read_text())]
    assert not offenders, f"function attributes used as capabilities in {offenders}"
