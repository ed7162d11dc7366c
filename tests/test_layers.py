"""The layering rules of the README's Layout section, checked on the source's own imports.

core ``gaptools`` <- ``gaptools.caption`` / ``gaptools.reports`` <- application ``gaptools.reproduce`` <-
``gaptools.cli`` (the repository folders ``caption/``, ``reports/``, ``reproduce/``, ``cli/``): every import
statement (module level or inside a function) of every source file is walked with ``ast``, and the
bare names installed before one namespace (``import caption``) are refused everywhere.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
#: repository folder -> its installed package, as pyproject.toml maps the four application folders into gaptools
PACKAGE_DIR = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
PACKAGES = {"gaptools": "gaptools", **{folder: name for name, folder in PACKAGE_DIR.items()}}
LAYERS = tuple(name.removeprefix("gaptools.") for name in PACKAGE_DIR)
#: layer -> the layers it must never import
FORBIDDEN = {
    "gaptools": {"caption", "reports", "reproduce", "cli"},
    "caption": {"reports", "reproduce", "cli"},
    "reports": {"caption", "reproduce", "cli"},
    "reproduce": {"cli"},
    "cli": set(),
}
LIBRARIES = ("gaptools", "caption", "reports", "reproduce")  # library code prints nothing


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _module(path: Path) -> str:
    """The installed module name of a source file (``caption/train.py`` -> ``gaptools.caption.train``)."""
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    return ".".join([PACKAGES[folder], *rest])


def _layer(name: str) -> str | None:
    """The project layer an imported module belongs to; ``"bare"`` for the names installed before one namespace."""
    parts = name.split(".")
    if parts[0] in LAYERS:
        return "bare"
    if parts[0] != "gaptools":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "gaptools"


def _imported_packages(tree: ast.AST, module: str) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".")[: -node.level]
                names = [".".join([*base, node.module or ""])]
            else:
                names = [node.module or ""]
            if names == ["gaptools"]:  # `from gaptools import caption` imports the layer itself
                names = [f"gaptools.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {(layer, node.lineno) for layer in map(_layer, names) if layer}
    return found


def test_every_package_has_sources():
    assert all(_sources(p) for p in PACKAGES)
    assert set(LAYERS) == {"caption", "reports", "reproduce", "cli"}


def test_every_source_package_is_installed():
    """pyproject.toml lists its packages by hand (the finder does not follow package-dir): none may be missing."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    found = {_module(init.parent / "x.py").removesuffix(".x")
             for folder in PACKAGES for init in (ROOT / folder).rglob("__init__.py")}
    assert sorted(listed) == sorted(found)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package):
    bad = []
    for path in _sources(package):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad += [f"{path.relative_to(ROOT)}:{line} imports {layer}"
                for layer, line in _imported_packages(tree, _module(path)) if layer in FORBIDDEN[package] | {"bare"}]
    assert not bad, "\n".join(bad)


def test_the_walker_sees_imports_inside_functions_and_old_names():
    tree = ast.parse("def f():\n    from gaptools.caption.train import train\n    import gaptools.reports.build\n"
                     "    from gaptools import cli\n    from . import figures\n    import caption.train\n")
    assert {name for name, _ in _imported_packages(tree, "gaptools.reproduce.x")} == {
        "caption", "reports", "cli", "reproduce", "bare"}


@pytest.mark.parametrize("package", LIBRARIES)
def test_library_code_prints_nothing(package):
    bad = []
    for path in _sources(package):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id == "print" and isinstance(node.ctx, ast.Load):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} (print passed as a callback)")
    assert not bad, "\n".join(sorted(set(bad)))


def test_core_imports_without_torch():
    """``import gaptools, gaptools.measure, gaptools.align`` in an interpreter where torch cannot load."""
    code = ("import sys; sys.modules['torch'] = None\n"  # any `import torch` now raises ImportError
            "import gaptools, gaptools.measure, gaptools.align, gaptools.metrics, gaptools.io\n"
            "import gaptools.reports.inputs\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"POT_BACKEND_DISABLE_PYTORCH": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
