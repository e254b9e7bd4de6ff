"""The layout's rules, checked on the source: layers import only downwards, no import cycles,
libvirt only inside vmm.virt, and no module past the size budget."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vmm"
LAYERS = ("model", "virt", "ops", "ui")  # each may import those before it, never after
SIZE_BUDGET = 360  # lines


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


_TYPE_CHECKING = ("TYPE_CHECKING", "typing.TYPE_CHECKING")  # not `not TYPE_CHECKING`: that runs


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The imports inside `if TYPE_CHECKING:` blocks: names for annotations, never run."""
    blocks = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
    ]
    return {inner for block in blocks for stmt in block.body for inner in ast.walk(stmt)}


def imports_of(name: str, *, annotations: bool = True) -> set[str]:
    """Every vmm module `name` imports, at any depth of its code (lazy imports count too;
    those only for annotations unless `annotations` is False)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped = set() if annotations else _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).rstrip(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {module for module in found if module in MODULES or module.split(".")[0] == "libvirt"}


def layer_of(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


GRAPH = {name: imports_of(name) for name in MODULES}
# what runs: a module and the class it names in its annotations may know each other (a host
# hands out VM handles, a handle names its host), as long as neither imports the other to run
RUNTIME = {name: imports_of(name, annotations=False) for name in MODULES}


@pytest.mark.parametrize("name", [n for n in MODULES if layer_of(n) is not None])
def test_a_layer_imports_only_the_layers_below_it(name):
    upward = [
        imported
        for imported in GRAPH[name]
        if (layer := layer_of(imported)) is not None and layer > layer_of(name)
    ]
    assert upward == [], f"{name} imports a higher layer"


def test_only_the_virt_package_imports_libvirt():
    importers = sorted(
        n for n, imports in GRAPH.items() if any(i.startswith("libvirt") for i in imports)
    )
    assert importers and all(n.startswith("vmm.virt.") for n in importers), importers


def test_no_import_cycles():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for imported in sorted(RUNTIME.get(name, ())):
            if imported not in MODULES or imported == name or _is_parent(imported, name):
                continue
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[name] = 2

    for name in MODULES:
        if name not in state:
            visit(name, [name])
    assert cycles == []


def _is_parent(package: str, module: str) -> bool:
    """Importing a submodule runs its package's __init__: that is no cycle of the design."""
    return module.startswith(package + ".")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_past_the_size_budget(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= SIZE_BUDGET, f"{name} has {lines} lines"


def test_the_checks_see_what_they_check():
    """The graph is real: a known downward import, and the four layers, are all found."""
    assert "vmm.model.metadata" in GRAPH["vmm.virt.host"]
    assert "vmm.virt.host" in GRAPH["vmm.virt.vm"]  # under TYPE_CHECKING: a layer rule sees it
    assert "vmm.virt.host" not in RUNTIME["vmm.virt.vm"]
    assert {layer_of(n) for n in MODULES} >= {0, 1, 2, 3}
