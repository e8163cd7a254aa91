"""One atomic file writer per package side: ``attestations.files.write_atomic`` for attestations/ and verifier/,
``hw.transcript.write_atomic`` for hw/ (which imports nothing of attestations/).

The history's witness and two commands each had their own temp-file-then-rename writer; a copy drifts (one of them
left its temporary file behind on a failed write). The test reads the sources, it runs nothing.
"""

from __future__ import annotations

import ast

from tests.security.syntax import REPO, dotted, sources

#: Calls that create a temporary file or move one over another.
REPLACING_CALLS = {"os.replace", "os.rename", "tempfile.mkstemp", "tempfile.NamedTemporaryFile", "shutil.move"}

#: Where such a call is the design, and why.
ALLOWED = {
    ("attestations/files.py", "os.replace"),  # the writer of the attestations and verifier side
    ("hw/transcript.py", "tempfile.mkstemp"),  # the writer of the hw side
    ("hw/transcript.py", "os.replace"),
    ("verifier/workflows/release.py", "os.replace"),  # a whole staged release directory swapped into place
    ("verifier/output/report_set.py", "os.rename"),  # a whole staged report set swapped into place
    ("verifier/workflows/history.py", "tempfile.mkstemp"),  # the head key: linked into place, never replaced
}


def replacing_calls() -> set[tuple[str, str]]:
    found = set()
    for path, tree in sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = dotted(node.func)
            if name in REPLACING_CALLS:
                found.add((path.relative_to(REPO).as_posix(), name))
            elif isinstance(node.func, ast.Attribute) and node.func.attr in {"replace", "rename"} \
                    and len(node.args) == 1 and not node.keywords:  # Path.replace / Path.rename (str.replace takes 2)
                found.add((path.relative_to(REPO).as_posix(), f"Path.{node.func.attr}"))
    return found


def test_history_witness_and_commands_write_through_the_one_atomic_writer() -> None:
    found = replacing_calls()
    assert found - ALLOWED == set(), "write through attestations.files.write_atomic (hw: hw.transcript.write_atomic)"
    assert ALLOWED - found == set(), "remove these entries: the call is gone"
