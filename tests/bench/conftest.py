"""What the bench tests share: loading a script of ``bench/`` (not a package) as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def load_bench():
    """A loader: ``load_bench(name)`` is the module ``bench/<name>.py``, executed fresh."""
    return _load


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
