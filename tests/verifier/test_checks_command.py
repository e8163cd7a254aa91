"""`provcheck checks` prints the catalogue (text and JSON), and SARIF rules describe checks from it."""

from __future__ import annotations

import json

import jsonschema

from tests.firmware.test_output import SCHEMA
from tests.helpers import assert_clean_error, run_cli
from verifier.checks.catalogue import CATALOGUE
from verifier.model import Report, failed, passed
from verifier.output.sarif import SarifRenderer


def test_checks_lists_every_catalogued_id_as_aligned_text() -> None:
    result = run_cli(["checks"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = lines[: len(CATALOGUE)]
    assert [row.split()[0] for row in rows] == sorted(CATALOGUE)
    starts = {row.index(CATALOGUE[row.split()[0]].summary) for row in rows}
    assert len(starts) == 1  # every summary starts in the same column
    # a newcomer finds the judge of any id from the list alone
    assert all(row.split()[1] == CATALOGUE[row.split()[0]].judge for row in rows)
    assert f"{len(CATALOGUE)} checks" in lines[-1]


def test_checks_json_carries_summary_anchor_and_judge() -> None:
    result = run_cli(["checks", "--format", "json"])
    assert result.returncode == 0, result.stderr
    listed = {item["id"]: item for item in json.loads(result.stdout)}
    assert set(listed) == set(CATALOGUE)
    diff = listed["firmware.diff.functions"]
    assert diff["anchor"] == "docs/checks.md#firmware.diff.functions"
    assert diff["judge"] == "verifier.checks.firmware_diff" and diff["family"] == "firmware.diff.{category}"
    assert listed["tpm.quote.nonce"]["summary"] == CATALOGUE["tpm.quote.nonce"].summary


def test_checks_filters_by_glob_and_a_glob_matching_nothing_is_exit_2() -> None:
    result = run_cli(["checks", "supply.*", "--format", "json"])
    assert result.returncode == 0, result.stderr
    assert {item["id"] for item in json.loads(result.stdout)} == {c for c in CATALOGUE if c.startswith("supply.")}
    bad = run_cli(["checks", "supply.\x1b[31mx"])
    assert_clean_error(bad, 2)
    assert "\x1b" not in bad.stderr


def test_sarif_rules_take_description_and_help_uri_from_the_catalogue() -> None:
    """SARIF rules once said only "provcheck check <id>", with no link to what the check means."""
    report = Report("t", (failed("firmware.hidden-function", "one hidden"), passed("hw.model", "ok"),
                          passed("made.up\x1b", "read back from a report")))
    document = json.loads(SarifRenderer().render(report))
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    rules = {rule["id"]: rule for rule in document["runs"][0]["tool"]["driver"]["rules"]}
    hidden = rules["firmware.hidden-function"]
    assert hidden["shortDescription"]["text"] == CATALOGUE["firmware.hidden-function"].summary
    assert hidden["helpUri"].endswith("docs/checks.md#firmware.hidden-function")
    assert "helpUri" not in rules["made.up\x1b"] and "\x1b" not in rules["made.up\x1b"]["shortDescription"]["text"]
