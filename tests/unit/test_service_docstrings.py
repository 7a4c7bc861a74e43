"""Every public service function names, in a `Raises:` section of its docstring, the
errors it raises: directly, through a private helper of its module (unless it catches
them), or as `raise helper(...)` where the helper returns the error.

Read with `ast`; nothing is imported.
"""

import ast
from pathlib import Path


def _name(node):
    e = node.func if isinstance(node, ast.Call) else node
    return e.attr if isinstance(e, ast.Attribute) else getattr(e, "id", None)


def _calls(node, caught):
    """(call, names the enclosing try blocks catch) for every call under `node`."""
    if isinstance(node, ast.Try):
        names = set()
        for handler in node.handlers:
            types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            names |= {_name(t) for t in types if t is not None}
        for child in node.body:
            yield from _calls(child, caught | names)
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            yield from _calls(child, caught)
        return
    if isinstance(node, ast.Call):
        yield node, caught
    for child in ast.iter_child_nodes(node):
        yield from _calls(child, caught)


def raised_by(module_path):
    tree = ast.parse(Path(module_path).read_text())
    functions = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for f in node.body:
                if isinstance(f, ast.FunctionDef):
                    functions[f"{node.name}.{f.name}"] = f
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    constants[t.id] = _name(node.value)

    def direct(f):
        found = set()
        for n in ast.walk(f):
            if isinstance(n, ast.Raise) and n.exc is not None:
                name = _name(n.exc)
                if name in constants:
                    name = constants[name]
                helper = functions.get(name or "")
                if helper is not None and helper.returns is not None:
                    name = _name(helper.returns)
                if name and name[0].isupper():
                    found.add(name)
        return found

    result = {}
    for key, f in functions.items():
        if key.split(".")[-1].startswith("_") or key.split(".")[0].startswith("_"):
            continue
        found = direct(f)
        for call, caught in _calls(f, frozenset()):
            if isinstance(call.func, ast.Name) and call.func.id.startswith("_"):
                helper = functions.get(call.func.id)
                if helper is not None:
                    found |= direct(helper) - caught
        if found:
            result[key] = (f, found)
    return result


def lacking():
    out = []
    for p in sorted(Path("webapp/services").glob("*.py")):
        for key, (f, found) in raised_by(p).items():
            doc = ast.get_docstring(f) or ""
            section = doc.split("Raises:", 1)[1] if "Raises:" in doc else None
            missing = sorted(n for n in found if section is None or n not in section)
            if missing:
                out.append(f"{p}:{f.lineno} {key}: {missing}")
    return out


def test_every_public_service_function_names_what_it_raises():
    assert lacking() == []


def test_the_check_sees_a_raise_a_helper_and_a_catch(tmp_path):
    module = tmp_path / "made_up.py"
    module.write_text(
        "class Refused(Exception): ...\n"
        "def _check():\n    raise Refused('no')\n"
        "def _lost() -> Refused:\n    return Refused('lost')\n"
        "def direct():\n    raise ValueError('x')\n"
        "def through_helper():\n    _check()\n"
        "def returned():\n    raise _lost()\n"
        "def caught():\n    try:\n        _check()\n    except Refused:\n        pass\n"
        'def named():\n    """Raises:\n        ValueError: always."""\n    raise ValueError()\n'
    )
    found = {name: raised for name, (_f, raised) in raised_by(module).items()}
    assert found == {
        "direct": {"ValueError"},
        "through_helper": {"Refused"},
        "returned": {"Refused"},
        "named": {"ValueError"},
    }
