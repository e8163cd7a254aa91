"""The security review's findings, kept as tests so that none of them comes back.

Each test reads the package sources as syntax trees; none runs them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from tests.security.syntax import PACKAGES, REPO, dotted, sources, where

SUBPROCESS_RUNNERS = {"run", "call", "check_call", "check_output"}


def calls(tree: ast.Module) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_no_shell_true() -> None:
    offenders = [
        where(path, call)
        for path, tree in sources()
        for call in calls(tree)
        for keyword in call.keywords
        if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False)
    ]
    assert offenders == []


def test_no_eval_exec_or_os_shell() -> None:
    banned = {"eval", "exec", "os.system", "os.popen", "compile"}
    offenders = [where(path, call) for path, tree in sources() for call in calls(tree) if dotted(call.func) in banned]
    assert offenders == []


def test_no_pickle_or_unsafe_yaml_or_marshal() -> None:
    offenders = []
    for path, tree in sources():
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in {"pickle", "cPickle", "marshal", "shelve", "dill"} for n in names):
                offenders.append(where(path, node))
        for call in calls(tree):
            if dotted(call.func) in {"yaml.load", "yaml.unsafe_load"}:
                offenders.append(where(path, call))
    assert offenders == []


def test_every_subprocess_run_has_a_timeout() -> None:
    offenders = []
    for path, tree in sources():
        for call in calls(tree):
            name = dotted(call.func)
            is_runner = name.startswith("subprocess.") and name.split(".")[-1] in SUBPROCESS_RUNNERS
            if is_runner and not any(k.arg == "timeout" for k in call.keywords):
                offenders.append(where(path, call))
    assert offenders == []


def test_temporary_files_are_made_private() -> None:
    """mkstemp/mkdtemp/NamedTemporaryFile create 0600/0700 entries; fixed names under /tmp could be raced."""
    offenders = []
    for path, tree in sources():
        lines = path.read_text().splitlines()
        for node in ast.walk(tree):
            is_tmp = isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/tmp/")
            # A path on the device under test (typed into its shell) is not a file on this host.
            if is_tmp and "noqa: S108" not in lines[node.lineno - 1]:
                offenders.append(where(path, node))
        for call in calls(tree):
            if dotted(call.func) in {"tempfile.mktemp", "mktemp"}:
                offenders.append(where(path, call))
    assert offenders == []


@pytest.mark.parametrize("package", PACKAGES)
def test_facts_packages_do_not_import_the_verifier(package: str) -> None:
    if package == "verifier":
        pytest.skip("the verifier may import everything")
    other = {"attestations": "hw", "hw": "attestations"}[package]
    offenders = []
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            module = ""
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            if module.split(".")[0] in {"verifier", other}:
                offenders.append(where(path, node))
    assert offenders == []
