"""The formatter and the linter (ruff, configured in pyproject.toml) agree with the tree."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args):
    exe = shutil.which("ruff") or pytest.fail("ruff is not installed (it is in the [test] extra)")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_code_is_formatted():
    out = _ruff("format", "--check", "--diff", ".")
    assert out.returncode == 0, "run `ruff format .`:\n" + out.stdout[-6000:] + out.stderr[-2000:]


def test_linter_finds_nothing():
    out = _ruff("check", "--output-format", "concise", ".")
    assert out.returncode == 0, "run `ruff check .`:\n" + out.stdout[-6000:] + out.stderr[-2000:]


def test_ruff_sees_the_configuration():
    # A tree whose config ruff did not read would pass both checks at ruff's defaults.
    out = _ruff("check", "--show-settings", "dasksgd/__init__.py")
    assert out.returncode == 0 and "line_length = 100" in out.stdout, out.stdout[-2000:]
