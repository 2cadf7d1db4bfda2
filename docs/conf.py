"""Sphinx configuration of the dasksgd documentation.

Build: ``pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html``. The gallery
is made by running ``examples/``; warnings (a bad cross-reference, a failing example) fail the
build, in CI too (``tests/test_docs.py``).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import dasksgd  # noqa: E402

project = "dasksgd"
author = "the dasksgd developers"
copyright = "2026, the dasksgd developers"
version = release = dasksgd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from _static: formulas render without a network
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # the Markdown pages (also read on the repository's web view)
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "auto_examples/*.py",
    "auto_examples/*.ipynb",
    "auto_examples/*.md5",
    "auto_examples/*.zip",
    "auto_examples/*.json",
]
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing"]  # links into ../benchmarks and the code stay plain links

autosummary_generate = True

numpydoc_show_class_members = False
numpydoc_validation_checks = {
    "all",
    "GL01",
    "GL02",
    "ES01",
    "SA01",
    "EX01",
    "SS05",
    "RT02",
    "PR08",
    "PR09",
    "GL06",
}
numpydoc_validation_exclude = {
    r"\.__init__$",
    r"\.set_.*_request$",
    r"\.get_metadata_routing$",
    r"\.__sklearn_tags__$",
}
# Names numpydoc writes as types; they are not cross-references to check.
numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
    "write_computation_times": False,  # a generated page that would rewrite a tracked file
}

html_theme = "pydata_sphinx_theme"
html_title = "dasksgd"
html_static_path = ["_static"]
templates_path = ["_templates"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
