"""Sphinx configuration of the gaptools documentation (``sphinx-build -W docs docs/_build/html``).

Sphinx with numpydoc, the PyData theme and sphinx-gallery, the convention of scikit-learn
and POT: the API reference is generated from the numpydoc docstrings, the user guide is
MyST Markdown, and the gallery scripts in ``docs/examples/`` run at every build, so their
figures are drawn from the code as it is. Nothing is fetched from the network.
"""

from __future__ import annotations

import os

import gaptools

# the examples stay on one BLAS/OpenMP thread and keep POT from importing torch, as the CLI does
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

project = "gaptools"
author = "the gaptools developers"
copyright = "the gaptools developers"
release = version = gaptools.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

# --- MyST: GitHub-flavoured tables and anchors for the headings of each page
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# --- API reference: one page per public name, from its numpydoc docstring
autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# --- gallery: every docs/examples/plot_*.py runs at build time and its figures are saved
sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "show_memory": False,
    "write_computation_times": False,  # its page loads scripts from a CDN
    "line_numbers": False,
    "capture_repr": ("_repr_html_", "__repr__"),
    "image_scrapers": ("matplotlib",),
    "reference_url": {"gaptools": None},
}

# --- HTML: the PyData theme, no remote assets
html_theme = "pydata_sphinx_theme"
html_title = f"gaptools {version}"
html_static_path = []
# the gallery's pages need the width for code and figures more than a list of their siblings
html_sidebars = {"auto_examples/*": []}
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False
