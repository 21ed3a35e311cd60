"""The package's import graph, every import counted (those inside functions too): no cycles, and the
rooms stay in order (format below the engine; nothing below training imports training; nothing in
serving imports the lab or training)."""
import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "src" / "ptune"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ptune"):
            found.add(node.module)
            # `from ptune.engine import family_attention` imports the module family_attention
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ptune"))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("ptune")):
            found.add(node.args[0].value)  # importlib.import_module("ptune.x"): an import all the same
    return found


def graph(*, top_level_only: bool) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in imports(path, top_level_only=top_level_only) if i in modules and i != name}
            for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_lazy_imports_included():
    edges = graph(top_level_only=False)
    # a package's __init__ importing its own modules is not a cycle of the design
    edges = {n: {i for i in targets if not n.startswith(i + ".")} for n, targets in edges.items()}
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges))}"


LOWER_THAN_THE_ENGINE = ("ptune.format", "ptune.data", "ptune.errors", "ptune.validation", "ptune.registry",
                         "ptune.runtime", "ptune.extras")
"""Rooms below the engine: they take nothing from the model's rooms above them."""
MODEL_AND_ABOVE = ("ptune.engine", "ptune.config", "ptune.settings", "ptune.tasks", "ptune.injections",
                   "ptune.encoders", "ptune.inference", "ptune.training", "ptune.lab", "ptune.serve", "ptune.cli",
                   "ptune.demo")


def test_format_and_data_sit_below_the_engine():
    edges = graph(top_level_only=False)
    problems = [f"{module} imports {target}" for module, targets in edges.items() if module.startswith(LOWER_THAN_THE_ENGINE)
                for target in targets if target.startswith(MODEL_AND_ABOVE)]
    assert not problems, problems


def test_layers_import_downwards_only():
    edges = graph(top_level_only=False)  # lazy imports inside functions count here
    upper = ("ptune.training", "ptune.lab", "ptune.serve", "ptune.cli", "ptune.demo")
    problems = []
    for module, targets in edges.items():
        if not module.startswith(upper):  # the engine, adapters, tasks, injections, encoders, data, config
            problems += [f"{module} imports {t}" for t in targets if t.startswith(("ptune.training", "ptune.lab",
                                                                                   "ptune.serve", "ptune.cli"))]
        if module.startswith("ptune.serve"):
            problems += [f"{module} imports {t}" for t in targets if t.startswith(("ptune.lab", "ptune.training"))]
    assert not problems, problems


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
