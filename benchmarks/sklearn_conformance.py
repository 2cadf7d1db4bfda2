"""scikit-learn's own SGD test suite, run against dasksgd's estimators (issue 16).

Runs the installed ``sklearn/linear_model/tests/test_sgd.py`` with
``benchmarks/sklearn_sgd_plugin.py`` (which rebinds scikit-learn's SGDClassifier and
SGDRegressor to dasksgd's; nothing of the test file is copied), dasksgd's defaults, and writes
the counts and every failure with its first line to ``results/sklearn_conformance.md``. Tests
of ``SGDOneClassSVM`` (scikit-learn's own estimator, which dasksgd does not have) are counted
apart. ``docs/user_guide.rst`` lists the expected differences.

    python benchmarks/sklearn_conformance.py
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import sklearn
from common import write_table

HERE = pathlib.Path(__file__).resolve().parent


def main() -> None:
    suite = pathlib.Path(sklearn.__file__).parent / "linear_model" / "tests" / "test_sgd.py"
    with tempfile.TemporaryDirectory() as tmp:
        # An empty configuration: this project's (strict markers) is not scikit-learn's.
        ini = pathlib.Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\naddopts =\n")
        junit = pathlib.Path(tmp) / "junit.xml"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
        subprocess.run(
            [sys.executable, "-m", "pytest", str(suite), "-c", str(ini), "--rootdir", tmp,
             "-p", "sklearn_sgd_plugin", "-p", "no:randomly", "-q",
             f"--junitxml={junit}"],
            env=env, cwd=tmp, check=False, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        cases = list(ET.parse(junit).getroot().iter("testcase"))
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    one_class, failures = 0, []
    for case in cases:
        name = case.get("name")
        if "OneClass" in name or "one_class" in name.lower() or "ocsvm" in name.lower():
            one_class += 1
            continue
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            counts["failed"] += 1
            first = (bad.get("message") or "").strip().splitlines()
            failures.append((name, first[0][:120] if first else ""))
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    text = (
        f"scikit-learn {sklearn.__version__}'s test_sgd.py against dasksgd's SGDClassifier and "
        f"SGDRegressor (defaults): {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped; {one_class} tests of SGDOneClassSVM (scikit-learn's, "
        "not dasksgd's) not counted.\n\n| failing test | first line |\n|---|---|\n"
        + "\n".join(f"| `{n}` | {m.replace('|', '/')} |" for n, m in failures)
    )
    write_table("sklearn_conformance", text)


if __name__ == "__main__":
    main()
