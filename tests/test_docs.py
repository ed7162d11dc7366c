"""The documentation cannot rot: the public API's examples run, the site builds with warnings as
errors (the gallery scripts run and their figures land in the pages), and the README's Python
example runs as printed."""

from __future__ import annotations

import doctest
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gaptools

ROOT = Path(__file__).resolve().parents[1]
#: Public names that are data, not callables (documented in docs/api.rst, no docstring of their own).
DATA_NAMES = {"__version__", "ALIGNERS", "METRIC_KEYS", "demo"}
PUBLIC = sorted(set(gaptools.__all__) - DATA_NAMES)
GALLERY = sorted(p.stem for p in (ROOT / "docs" / "examples").glob("plot_*.py"))


def _examples(name: str) -> list[doctest.DocTest]:
    """The doctests of one public name's own docstring (a class's, not its methods')."""
    return doctest.DocTestFinder(recurse=False).find(getattr(gaptools, name), f"gaptools.{name}",
                                                     globs={}, module=False)


def test_every_public_name_is_documented_with_an_example():
    missing = [name for name in PUBLIC if not any(t.examples for t in _examples(name))]
    no_section = [name for name in PUBLIC if "Examples\n" not in inspect.cleandoc(getattr(gaptools, name).__doc__ or "")]
    assert not missing and not no_section, f"no runnable Examples section: {sorted(set(missing + no_section))}"


def test_every_public_name_is_in_the_api_reference():
    reference = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", reference, flags=re.M))
    assert set(PUBLIC) <= listed, f"missing from docs/api.rst: {sorted(set(PUBLIC) - listed)}"


@pytest.mark.parametrize("name", PUBLIC)
def test_public_example_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write their files (relative names) into an empty folder
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in _examples(name):
        runner.run(test, out=lambda text: pytest.fail(f"gaptools.{name}'s example:\n{text}", pytrace=False))
    assert runner.summarize(verbose=False).attempted > 0


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.M | re.S)


def test_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    blocks = _python_blocks(readme)
    assert len(blocks) == 1 and len(blocks[0].strip().splitlines()) <= 10, "one Python example of at most 10 lines"


def test_readme_python_example_runs_as_printed(tmp_path):
    (code,) = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "centroid_gap" in done.stdout  # the table it prints


def test_docs_front_page_example_is_the_readmes():
    """The docs' front page shows the README's example, so the test above covers both."""
    assert _python_blocks((ROOT / "docs" / "index.md").read_text(encoding="utf-8")) == \
        _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    """``sphinx-build -W``: API pages from the docstrings, user guide, gallery (its scripts run)."""
    html = tmp_path / "html"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
         str(ROOT / "docs"), str(html)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (done.stdout[-3000:] + done.stderr[-6000:])
    for page in ("index", "api", "contributing", "changelog", "user_guide/measure", "user_guide/safety",
                 "user_guide/results", "generated/gaptools.measure", "generated/gaptools.MeasureResult"):
        assert (html / f"{page}.html").is_file(), page
    for example in GALLERY:  # each gallery page shows the figure its script drew during the build
        page = (html / "auto_examples" / f"{example}.html").read_text(encoding="utf-8")
        figures = re.findall(rf'src="\.\./(_images/sphx_glr_{example}_\d+\.png)"', page)
        assert figures, f"{example}: no figure in its page"
        assert all((html / f).is_file() and (html / f).stat().st_size > 1000 for f in figures)
    assert len(GALLERY) >= 4
