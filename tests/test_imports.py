"""The package's import graph has no cycle, counting imports inside functions."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seq2seq"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every seq2seq module `path` imports, at any depth of its code (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m == "seq2seq" or m.startswith("seq2seq.")}


def _graph() -> dict[str, set[str]]:
    """module -> the modules importing it runs: each one named, and the packages above it (importing
    seq2seq.data.vocab runs seq2seq/data/__init__.py first), except the root package and the importer's
    own packages, which are already being imported when it runs."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        deps = set()
        # `from .x import y` names module x (kept) and maybe a function y (dropped: not a module).
        for m in _imports(path, name):
            parts = m.split(".")
            deps |= {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
        graph[name] = {m for m in deps if m in modules and m != name and m not in own}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_graph_sees_function_level_imports(tmp_path):
    assert "seq2seq.training" in _graph()["seq2seq.cli.commands"]  # imported inside train_command


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_package_imports_itself_relatively():
    """Inside src/seq2seq a module reaches the package's other modules relatively (`from ..data import vocab`),
    never as `seq2seq.x` (docs/contributing.md, Code)."""
    absolute = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(n == "seq2seq" or n.startswith("seq2seq.") for n in names):
                absolute.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert absolute == []


def test_top_level_is_sub_packages():
    """The package's top level shows its parts: sub-packages, and no module but `__init__` and `__main__`."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert loose == []
