"""Without the shared vectors next to the clone (a user who clones the repository alone), ``bash tests/run.sh``
failed: the sigstore_bundle fuzz smoke test had no seeds (and the layout harness none either).

Each check runs in a child process with ``PROVCHECK_VECTORS`` pointing at a folder that does not exist, as in a
fresh clone: every harness has seeds, the generated ones survive a short fuzz run, and the tests that need the
vectors skip with the one reason of the ``vectors`` fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

FUZZ = REPO / "fuzz"


def _without_vectors(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "PROVCHECK_VECTORS": str(tmp_path / "no-vectors-here")}
    env["PYTHONPATH"] = os.pathsep.join([str(FUZZ), str(REPO), os.environ.get("PYTHONPATH", "")])
    return env


def test_every_fuzz_harness_has_seeds_without_the_vectors(tmp_path: Path) -> None:
    code = (
        "import json, sys, tempfile, pathlib, run\n"
        "counts = {}\n"
        "for h in run.HARNESSES:\n"
        "    with tempfile.TemporaryDirectory() as tmp:\n"
        "        into = pathlib.Path(tmp) / 'corpus'; into.mkdir()\n"
        "        counts[h.name] = run.build_corpus(h, into)\n"
        "print(json.dumps(counts))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env=_without_vectors(tmp_path), cwd=FUZZ)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["sigstore_bundle"] >= 4 and counts["layout"] >= 4, counts
    assert counts["corim"] >= 4, counts
    assert all(count > 0 for count in counts.values()), counts


@pytest.mark.parametrize("name", ["sigstore_bundle", "layout", "corim", "secureboot"])
def test_generated_seeds_survive_a_short_fuzz_run(name: str, tmp_path: Path) -> None:
    crashes = tmp_path / "crashes"
    proc = subprocess.run(
        [sys.executable, str(FUZZ / "run.py"), "--runs", "300", "--only", name, "--crash-dir", str(crashes)],
        capture_output=True, text=True, timeout=900, env=_without_vectors(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " ok" in proc.stdout and not list(crashes.glob("*")), proc.stdout


def test_vector_tests_skip_with_one_reason(tmp_path: Path) -> None:
    files = ["tests/attestations/test_sigstore_bundle.py", "tests/attestations/test_attest_verify_vectors.py",
             "tests/attestations/test_layout.py", "tests/attestations/test_corim_vectors.py"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *files],
        capture_output=True, text=True, timeout=900, env=_without_vectors(tmp_path), cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    skips = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips, proc.stdout[-3000:]
    assert all("public vectors not found at" in line for line in skips), skips
