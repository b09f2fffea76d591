"""The house's rules, checked from outside the code they govern.

What a process loads is checked in a fresh interpreter (`sys.executable -c`), so that the
modules this test process has loaded already hide nothing. Who may import whom is read from
the source with `ast` (no import at all): every `import` and `from` statement, also those
inside functions and under `if TYPE_CHECKING:`, since a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
import itertools
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import lxpy
from tests.conftest import MAIN_THEN_MODULES

PACKAGE = Path(__file__).resolve().parent.parent / "lxpy"

# What a running monitor has loaded: its module, the launcher it is forked from, what the
# launcher loads before it forks (spawn: init's child starts with it loaded), and what the
# monitor imports on the way (dnsmasq and the hosts file, for a container on a network).
MONITOR_MODULES = (
    "lxpy.runtime.monitor",
    "lxpy.runtime.launcher",
    "lxpy.runtime.spawn",
    "lxpy.net.dnsmasq",
    "lxpy.net.hostsfile",
)
# Too heavy for the short paths (`lxpy ls`, `lxpy --version`): each costs start-up time.
HEAVY = ("textual", "rich", "jinja2", "pyroute2", "psutil")
# What a face (the CLI, the TUI) may import from lxpy: the API, its errors and units, and its
# own package (not the other face: lxpy/__main__.py hands the TUI to the CLI for `lxpy tui`).
# Also `lxpy` itself, for `__version__`: the package alone, not what is below it.
FACES = ("lxpy.cli", "lxpy.tui")
# fleets: `lxpy up` and its kin, an orchestrator over the API as a face is; remote: the
# other hosts, whose lxpy a face calls as it calls the API.
FACE_MAY_IMPORT = ("lxpy.api", "lxpy.fleets", "lxpy.remote", "lxpy.errors", "lxpy.units")


def run_python(*args: str) -> str:
    """stdout of a fresh interpreter run with `args` (-c CODE ...); it must succeed."""
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- what a process loads ----------------------------------------------------------------------
def test_the_monitor_loads_only_the_standard_library() -> None:
    code = "import sys\nbefore = set(sys.modules)\n"
    code += "".join(f"import {name}\n" for name in MONITOR_MODULES)
    code += "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    loaded = run_python("-c", code).split()
    assert set(MONITOR_MODULES) <= set(loaded)
    tops = {m.split(".")[0] for m in loaded}
    foreign = sorted(tops - set(sys.stdlib_module_names) - {"lxpy"})
    assert not foreign, f"the monitor's imports load packages outside the stdlib: {foreign}"


@pytest.mark.parametrize("args", [["--version"], ["ls"], ["ls", "--format", "json"]])
def test_the_short_paths_stay_lean(args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "modules"
    root = tmp_path / "root"
    run_python("-c", MAIN_THEN_MODULES, str(out), "--root", str(root), *args)
    loaded = out.read_text().split()
    assert "lxpy.cli" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert not heavy, f"lxpy {' '.join(args)} loads {heavy}"
    # typing costs every command ~9 ms; difflib is for a mistyped command only; a command
    # loads its own module of the CLI and no other's.
    assert "typing" not in loaded and "difflib" not in loaded
    assert not {"lxpy.cli.lifecycle", "lxpy.cli.storage", "lxpy.cli.inside"} & set(loaded)


def test_the_core_never_imports_textual() -> None:
    core = [
        m.name
        for m in pkgutil.walk_packages(lxpy.__path__, "lxpy.")
        if not m.name.startswith("lxpy.tui") and m.name != "lxpy.__main__"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "print('textual' in sys.modules)\n"
    )
    assert len(core) > 30
    assert run_python("-c", code).strip() == "False"


# -- who imports whom (static) -----------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    """One lxpy module (or package) that a statement in a source file imports."""

    source: str  # the importing module, e.g. lxpy.tui.app
    path: str  # its file, from the repository's top
    line: int
    target: str  # e.g. lxpy.runtime.state

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """True if `name` (lxpy.x.y) is a module or package in the source tree."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> Iterator[Import]:
    """The lxpy modules `path` imports, anywhere in it; `from X import name` counts as
    importing X.name where that is a module, else X."""
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: this package, one level up per extra dot
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            targets = [
                f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base for a in node.names
            ]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target == "lxpy" or target.startswith("lxpy."):
                yield Import(source, str(path.relative_to(PACKAGE.parent)), node.lineno, target)


def all_imports() -> list[Import]:
    found = [i for path in PACKAGE.rglob("*.py") for i in imports_of(path)]
    return sorted(found, key=lambda i: (i.path, i.line))


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_faces_import_only_the_api_errors_and_units() -> None:
    faces = [i for i in all_imports() if within(i.source, FACES)]
    assert any(i.target == "lxpy.api" for i in faces)  # the walk found the faces
    reaching = [
        str(i)
        for i in faces
        if i.target != "lxpy" and not within(i.target, (*FACE_MAY_IMPORT, package_of(i.source)))
    ]
    assert not reaching, "the faces reach around the API:\n" + "\n".join(reaching)


def package_of(module: str) -> str:
    """The node of the package graph: lxpy's sub-package, or its top-level module, or lxpy."""
    return ".".join(module.split(".")[:2])


def cycle_in(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as its nodes (the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for following in sorted(edges.get(node, ())):
            found = visit(following, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(edges):
        found = visit(start, [])
        if found:
            return found
    return None


def test_the_packages_import_each_other_without_a_cycle() -> None:
    by_edge: dict[tuple[str, str], list[Import]] = {}
    for i in all_imports():
        edge = (package_of(i.source), package_of(i.target))
        if edge[0] != edge[1]:
            by_edge.setdefault(edge, []).append(i)
    edges: dict[str, set[str]] = {}
    for a, b in by_edge:
        edges.setdefault(a, set()).add(b)
    assert {"lxpy.runtime", "lxpy.net", "lxpy.linux", "lxpy.api"} <= set(edges)
    cycle = cycle_in(edges)
    if cycle:
        steps = [
            f"{a} -> {b}:" + "".join(f"\n    {i}" for i in by_edge[a, b])
            for a, b in itertools.pairwise(cycle)
        ]
        pytest.fail(f"import cycle {' -> '.join(cycle)}:\n" + "\n".join(steps))


# -- the README's layout table is the law -----------------------------------------------------
README = PACKAGE.parent / "README.md"


def declared_layers() -> dict[str, set[str]]:
    """The README's Layout table: each package (as a graph node) and the nodes it may
    import. "base" stands for the base row's packages; "everything below" for every node
    in the rows after its own."""
    text = README.read_text().split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| package") and "---" not in line
    ]

    def nodes(cell: str) -> list[str]:
        return ["lxpy." + n.removesuffix("/").removesuffix(".py") for n in cell.split("`")[1::2]]

    packages = [nodes(row[0]) for row in rows]
    base = next(p for row, p in zip(rows, packages, strict=True) if row[0].startswith("base"))
    declared: dict[str, set[str]] = {}
    for index, (row, own) in enumerate(zip(rows, packages, strict=True)):
        # The package itself holds __version__ alone: any layer may read it.
        allowed = set(nodes(row[2])) | {"lxpy"}
        if "base" in row[2]:
            allowed |= set(base)
        if "everything below" in row[2]:
            allowed |= {n for later in packages[index + 1 :] for n in later}
        for node in own:
            declared[node] = allowed - {node}
    return declared


def test_every_import_keeps_to_the_readmes_layout() -> None:
    declared = declared_layers()
    found = {package_of(module_name(path)) for path in PACKAGE.rglob("*.py")} - {"lxpy"}
    assert found <= set(declared), f"packages the README's Layout omits: {found - set(declared)}"
    breaking = [
        str(i)
        for i in all_imports()
        if package_of(i.source) != package_of(i.target)
        and package_of(i.target) not in declared.get(package_of(i.source), set())
    ]
    assert not breaking, "imports the README's Layout does not allow:\n" + "\n".join(breaking)
