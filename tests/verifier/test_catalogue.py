"""The check catalogue is exhaustive both ways, pip-audit style.

Static: every check id the source can emit (a literal or f-string passed as the check of a finding,
or any string shaped like a catalogued id) is catalogued, and every catalogued id still occurs in
the module named as its judge. Dynamic: tests/conftest.py reads back every report the test suite
wrote and fails the session on an uncatalogued id (tests/emitted_checks.py).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from tests.emitted_checks import check_ids_in, emitted_under, uncatalogued
from tests.helpers import REPO
from verifier.checks import catalogue
from verifier.checks.catalogue import CATALOGUE, FAMILIES
from verifier.model import Report, failed, passed

SOURCES = ("verifier", "attestations", "hw")
#: verifier.model's constructors of findings; any module's own function whose first parameter is `check`
#: (such as intake's `_guard`) counts too, where that module calls it.
_MAKERS = frozenset({"Finding", "passed", "failed", "warned", "skipped", "errored"})
#: Strings shaped like a check id that are not one, and why.
_NOT_CHECK_IDS = {
    "tpm.pcrs": "the name of a fact in strength notes (verifier.checks.device), not a finding's check",
    "history.sqlite3": "a file name",
    "policy.toml": "a file name",
}
_NAMESPACES = frozenset(i.split(".")[0] for i in CATALOGUE if "." in i)
_ID_SHAPE = re.compile(rf"^(?:{'|'.join(sorted(_NAMESPACES))})(?:\.[a-z0-9-]+)+$")


@cache
def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(), str(p)) for root in SOURCES for p in sorted((REPO / root).rglob("*.py"))}


def _local_makers(tree: ast.Module) -> frozenset[str]:
    """The module's own functions that take the check id as their first parameter."""
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.args.args and node.args.args[0].arg == "check"
    )


def _template(node: ast.JoinedStr) -> str:
    """An f-string as a family template: "firmware.diff.{category}" becomes "firmware.diff.{}"."""
    return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)


def _normal(family: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", family)


def _check_arguments() -> Iterator[tuple[Path, int, ast.expr]]:
    for path, tree in _trees().items():
        local = _local_makers(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                is_maker = func.id in _MAKERS or func.id in local
            else:
                is_maker = isinstance(func, ast.Attribute) and func.attr in _MAKERS
            if not is_maker:
                continue
            argument = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "check"), None)
            if argument is not None:
                yield path, node.lineno, argument


def _string_constants(path: Path) -> Iterator[str]:
    for node in ast.walk(_trees()[path]):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def _module_file(module: str) -> Path:
    return REPO / (module.replace(".", "/") + ".py")


def test_every_check_id_passed_to_a_finding_is_catalogued() -> None:
    families = {_normal(f) for f in FAMILIES}
    missing = []
    for path, line, argument in _check_arguments():
        where = f"{path.relative_to(REPO)}:{line}"
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            if argument.value not in CATALOGUE:
                missing.append(f"{argument.value} ({where})")
        elif isinstance(argument, ast.JoinedStr) and _template(argument) not in families:
            missing.append(f"the family {_template(argument)} ({where})")
    assert not missing, "add to verifier/checks/catalogue.py: " + ", ".join(missing)


def test_every_string_shaped_like_a_check_id_is_catalogued() -> None:
    """Ids passed through a variable (a table of checks, a helper's parameter) are caught by their shape."""
    missing = sorted(
        f"{value} ({path.relative_to(REPO)})"
        for path in _trees()
        if path.is_relative_to(REPO / "verifier")
        for value in _string_constants(path)
        if _ID_SHAPE.match(value) and value not in CATALOGUE and value not in _NOT_CHECK_IDS
    )
    assert not missing, "add to verifier/checks/catalogue.py (or to _NOT_CHECK_IDS, saying why): " + ", ".join(missing)


def test_every_catalogued_id_occurs_in_the_module_of_its_judge() -> None:
    stale = []
    for check in CATALOGUE.values():
        path = _module_file(check.judge)
        if not path.is_file():
            stale.append(f"{check.id}: no module {check.judge}")
        elif check.family is not None:
            templates = {_template(n) for n in ast.walk(_trees()[path]) if isinstance(n, ast.JoinedStr)}
            if _normal(check.family) not in templates:
                stale.append(f"{check.id}: {check.judge} builds no {check.family}")
        elif check.id not in set(_string_constants(path)):
            stale.append(f"{check.id}: not in {check.judge}")
    assert not stale, "; ".join(stale)


def test_the_diff_family_lists_every_category_the_diff_compares() -> None:
    from verifier.checks.firmware_diff import _categories

    image = {"format": "elf", "modules": [], "embedded": []}
    family = "firmware.diff.{category}"
    members = {c.id.removeprefix("firmware.diff.") for c in CATALOGUE.values() if c.family == family}
    assert set(_categories(image, image)) == members


def test_the_sigstore_family_lists_every_stage_a_bundle_can_fail_at() -> None:
    """Stages are the ``stage=`` of every BundleVerificationError raised, and what ``_stage_of`` can return."""
    stages: set[str] = set()
    for tree in (t for p, t in _trees().items() if p.is_relative_to(REPO / "attestations")):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == (
                "BundleVerificationError"
            ):
                stages |= {
                    k.value.value for k in node.keywords if k.arg == "stage" and isinstance(k.value, ast.Constant)
                }
            if isinstance(node, ast.FunctionDef) and node.name == "_stage_of":
                stages |= {
                    e.elts[1].value
                    for e in ast.walk(node)
                    if isinstance(e, ast.Tuple) and len(e.elts) == 2 and isinstance(e.elts[1], ast.Constant)
                }
                stages |= {r.value.value for r in ast.walk(node) if isinstance(r, ast.Return)
                           and isinstance(r.value, ast.Constant)}
    family = "attest.sigstore.{stage}"
    members = {c.id.removeprefix("attest.sigstore.") for c in CATALOGUE.values() if c.family == family}
    assert stages and stages <= members, sorted(stages - members)


def test_each_check_has_a_summary_and_an_anchor_in_docs_checks_md() -> None:
    text = (REPO / "docs" / "checks.md").read_text()
    for check in CATALOGUE.values():
        assert check.summary.endswith(".") and "\n" not in check.summary, check.id
        assert check.anchor == f"docs/checks.md#{check.id}"
        assert f'<a id="{check.id}"></a>' in text, f"docs/checks.md has no anchor for {check.id}"


def test_docs_checks_md_is_the_generated_catalogue() -> None:
    """docs/checks.md is written by `provcheck checks --format markdown`; regenerate it when this fails."""
    from verifier.commands.checks import markdown

    assert (REPO / "docs" / "checks.md").read_text() == markdown()


def test_patterns_match_and_nearest_names_a_catalogued_id() -> None:
    assert "firmware.hidden-function" in catalogue.matching("firmware.hidden-*", within="firmware.")
    assert catalogue.matching("firmware.hiden-*") == ()
    assert catalogue.nearest("firmware.hiden-*", within="firmware.") == "firmware.hidden-function"


def test_emitted_ids_are_read_from_reports_and_sarif(tmp_path: Path) -> None:
    """The session-end audit's reader, on the two shapes provcheck writes."""
    from verifier.output.sarif import SarifRenderer

    report = Report("t", (passed("hw.model", "ok"), failed("firmware.not-a-check", "made up for this test")))
    (tmp_path / "report.json").write_text(json.dumps(report.to_json()))
    (tmp_path / "report.sarif").write_text(SarifRenderer().render(report))
    (tmp_path / "broken.json").write_text("{not json")
    found = emitted_under(tmp_path)
    assert set(found) == {"hw.model", "firmware.not-a-check"}
    assert set(uncatalogued(found)) == {"firmware.not-a-check"}
    assert set(check_ids_in(json.loads((tmp_path / "report.sarif").read_text()))) == set(found)
    for path in tmp_path.iterdir():  # the made-up id must not fail this session's own audit
        path.unlink()


def test_ids_are_lowercase_dotted_names() -> None:
    assert [c for c in CATALOGUE if not re.fullmatch(r"[a-z]+(\.[a-z0-9-]+)*", c)] == []
