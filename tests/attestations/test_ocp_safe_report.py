"""The SFR model and the review judge on reports signed here over firmware built here: coverage (every digest a
report gives must be the file's), open issues against max_cvss, the review's age, and `review verify` end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from attestations.keys import load_public_keys
from attestations.ocp_safe.report import ReviewFormatError, ShortFormReport
from attestations.ocp_safe.review import SignedReview, read_review
from tests.attestations.sfr import Srp, digests, encode, issue, make_srp, payload
from tests.helpers import assert_clean_error, run_cli
from verifier.checks.reviews import FirmwareFile, ReviewLimits, check_age, check_coverage, check_issues, judge_review
from verifier.model import Status

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
FIRMWARE = bytes(range(256)) * 40 + b"firmware built by the test"
OTHER = FIRMWARE + b"\x00"


@pytest.fixture
def srp(tmp_path: Path) -> Srp:
    return make_srp(tmp_path, "Example Review Co")


def _signed(srp: Srp, body: dict[str, Any]) -> SignedReview:
    return read_review("report.jws", srp.sign(encode(body)).encode(), load_public_keys(srp.pub))


def _covers(srp: Srp, body: dict[str, Any], firmware: bytes = FIRMWARE) -> tuple[Status, str]:
    finding = check_coverage(_signed(srp, body), FirmwareFile("fw.bin", digests(firmware)))
    return finding.status, finding.message


# --- coverage ---------------------------------------------------------------------------------------------


def test_a_report_over_the_file_covers_it(srp: Srp) -> None:
    assert _covers(srp, payload(FIRMWARE))[0] is Status.PASS


def test_a_report_for_another_file_does_not(srp: Srp) -> None:
    status, message = _covers(srp, payload(OTHER))
    assert status is Status.FAIL and "not the reviewed image" in message


def test_upper_case_and_0x_prefixed_digests_are_the_same_digest(srp: Srp) -> None:
    """Hex is case-insensitive and the upstream sample writes "0x": a spelling, not another digest."""
    found = digests(FIRMWARE)
    upper = payload(FIRMWARE, sha384=found["sha384"].upper(), sha512="0X" + found["sha512"].upper())
    assert _covers(srp, upper)[0] is Status.PASS
    prefixed = payload(FIRMWARE, sha384="0x" + found["sha384"], sha512="0x" + found["sha512"])
    assert _covers(srp, prefixed)[0] is Status.PASS
    # ... and a respelled digest of another file still covers nothing else.
    other = digests(OTHER)
    assert _covers(srp, payload(None, sha384=other["sha384"].upper(), sha512="0x" + other["sha512"]))[0] is Status.FAIL


@pytest.mark.parametrize(
    "spelling",
    [lambda d: d + " ", lambda d: " " + d, lambda d: d[:40] + " " + d[40:], lambda d: d + "\n", lambda d: "0x " + d,
     lambda d: d[:-1], lambda d: d + "0", lambda d: d[:-1] + "g", lambda d: "sha384:" + d, lambda d: "00" + d],
)
def test_any_other_spelling_of_a_digest_is_bad_input_naming_the_field(srp: Srp, spelling: Any) -> None:
    body = payload(FIRMWARE, sha384=spelling(digests(FIRMWARE)["sha384"]))
    with pytest.raises(ReviewFormatError, match=r"device\.fw_hash_sha2_384"):
        _signed(srp, body)


def test_sha384_matching_and_sha512_not_covers_nothing(srp: Srp) -> None:
    """A report whose two digests name two different files covers neither: both given must both match."""
    mixed = payload(FIRMWARE, sha512=digests(OTHER)["sha512"])
    status, message = _covers(srp, mixed)
    assert status is Status.FAIL and "sha384 matches the report but its sha512 does not" in message
    status, _ = _covers(srp, mixed, OTHER)
    assert status is Status.FAIL
    reverse = payload(FIRMWARE, sha384=digests(OTHER)["sha384"])
    assert _covers(srp, reverse)[0] is Status.FAIL


def test_one_digest_given_is_enough_when_it_matches(srp: Srp) -> None:
    assert _covers(srp, payload(FIRMWARE, sha512=""))[0] is Status.PASS
    assert _covers(srp, payload(FIRMWARE, sha384=""))[0] is Status.PASS
    assert _covers(srp, payload(OTHER, sha384=""))[0] is Status.FAIL


def test_a_report_without_digests_covers_no_file(srp: Srp) -> None:
    empty = payload(None)
    for firmware in (FIRMWARE, b""):
        status, message = _covers(srp, empty, firmware)
        assert status is Status.FAIL and "covers no file" in message and "release_v1_2_3" in message
    nulls = payload(None)
    nulls["device"]["fw_hash_sha2_384"] = None
    del nulls["device"]["fw_hash_sha2_512"]
    assert _covers(srp, nulls, b"")[0] is Status.FAIL


def test_a_file_manifest_covers_the_files_it_lists(srp: Srp) -> None:
    body = payload(None, sha384="ab" * 48, sha512="cd" * 64)
    body["device"]["manifest"] = [{"file_name": "bin/fw.elf", "file_hash": digests(FIRMWARE)["sha512"]}]
    status, message = _covers(srp, body)
    assert status is Status.PASS and "bin/fw.elf" in message
    assert _covers(srp, body, OTHER)[0] is Status.FAIL


# --- issues and age ---------------------------------------------------------------------------------------


def test_each_open_issue_is_one_finding_naming_title_cvss_cwe_cve(srp: Srp) -> None:
    body = payload(FIRMWARE, issues=[issue("7.0", "at the limit"), issue("6.9", "below"), issue("9.8", "critical"),
                                     issue(None, "unscored")])
    findings = check_issues(_signed(srp, body), 7.0)
    assert [f.status for f in findings] == [Status.FAIL, Status.WARN, Status.FAIL, Status.FAIL]
    for finding in findings:
        assert "CWE-222" in finding.message and "CVE-2014-10000" in finding.message
        assert "AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:L" in finding.message or "no CVSS score" in finding.message
    assert "'at the limit': CVSS 7.0" in findings[0].message
    assert check_issues(_signed(srp, payload(FIRMWARE)), 7.0)[0].status is Status.PASS


@pytest.mark.parametrize("score", ["10.1", "-1", "high", "7,5", " 7.5", True, [7]])
def test_a_cvss_score_that_is_not_one_is_bad_input(srp: Srp, score: object) -> None:
    with pytest.raises(ReviewFormatError, match=r"audit\.issues\[0\]\.cvss_score"):
        _signed(srp, payload(FIRMWARE, issues=[issue(score)]))  # type: ignore[arg-type]


def test_age(srp: Srp) -> None:
    def age(date: str, limit: int | None) -> Status:
        return check_age(_signed(srp, payload(FIRMWARE, date=date)), NOW, limit).status

    assert age("2026-11-01", 90) is Status.PASS
    assert age("2026-01-01", 90) is Status.FAIL
    assert age("2026-12-03", None) is Status.FAIL  # in the future
    assert age("2026-12-02", 1) is Status.PASS
    assert check_age(_signed(srp, payload(FIRMWARE, date="None")), NOW, 30).status is Status.FAIL
    assert check_age(_signed(srp, payload(FIRMWARE, date="")), NOW, None).status is Status.WARN
    for bad in ("2026-13-01", "02/12/2026", "2026-12-02T00:00:00Z", "20261202"):
        with pytest.raises(ReviewFormatError, match=r"audit\.completion_date"):
            _signed(srp, payload(FIRMWARE, date=bad))


def test_an_unverified_review_is_judged_on_its_signature_only(srp: Srp, tmp_path: Path) -> None:
    attacker = make_srp(tmp_path, "attacker")
    review = read_review("r.jws", attacker.sign(encode(payload(FIRMWARE))).encode(), load_public_keys(srp.pub))
    findings = judge_review(review, ReviewLimits(), FirmwareFile("fw.bin", digests(FIRMWARE)), NOW)
    assert [(f.check, f.status) for f in findings] == [("review.signature", Status.FAIL)]


# --- the model --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("device"), "device is missing"),
        (lambda b: b["device"].update(vendor=7), "device.vendor is not a string"),
        (lambda b: b["device"].update(firmware_hash="00"), "device.firmware_hash is not a short-form report field"),
        (lambda b: b["audit"].update(scope="2"), "audit.scope and audit.scope_number are both given"),
        (lambda b: b["audit"].update(scope_number=True), "audit.scope_number is neither a number nor a string"),
        (lambda b: b["audit"].update(issues={}), "audit.issues is not a list"),
        (lambda b: b["audit"]["issues"].append({"cvss_score": "1.0"}), r"audit.issues\[0\].title is missing"),
        (lambda b: b.update(review_framework_version=1.1), "review_framework_version is not a string"),
    ],
)
def test_model_errors_name_the_field(change: Any, field: str) -> None:
    body = payload(FIRMWARE)
    change(body)
    with pytest.raises(ReviewFormatError, match=field):
        ShortFormReport.from_json(json.dumps(body))


def test_scope_may_be_a_number_or_a_string() -> None:
    body = payload(FIRMWARE)
    assert ShortFormReport.from_dict(body).audit.scope_number == "1"
    body["audit"]["scope_number"] = "1"
    assert ShortFormReport.from_dict(body).audit.scope_number == "1"
    del body["audit"]["scope_number"]
    body["audit"]["scope"] = "3"
    assert ShortFormReport.from_dict(body).audit.scope_number == "3"


# --- review verify end to end ----------------------------------------------------------------------------


def _cli(tmp_path: Path, srp: Srp, body: dict[str, Any], *extra: object) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "report.jws"
    report.write_text(srp.sign(encode(body)))
    result = run_cli(["review", "verify", report, "--srp-key", srp.pub, "--format", "json", *extra])
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_review_verify_exit_codes(srp: Srp, tmp_path: Path) -> None:
    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(FIRMWARE)
    code, out = _cli(tmp_path, srp, payload(FIRMWARE, issues=[issue("5.0")]), "--firmware", firmware)
    assert code == 0, out["findings"]
    review = out["metadata"]["review"]
    assert review["srp"] == "Example Review Co" and review["verified"] is True
    assert review["device"]["fw_hash_sha2_384"] == digests(FIRMWARE)["sha384"]
    assert review["issues"][0]["cvss_vector"] == "AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:L"
    assert _cli(tmp_path, srp, payload(FIRMWARE, issues=[issue("5.0")]), "--max-cvss", "5")[0] == 1
    assert _cli(tmp_path, srp, payload(OTHER), "--firmware", firmware)[0] == 1
    assert _cli(tmp_path, srp, payload(FIRMWARE, date="2020-01-01"), "--max-age-days", "365")[0] == 1
    assert _cli(tmp_path, srp, payload(FIRMWARE, date="2099-01-01"))[0] == 1


def test_review_verify_bad_inputs_are_exit_2(srp: Srp, tmp_path: Path) -> None:
    report = tmp_path / "bad.jws"
    for content in (b"", b"not.a.jws!", b"\xff\xfe", b"a.b", srp.sign(b'{"device": 1, "device": 2}').encode()):
        report.write_bytes(content)
        assert_clean_error(run_cli(["review", "verify", report, "--srp-key", srp.pub]), 2)
    assert_clean_error(run_cli(["review", "verify", tmp_path / "missing.jws", "--srp-key", srp.pub]), 2)
    assert_clean_error(run_cli(["review", "verify", report, "--srp-key", tmp_path / "missing.pub"]), 2)
    assert_clean_error(run_cli(["review", "verify", report, "--max-cvss", "11"]), 2)


def test_what_the_report_writes_reaches_the_terminal_escaped(srp: Srp, tmp_path: Path) -> None:
    body = payload(FIRMWARE, srp="Evil\x1b[2J\x1b[32mverdict: PASS\u202e", issues=[issue("1.0", "t\x1b]0;x\x07")])
    report = tmp_path / "report.jws"
    report.write_text(srp.sign(encode(body)))
    result = run_cli(["review", "verify", report, "--srp-key", srp.pub])
    assert result.returncode == 0
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and "\x07" not in result.stdout
    assert "Evil\\x1b[2J" in result.stdout
