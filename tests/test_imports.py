"""No import cycle among namegen's modules: a module's top-level imports never lead back to it.

The graph is read from the source with `ast`, not by importing: an edge A -> B is an import of
B anywhere in A outside a function body (so `if TYPE_CHECKING:` blocks count, and the imports a
function makes when it runs do not: deferring an import into a function is how a module uses
one that depends on it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "namegen"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement outside a function body."""
    found, pending = [], list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """Each namegen module -> the namegen modules it imports at the top level. `from X import y`
    is an edge to X.y when that is a module, else to X."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:  # relative: `.` is the module's package, each further dot one up
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names)
        graph[name] = {target for target in targets if target in files and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of `graph`, each as a path back to its start: one for each import that a depth-first
    walk finds leading back to a module still open on its path (any cycle holds one)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        path.append(node)
        for step in sorted(graph[node]):
            if state.get(step) == "open":
                found.append(path[path.index(step):] + [step])
            elif step not in state:
                visit(step, path)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert {"namegen.registry", "namegen.files", "namegen.errors"} <= graph["namegen.checkpoint"]
    assert graph["namegen.files"] == {"namegen.errors"}  # the file helpers stand alone
    assert "namegen.model" in graph["namegen.registry"]  # under `if TYPE_CHECKING:`
    assert "namegen.checkpoint" not in graph["namegen.model"]  # NameModel.save imports it when called
    assert "namegen.files" in graph["namegen.exports.files"]  # `from ..files import ...`


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)
