"""The documentation: numpydoc validation of the public API, and the Sphinx site (with the
gallery made by running examples/) built with warnings as errors."""

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Checks not enforced (the same list as docs/conf.py): summary layout details, "See Also" and
#: "Examples" sections, and punctuation of parameter descriptions.
IGNORED = {"GL01", "GL02", "ES01", "SA01", "EX01", "SS05", "RT02", "PR08", "PR09", "GL06"}

PUBLIC = (
    [
        "dasksgd.SGDClassifier",
        "dasksgd.SGDRegressor",
        "dasksgd.gradient_diversity",
        "dasksgd.datasets.make_classification",
        "dasksgd.datasets.make_regression",
        "dasksgd.cli.main",
    ]
    + [
        f"dasksgd.SGDClassifier.{m}"
        for m in (
            "fit",
            "partial_fit",
            "predict",
            "predict_proba",
            "predict_log_proba",
            "decision_function",
            "score",
            "sparsify",
            "densify",
        )
    ]
    + [
        f"dasksgd.SGDRegressor.{m}"
        for m in ("fit", "partial_fit", "predict", "score", "sparsify", "densify")
    ]
)


def test_public_names_are_documented():
    import dasksgd

    assert set(dasksgd.__all__) == {
        "SGDClassifier",
        "SGDRegressor",
        "gradient_diversity",
        "__version__",
    }
    listed = {p.split(".")[1] for p in PUBLIC if p.count(".") == 1}
    assert listed == set(dasksgd.__all__) - {"__version__"}


@pytest.mark.parametrize("name", PUBLIC)
def test_numpydoc_validation(name):
    validate = pytest.importorskip("numpydoc.validate").validate
    importlib.import_module("dasksgd.linear_model")
    errors = [f"{code}: {msg}" for code, msg in validate(name)["errors"] if code not in IGNORED]
    assert not errors, f"{name}:\n" + "\n".join(errors)


@pytest.mark.slow
def test_sphinx_site_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("pydata_sphinx_theme")
    env = dict(os.environ, MPLBACKEND="Agg")
    before = _tracked_changes()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(ROOT / "docs"),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-8000:]
    html = tmp_path / "html"
    # The build writes only ignored files (sphinx-gallery's execution times page was tracked).
    assert _tracked_changes() == before
    _check_api_pages(html)
    _check_offline(html)
    for page in (
        "index.html",
        "user_guide.html",
        "api.html",
        "cluster.html",
        "tools.html",
        "gpu.html",
        "auto_examples/index.html",
        "generated/dasksgd.SGDClassifier.html",
    ):
        assert (html / page).exists(), page
    gallery = (html / "auto_examples" / "index.html").read_text()
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    assert examples and all(e in gallery for e in examples)
    # Every example ran and made its figure.
    assert len(list((html / "_images").glob("sphx_glr_plot_*_001.png"))) >= len(examples)


def _tracked_changes() -> str | None:
    """``git status`` of the checkout, untracked files included (None outside a checkout)."""
    out = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


def _public_methods(cls) -> list[str]:
    """What a user calls on an estimator (scikit-learn's metadata-routing setters aside)."""
    return sorted(
        m
        for m in dir(cls)
        if not m.startswith("_")
        and callable(getattr(cls, m, None))
        and not m.endswith("_request")
        and m != "get_metadata_routing"
    )


def _check_api_pages(html: Path) -> None:
    """Every public method of the estimators has its entry on the class's page (under Sphinx 9,
    autodoc's default options had dropped them all)."""
    import re

    import dasksgd

    for name in ("SGDClassifier", "SGDRegressor"):
        page = (html / "generated" / f"dasksgd.{name}.html").read_text()
        shown = set(re.findall(rf'id="dasksgd\.{name}\.(\w+)"', page))
        methods = _public_methods(getattr(dasksgd, name))
        assert {"fit", "partial_fit", "predict", "score"} <= set(methods)
        assert set(methods) <= shown, f"{name}: not documented: {set(methods) - shown}"


def _check_offline(html: Path) -> None:
    """No page loads a script from another site (MathJax came from a CDN: raw LaTeX offline),
    and a real browser typesets the user guide's formulas from the site's own files."""
    import re

    for page in html.rglob("*.html"):
        remote = re.findall(r'<script[^>]*\bsrc="((?:https?:)?//[^"]*)"', page.read_text())
        assert not remote, f"{page.relative_to(html)} loads {remote}"
    chromium = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
    )
    if chromium is None:
        assert not os.environ.get("DASKSGD_REQUIRE_CHROMIUM"), "Chromium is required here"
        return
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--virtual-time-budget=8000", "--dump-dom", (html / "user_guide.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert dom.count("<mjx-container") >= 10, "the user guide's formulas were not typeset"


def _python_blocks(page: Path) -> list[str]:
    """The Python snippets of a Markdown (```python) or reStructuredText (``.. code-block::
    python``) page, as a reader would paste them into a file."""
    import re
    import textwrap

    text = page.read_text()
    if page.suffix == ".md":
        return re.findall(r"```python\n(.*?)```", text, re.S)
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", text)
    return [textwrap.dedent(b) for b in blocks]


#: Every page with Python snippets; each snippet runs as a script (the README's quick start,
#: pasted into a file, once failed: a LocalCluster of processes started at import time).
SNIPPET_PAGES = [
    "README.md",
    "docs/index.rst",
    "docs/getting_started.rst",
    "docs/cluster.rst",
    "docs/user_guide.rst",
    "docs/architecture.md",
    "docs/gpu.md",
]


def test_every_page_with_python_snippets_is_run():
    pages = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.rst")),
        *sorted((ROOT / "docs").glob("*.md")),
    ]
    with_snippets = {str(p.relative_to(ROOT)) for p in pages if _python_blocks(p)}
    assert with_snippets == set(SNIPPET_PAGES)


@pytest.mark.slow
@pytest.mark.parametrize("page", SNIPPET_PAGES)
def test_snippets_run_as_scripts(page, tmp_path):
    import importlib.util
    import re

    blocks = _python_blocks(ROOT / page)
    assert blocks, f"{page} has no python snippet"
    ran = 0
    for k, code in enumerate(blocks):
        # A snippet for a GPU machine runs where its packages are (the gpu extra, dask-cuda).
        needs = {m for m in re.findall(r"^\s*(?:import|from) (\w+)", code, re.M)}
        missing = sorted(m for m in needs if importlib.util.find_spec(m) is None)
        if missing:
            assert set(missing) <= {"cupy", "dask_cuda"}, f"{page}, snippet {k + 1}: {missing}"
            continue
        script = tmp_path / f"snippet_{k}.py"
        script.write_text(code)
        out = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert out.returncode == 0, f"{page}, snippet {k + 1}:\n{out.stderr[-4000:]}"
        ran += 1
    if not ran:
        pytest.skip(f"{page}: its snippets need cupy and dask-cuda (a GPU machine)")
