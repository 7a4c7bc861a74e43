"""The import graph of webapp/ and jobs/: no circle, nothing under webapp/ imports jobs/,
and an import inside a function says why on the line above it (`# reason: …`). Also
the naming rules the README's Layout states: our modules are imported under their own
names (no `as`), a `_private` name is not taken from another module, and only
webapp/services/queue.py talks to RQ's enqueue.

Read from the source with `ast` (every import: at the top, inside functions, under
TYPE_CHECKING), so a circle fails here before it fails at import time.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("webapp", "jobs")


def module_files() -> dict[str, Path]:
    """Dotted module name → file, for every module under webapp/ and jobs/."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = module_files()


def _ours(name: str) -> str | None:
    """The module of ours that `name` (a module, or a name in one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
    targets = {_ours(name) for name in names if name.split(".")[0] in PACKAGES}
    return {target for target in targets if target and target != module}


def _function_imports(tree: ast.Module) -> set[int]:
    """Line numbers of the imports inside a function or method."""
    lines = set()
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    lines.add(node.lineno)
    return lines


def read_graph() -> tuple[dict[str, set[str]], list[str]]:
    """(module → the modules of ours it imports, function-level imports without a reason)."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    unexplained = []
    for module, path in MODULES.items():
        source = path.read_text()
        tree = ast.parse(source)
        lines = source.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[module] |= _imported(module, node)
        for number in _function_imports(tree):
            above = "\n".join(lines[max(0, number - 4) : number])
            if "# reason:" not in above:
                unexplained.append(
                    f"{path.relative_to(ROOT)}:{number}: {lines[number - 1].strip()}"
                )
    return graph, sorted(unexplained)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


GRAPH, UNEXPLAINED = read_graph()


def test_it_reads_every_module_and_the_imports_between_them():
    assert "webapp.services.queue" in MODULES and "jobs.preauth" in MODULES
    assert GRAPH["jobs.preauth"] == {"jobs", "webapp.services.hold_batches"}
    assert "webapp.extensions" in GRAPH["webapp.services.preauth_state"]


def test_it_has_no_import_circle():
    assert circles(GRAPH) == []


def test_nothing_under_webapp_imports_jobs():
    into_jobs = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] == "webapp"
        for target in targets
        if target.split(".")[0] == "jobs"
    )
    assert into_jobs == []


def test_imports_inside_functions_say_why():
    assert UNEXPLAINED == []


def test_the_checks_catch_a_circle_an_import_into_jobs_and_a_silent_inner_import():
    """The same functions, on a made-up graph: each rule can fail."""
    made_up = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(made_up) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
    tree = ast.parse("import os\n\ndef f():\n    import json\n    return json\n")
    assert _function_imports(tree) == {4}
    node = ast.parse("from jobs import preauth").body[0]
    assert _imported("webapp.services.queue", node) == {"jobs", "jobs.preauth"}


ENQUEUE_CALLS = {"enqueue", "enqueue_at", "enqueue_in", "enqueue_call", "enqueue_many"}


def naming_faults() -> list[str]:
    """`as` aliases of our modules and names, `_private` names taken from another module,
    and RQ enqueues (`queue().enqueue…`, `Retry(…)`) outside webapp/services/queue.py."""
    faults = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                for alias in node.names:
                    if alias.asname and alias.asname != alias.name:
                        faults.append(f"{where}:{node.lineno}: {alias.name} as {alias.asname}")
                    if alias.name.startswith("_"):
                        faults.append(f"{where}:{node.lineno}: imports {alias.name}")
            elif isinstance(node, ast.Call) and module != "webapp.services.queue":
                func = node.func
                on_a_queue = (  # queue().enqueue(…), Queue(…).enqueue_at(…)
                    isinstance(func, ast.Attribute)
                    and func.attr in ENQUEUE_CALLS
                    and isinstance(func.value, ast.Call)
                )
                if on_a_queue or (isinstance(func, ast.Name) and func.id == "Retry"):
                    faults.append(f"{where}:{node.lineno}: RQ enqueue outside services/queue.py")
    return sorted(faults)


def test_modules_follow_the_naming_rules_and_send_jobs_through_one_helper():
    assert naming_faults() == []
