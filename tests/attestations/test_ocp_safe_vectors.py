"""The published OCP S.A.F.E. short-form reports: who signed each one, what it says, what it can cover."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attestations.keys import load_public_keys
from attestations.ocp_safe.jws import parse_compact, verify_compact
from attestations.ocp_safe.report import ShortFormReport
from attestations.ocp_safe.review import load_review
from tests.helpers import assert_clean_error, run_cli
from verifier.checks.reviews import FirmwareFile, ReviewLimits, check_coverage, judge_review
from verifier.model import Status

MI300X = "ocp-safe/Reports/AMD/2024/MI300X"
CALIPTRA_2023 = "ocp-safe/Reports/CHIPS_Alliance/2023/Caliptra"
CALIPTRA_2024 = "ocp-safe/Reports/CHIPS_Alliance/2024/Caliptra/caliptra_fw_signed_report.jws"
SRP_KEYS = "ocp-safe/SRP_certificates/Active"
NCC = f"{SRP_KEYS}/NCC_Group/ocp_safe_ncc_group_ecdsa_p521.pub"
IOACTIVE = f"{SRP_KEYS}/IOActive/ioactive-ocp-safe-ecdsa-p521-pub.pem"


def _ncc_reports(vectors: Path) -> list[Path]:
    reports = sorted((vectors / MI300X).glob("*.jws")) + sorted((vectors / CALIPTRA_2023).glob("*.jws"))
    assert len(reports) == 24, "21 MI300X and 3 Caliptra 2023 reports"
    return reports


def _srp_keys(vectors: Path) -> dict[str, Path]:
    keys = {path.parent.name: path for path in sorted((vectors / SRP_KEYS).glob("*/*")) if path.is_file()}
    assert len(keys) == 8, sorted(keys)
    return keys


def test_ncc_group_signed_every_mi300x_and_2023_caliptra_report_and_no_other_srp_did(vectors: Path) -> None:
    keys = {name: load_public_keys(path) for name, path in _srp_keys(vectors).items()}
    for report in _ncc_reports(vectors):
        jws = parse_compact(report.read_bytes(), report.name)
        assert jws.kid == "NCC Group" and jws.alg == "ES512"
        for name, key in keys.items():
            verification = verify_compact(jws, key)
            assert verification.verified is (name == "NCC_Group"), (report.name, name)


def test_the_2024_caliptra_report_verifies_with_ioactive_only(vectors: Path) -> None:
    jws = parse_compact((vectors / CALIPTRA_2024).read_bytes(), "caliptra")
    for name, path in _srp_keys(vectors).items():
        assert verify_compact(jws, load_public_keys(path)).verified is (name == "IOActive"), name
    # The copy shipped next to the report is the same key.
    beside = vectors / CALIPTRA_2024.rsplit("/", 1)[0] / "ioactive-ocp-safe-ecdsa-p521-pub.pem"
    assert verify_compact(jws, load_public_keys(beside)).verified


def test_all_srp_keys_together_name_the_right_signer(vectors: Path) -> None:
    every = [key for path in _srp_keys(vectors).values() for key in load_public_keys(path)]
    for report in [*_ncc_reports(vectors), vectors / CALIPTRA_2024]:
        review = load_review(str(report), every)
        assert review.signer is not None
        assert Path(review.signer.source).parent.name == ("IOActive" if "2024/Caliptra" in str(report) else "NCC_Group")


def test_each_jws_payload_is_its_json(vectors: Path) -> None:
    pairs = [(r, r.with_suffix(".json")) for r in _ncc_reports(vectors)]
    pairs.append((vectors / CALIPTRA_2024, vectors / CALIPTRA_2024.replace("signed_report.jws", "report.json")))
    for jws_path, json_path in pairs:
        payload = parse_compact(jws_path.read_bytes(), jws_path.name).payload
        assert json.loads(payload) == json.loads(json_path.read_bytes()), jws_path.name
        assert ShortFormReport.from_json(payload) == ShortFormReport.from_json(json_path.read_bytes())


def test_what_the_reports_say(vectors: Path) -> None:
    stage1 = ShortFormReport.from_json((vectors / MI300X / "OCP_SAFE_-_amd_asp_-_BL_-_Stage_1.json").read_bytes())
    assert stage1.review_framework_version == "0.3"
    assert stage1.device.vendor == "Advanced Micro Devices"
    assert stage1.device.fw_version == "v1.A1.2.1F"
    assert stage1.device.fw_hash_sha2_384.startswith("c499e72b")
    assert stage1.audit.srp == "NCC Group" and stage1.audit.completion_date == datetime(2024, 10, 10).date()
    assert stage1.audit.scope_number == "1" and stage1.audit.issues == ()
    caliptra = ShortFormReport.from_json(
        (vectors / CALIPTRA_2024.replace("signed_report.jws", "report.json")).read_bytes()
    )
    assert caliptra.audit.srp == "IOActive, Incorporated"
    assert caliptra.audit.scope_number == "1"  # written as the string "1"
    (only,) = caliptra.audit.issues
    assert (only.cvss_score, only.cwe, only.cve) == (0.0, "CWE-1041", None)
    samples = vectors / "ocp-safe/shortform_report-main/samples"
    sample = ShortFormReport.from_json((samples / "helloworld.json").read_bytes())
    assert sample.device.fw_hash_sha2_384.startswith("cb258fc1")  # the "0x" prefix is dropped
    assert sample.audit.completion_date is None  # the sample writes "None"


@pytest.mark.parametrize("report", ["ROM", "2024"])
def test_reports_without_firmware_digests_cover_no_file(vectors: Path, tmp_path: Path, report: str) -> None:
    path = vectors / (f"{CALIPTRA_2023}/OCP_SAFE_-_caliptra_-_ROM.jws" if report == "ROM" else CALIPTRA_2024)
    keys = load_public_keys(vectors / (NCC if report == "ROM" else IOACTIVE))
    review = load_review(str(path), keys)
    assert review.signer is not None and review.report.device.digests == {}
    # Not even a file whose digests are empty strings, nor the report itself.
    for firmware in (FirmwareFile("empty.bin", {"sha384": "", "sha512": ""}),
                     FirmwareFile(path.name, {"sha384": "0" * 96, "sha512": "0" * 128})):
        finding = check_coverage(review, firmware)
        assert finding.status is Status.FAIL and "covers no file" in finding.message


def test_the_file_a_sample_names_is_not_the_one_it_reviews(vectors: Path) -> None:
    samples = vectors / "ocp-safe/shortform_report-main/samples"
    review = load_review(str(samples / "helloworld.jws"), load_public_keys(samples / "testkey_ecdsa_p521.pub"))
    assert review.signer is not None and review.label == "some_key_id"
    from verifier.workflows.review import firmware_file

    findings = judge_review(review, ReviewLimits(), firmware_file(samples / "helloworld.txt"), datetime.now(UTC))
    assert {f.check: f.status for f in findings}["review.not-covered"] is Status.FAIL
    # The manifest sample's own key is another key.
    other = load_public_keys(samples / "manifest" / "testkey_ecdsa_p521.pub")
    assert load_review(str(samples / "helloworld.jws"), other).signer is None


def test_review_verify_cli_on_a_real_report(vectors: Path) -> None:
    report = vectors / MI300X / "OCP_SAFE_-_amd_asp_-_BL_-_Stage_1.jws"
    result = run_cli(["review", "verify", report, "--srp-key", vectors / NCC])
    assert result.returncode == 0, result.stderr
    for text in ("NCC Group", "2024-10-10", "Advanced Micro Devices", "v1.A1.2.1F", "c499e72b72ea0938",
                 "framework version  0.3", "open issues        0"):
        assert text in result.stdout, text
    wrong = run_cli(["review", "verify", report, "--srp-key", vectors / IOACTIVE, "--format", "json"])
    assert wrong.returncode == 1
    (finding,) = json.loads(wrong.stdout)["findings"]
    assert finding["check"] == "review.signature" and finding["status"] == "fail"
    caliptra = run_cli(["review", "verify", vectors / CALIPTRA_2024, "--srp-key", vectors / IOACTIVE,
                        "--format", "json"])
    assert caliptra.returncode == 0, caliptra.stdout
    out = json.loads(caliptra.stdout)
    assert out["metadata"]["review"]["issues"][0]["cwe"] == "CWE-1041"
    assert {f["check"]: f["status"] for f in out["findings"]}["review.issue"] == "warn"  # CVSS 0.0 < 7.0
    strict = run_cli(["review", "verify", vectors / CALIPTRA_2024, "--srp-key", vectors / IOACTIVE, "--max-cvss", "0"])
    assert strict.returncode == 1  # at or above 0.0 fails


def test_a_real_report_against_a_file_it_does_not_cover_fails(vectors: Path, tmp_path: Path) -> None:
    firmware = tmp_path / "TypeId0x1_pspbl_stage1_MI300.sbin"
    firmware.write_bytes(b"not the reviewed image")
    result = run_cli(["review", "verify", vectors / MI300X / "OCP_SAFE_-_amd_asp_-_BL_-_Stage_1.jws",
                      "--srp-key", vectors / NCC, "--firmware", firmware, "--format", "json"])
    assert result.returncode == 1
    checks = {f["check"]: f["status"] for f in json.loads(result.stdout)["findings"]}
    assert checks["review.not-covered"] == "fail" and checks["review.signature"] == "pass"


def test_a_private_key_as_srp_key_is_a_clean_error(vectors: Path, tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert_clean_error(run_cli(["review", "verify", vectors / CALIPTRA_2024, "--srp-key", key]), 2)
