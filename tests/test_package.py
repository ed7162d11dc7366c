"""Habits of a maintained package: a clean ``ruff check`` and ``gaptools --version``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import gaptools
from gaptools.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    """The rules of ``[tool.ruff]`` in pyproject.toml, on every Python file of the repository."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_version_flag_prints_the_package_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"gaptools {gaptools.__version__}\n"
    assert importlib.metadata.version("gaptools") == gaptools.__version__  # what pip recorded


def test_version_flag_through_the_console_entry_point():
    done = subprocess.run([sys.executable, "-m", "gaptools.cli.main", "--version"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"gaptools {gaptools.__version__}", done.stderr
