"""The package's shape: no import cycles (imports inside functions count), and lib/ only in domain folders."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tweetsent_assets"
DOMAINS = {"ingest", "lake", "ml", "insights", "cluster"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its body, and their packages (not its own)."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base)
        edges = set()
        for target in targets:
            parts = target.split(".")
            edges.update(m for m in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if m in files)
        graph[name] = {m for m in edges if m != name and not name.startswith(m + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert len(graph) > 90 and sum(map(len, graph.values())) > 300, "the walk found too few modules or imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "pkg"


@pytest.mark.parametrize("files, expected", [
    ({"pkg/__init__.py": "", "pkg/a.py": "from .b import x\n", "pkg/b.py": "def f():\n    from .a import y\n"},
     ["pkg.a", "pkg.b", "pkg.a"]),
    ({"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/a.py": "from .. import c\n",
      "pkg/c.py": "import pkg.sub.a\n"}, ["pkg.c", "pkg.sub.a", "pkg.c"]),
    ({"pkg/__init__.py": "from .m import T\n", "pkg/m.py": "T = 1\n", "pkg/n.py": "from . import m\n"}, None),
])
def test_find_cycle_names_the_modules_of_a_cycle(tmp_path, files, expected):
    assert find_cycle(import_graph(_write(tmp_path, files))) == expected


def test_lib_holds_only_domain_folders_each_with_a_docstring():
    lib = PACKAGE / "lib"
    assert sorted(p.name for p in lib.glob("*.py")) == ["__init__.py"]
    assert {p.name for p in lib.iterdir() if p.is_dir() and any(p.glob("*.py"))} == DOMAINS
    for domain in DOMAINS:
        docstring = ast.get_docstring(ast.parse((lib / domain / "__init__.py").read_text()))
        assert docstring and "\n" not in docstring, f"lib/{domain}/__init__.py needs a one-line docstring"
