"""The packages import one way, under one name.

- No module of sihub reaches itself again through its imports (no cycles).
- The layers point one way (STYLE.md): the core (types, errors, settings) imports no other
  project module; `sihub.ingest` -> `sihub.index` -> `sihub.assistant` -> the edges (CLI, web).
- The top-level folders `ingest/`, `index/`, `assistant/` install as `sihub.ingest`,
  `sihub.index`, `sihub.assistant` (pyproject's package-dir). From the repository root they are
  importable as top-level `index` etc. too; a file that imported them so would load a second
  copy of every class, so no project file does.

Every import is counted (at module level or inside a function), except those under
`if TYPE_CHECKING:`, which never run.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS["package-dir"]
"""Installed package -> its folder in the repository: {"sihub.index": "index", ...}."""
OLD_NAMES = {p.rpartition(".")[2] for p, folder in PACKAGE_DIR.items() if p != folder}
"""The folders' own names, which must never be imported as top-level modules: index, ingest, assistant."""
SOURCES = ("sihub", "ingest", "index", "assistant", "tests", "bench")

CORE = {"sihub", "sihub.types", "sihub.errors", "sihub.settings"}
EDGES = ("sihub.cli", "sihub.web", "sihub.feedback", "sihub.progress", "sihub.limits", "sihub.mcp_server")
LAYERS = ("sihub.ingest", "sihub.index", "sihub.assistant")
"""In order: each layer may import the ones before it and the core, never those after it."""


def _module_name(path: Path) -> str:
    """The installed name of the module in `path`: index/store.py -> sihub.index.store."""
    rel = path.relative_to(ROOT)
    package = max((p for p, d in PACKAGE_DIR.items() if rel.parts[: len(Path(d).parts)] == Path(d).parts), key=len)
    parts = [package, *rel.with_suffix("").parts[len(Path(PACKAGE_DIR[package]).parts) :]]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """The project modules `module` (the file `path`) imports when it runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from . import conversation` imports the submodule; `from .ask import weigh` the module.
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in out if m in known and m != module}


def _package_files() -> dict[str, Path]:
    return {_module_name(p): p for d in set(PACKAGE_DIR.values()) for p in (ROOT / d).rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    files = _package_files()
    known = set(files)
    return {m: _imports(p, m, known) for m, p in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (as the list of modules around it), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (found := walk(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := walk(m)):
            return found
    return None


def _under(module: str, packages: tuple[str, ...] | set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _layer(module: str) -> int:
    """0 for the core, 1.. for ingest, index, assistant, then the edges."""
    if module in CORE:
        return 0
    for rank, layer in enumerate(LAYERS, 1):
        if _under(module, (layer,)):
            return rank
    if _under(module, EDGES):
        return len(LAYERS) + 1
    raise AssertionError(f"{module}: neither core, a layer nor an edge; add it to CORE or EDGES in this test")


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_modules_are_named_as_installed():
    assert _module_name(ROOT / "index" / "store.py") == "sihub.index.store"
    assert _module_name(ROOT / "assistant" / "__init__.py") == "sihub.assistant"
    assert _module_name(ROOT / "sihub" / "web" / "app.py") == "sihub.web.app"
    assert OLD_NAMES == {"index", "ingest", "assistant"}


def test_no_module_imports_itself_through_others():
    graph = _graph()
    assert len(graph) > 40 and graph["sihub.assistant.ask"], "the walk found the project's modules"
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _against_layers(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{m} imports {n}"
        for m, deps in graph.items()
        for n in deps
        if (_layer(m) == 0 and n != "sihub") or _layer(n) > _layer(m)
    )


def test_the_layer_check_sees_a_wrong_way_import():
    assert _against_layers({"sihub.types": {"sihub.errors"}, "sihub.index.store": {"sihub.assistant.ask"}}) == [
        "sihub.index.store imports sihub.assistant.ask",
        "sihub.types imports sihub.errors",
    ]
    assert _against_layers({"sihub.ingest.pdf": {"sihub.cli"}, "sihub.web.ui": {"sihub.index.sync", "sihub"}}) == [
        "sihub.ingest.pdf imports sihub.cli"
    ]


def test_the_layers_point_one_way():
    wrong = _against_layers(_graph())
    assert not wrong, "imports against the layers (core <- ingest <- index <- assistant <- edges):\n" + "\n".join(wrong)


def _top_level_uses(source: str, where: str = "") -> list[str]:
    """Where `source` imports index/ingest/assistant as top-level modules, or names one of their
    modules in a string (`python -m index.x`, `__import__("assistant")`, a monkeypatch target)."""
    modules = {m.removeprefix("sihub.") for m in _package_files()}
    dotted = {m for m in modules if "." in m and m.split(".")[0] in OLD_NAMES}
    out = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value.split(":")[0]
            names = [value] if any(value == m or value.startswith(m + ".") for m in dotted) else []
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("__import__", "import_module", "find_spec")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names = [str(node.args[0].value)]
        out += [f"{where}:{node.lineno}: {n}" for n in names if n.split(".")[0] in OLD_NAMES]
    return out


def test_no_file_imports_the_layers_as_top_level_modules():
    files = [p for d in SOURCES for p in (ROOT / d).rglob("*.py") if p != Path(__file__).resolve()]
    assert len(files) > 60
    found = [use for p in files for use in _top_level_uses(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert not found, "import these as sihub.index, sihub.ingest, sihub.assistant:\n" + "\n".join(found)


def test_the_checker_sees_a_top_level_import():
    source = (
        "import index.store\n"
        "from assistant import Assistant\n"
        "from sihub.index import store\n"
        "from . import ingest\n"
        'worker = ["python", "-m", "index.parse_worker"]\n'
        'target = "assistant.ask.retrieve"\n'
        'page = "index.html"\n'
        'role = "assistant"\n'
        'module = __import__("ingest")\n'
    )
    uses = sorted(u.split(": ")[1] for u in _top_level_uses(source))
    assert uses == ["assistant", "assistant.ask.retrieve", "index.parse_worker", "index.store", "ingest"]


def test_every_package_and_data_file_is_installed():
    """Each folder with an __init__.py is in pyproject's package list, and each other file in
    them (e.g. assistant/verdict.json) matches its package-data, or an install leaves it out."""
    packages = set(SETUPTOOLS["packages"])
    found = {_module_name(p) for d in set(PACKAGE_DIR.values()) for p in (ROOT / d).rglob("__init__.py")}
    assert found == packages, f"pyproject's [tool.setuptools] packages should be {sorted(found)}"
    data = SETUPTOOLS.get("package-data", {})
    missing = []
    for package in packages:
        folder = ROOT / PACKAGE_DIR.get(package, package.replace(".", "/"))
        included = {f for g in data.get(package, []) + data.get("*", []) for f in folder.glob(g)}
        for f in folder.rglob("*"):
            own = f.relative_to(folder).parts[:-1]  # in this package, not in a subpackage or a cache
            if any((folder.joinpath(*own[: i + 1]) / "__init__.py").exists() for i in range(len(own))):
                continue
            if f.is_file() and f.suffix not in (".py", ".pyc") and "__pycache__" not in own and f not in included:
                missing.append(str(f.relative_to(ROOT)))
    assert not missing, "add to [tool.setuptools.package-data]: " + ", ".join(sorted(missing))
