"""The CoRIM form of a short-form report (OCP S.A.F.E. SFR CoRIM profile): read by the CoRIM reader into the same
model, checked against the profile's CDDL, judged by the same review judge. Unsigned, it is shown and never trusted;
COSE-signed, it verifies with the SRP keys given (ES384/ES512 only)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attestations.errors import InputError
from attestations.keys import load_public_keys
from attestations.ocp_safe.report import ReviewFormatError
from attestations.ocp_safe.review import read_review
from tests.attestations.sfr import (
    PROFILE_DER,
    Srp,
    corim_issue,
    cose_sign,
    digests,
    make_srp,
    sfr_corim,
)
from tests.helpers import REPO, assert_clean_error, run_cli
from verifier.checks.reviews import FirmwareFile, check_coverage, check_signature
from verifier.model import Status

EXAMPLE = "ocp-safe/Documentation/corim_profile/examples/ocp-safe-sfr-fw-example.diag"
PROFILE_CDDL = "ocp-safe/Documentation/corim_profile/ocp-safe-sfr-profile.cddl"
FIRMWARE = b"firmware for the CoRIM-form review, made by the test\n" * 32


@cache
def _schema(profile_cddl: str) -> Any:
    """The draft-09 CoRIM CDDL (tests/data/corim) with the profile's plugs, rewritten as that file says for pycddl:
    "&(name: N)" becomes "N", "non-empty<{...}>" becomes "{...}", and the extension plugged into the
    "* $$measurement-values-map-extension" socket is written optional ("? -1"), which is what "*" makes it."""
    import pycddl

    text = re.sub(r"&\(\s*[A-Za-z0-9-]+\s*:\s*(-?\d+)\s*\)", r"\1", profile_cddl)
    text = text.replace("//= (\n  -1 =>", "//= (\n  ? -1 =>").replace("non-empty<{", "{").replace("}>", "}")
    assert "? -1 =>" in text
    return pycddl.Schema((REPO / "tests/data/corim/corim-draft-09.cddl").read_text() + "\n" + text)


def _example(vectors: Path) -> bytes:
    from cbor_diag import diag2cbor

    return bytes(diag2cbor((vectors / EXAMPLE).read_text()))


@pytest.fixture
def srp(tmp_path: Path) -> Srp:
    return make_srp(tmp_path, "Example Review Co")


def test_the_profile_example_is_valid_cddl_and_reads_into_the_sfr_model(vectors: Path) -> None:
    data = _example(vectors)
    _schema((vectors / PROFILE_CDDL).read_text()).validate_cbor(data)
    review = read_review("example.corim", data, [])
    assert review.form == "corim" and review.signed is False
    report = review.report
    assert report.review_framework_version == "1.1"
    assert report.audit.srp == "My Pentest Corporation"
    assert report.audit.completion_date is not None and report.audit.completion_date.isoformat() == "2023-06-25"
    assert (report.audit.report_version, report.audit.scope_number, report.audit.solid_version) == ("1.2", "1", "1.0")
    assert (report.device.vendor, report.device.product, report.device.fw_version) == (
        "ACME Inc.", "ACME RoadRunner Trap", "1.2.3")
    assert report.device.fw_hash_sha2_384.startswith("52047e07") and report.device.fw_hash_sha2_512.startswith("12a5b9")
    first, second = report.audit.issues
    assert (first.cvss_score, first.cwe, first.cve) == (7.9, "CWE-111", None)
    assert (second.cvss_score, second.cwe, second.cve) == (8.7, "CWE-222", "CVE-2014-10000")


def test_the_same_review_as_json_and_as_corim_is_one_model(vectors: Path) -> None:
    """The example is the manifest-less JSON sample's review: the fields both forms carry are equal."""
    from attestations.ocp_safe.report import ShortFormReport

    corim = read_review("example.corim", _example(vectors), []).report
    sample = ShortFormReport.from_json(
        (vectors / "ocp-safe/shortform_report-main/samples/manifest/manifest.json").read_bytes())
    assert corim.audit.issues == sample.audit.issues
    assert (corim.audit.srp, corim.audit.completion_date, corim.audit.scope_number) == (
        sample.audit.srp, sample.audit.completion_date, sample.audit.scope_number)


def test_review_verify_shows_an_unsigned_corim_and_fails_its_signature(vectors: Path, tmp_path: Path) -> None:
    path = tmp_path / "example.corim"
    path.write_bytes(_example(vectors))
    result = run_cli(["review", "verify", path, "--format", "json"])
    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    (finding,) = out["findings"]
    assert finding["check"] == "review.signature" and "unsigned CoRIM" in finding["message"]
    assert out["metadata"]["review"]["verified"] is False and out["metadata"]["review"]["form"] == "corim"
    text = run_cli(["review", "verify", path])
    assert "NOT VERIFIED" in text.stdout and "Debug commands enable arbitrary memory read/write" in text.stdout


def test_the_cddl_and_the_reader_both_refuse_an_sfr_without_completion_date(vectors: Path) -> None:
    data = sfr_corim(FIRMWARE, sfr_changes={})
    schema = _schema((vectors / PROFILE_CDDL).read_text())
    schema.validate_cbor(data)
    broken = _without_completion_date(data)
    with pytest.raises(Exception):  # noqa: B017 - pycddl's ValidationError
        schema.validate_cbor(broken)
    with pytest.raises(ReviewFormatError, match=r"\.mval\.-1\.2 \(completion-date\) is missing"):
        read_review("broken.corim", broken, [])


def _without_completion_date(data: bytes) -> bytes:
    outer = cbor2.loads(data)
    comid = cbor2.loads(outer.value[1][0].value)
    del comid[4][10][0][1][0][1][0][1][-1][2]
    outer.value[1][0] = cbor2.CBORTag(506, cbor2.dumps(comid))
    return bytes(cbor2.dumps(outer))


# --- made here, no vectors needed -------------------------------------------------------------------------


def _judge(data: bytes, keys: list[Path], firmware: bytes = FIRMWARE) -> tuple[Status, Status | None]:
    review = read_review("review.corim", data, [k for p in keys for k in load_public_keys(p)])
    signature = check_signature(review)
    if signature.status is not Status.PASS:
        return signature.status, None
    return signature.status, check_coverage(review, FirmwareFile("fw.bin", digests(firmware))).status


def test_a_cose_signed_corim_review_verifies_with_the_srp_key(srp: Srp, tmp_path: Path) -> None:
    signed = cose_sign(sfr_corim(FIRMWARE), srp.private)
    assert _judge(signed, [srp.pub]) == (Status.PASS, Status.PASS)
    review = read_review("r.corim", signed, load_public_keys(srp.pub))
    assert review.form == "cose-corim" and review.algorithm == "ES512" and review.label == "Example Review Co"
    # another image, or a condition whose two digests are of two files, is not covered
    assert _judge(signed, [srp.pub], FIRMWARE + b"!") == (Status.PASS, Status.FAIL)
    mixed = sfr_corim(FIRMWARE, sha512=bytes.fromhex(digests(b"other")["sha512"]))
    assert _judge(cose_sign(mixed, srp.private), [srp.pub]) == (Status.PASS, Status.FAIL)


def test_a_cose_signed_corim_review_fails_with_any_other_key(srp: Srp, tmp_path: Path) -> None:
    other = make_srp(tmp_path, "Other Review Co")
    signed = cose_sign(sfr_corim(FIRMWARE), other.private, name=srp.name)  # signer meta names the accepted SRP
    assert _judge(signed, [srp.pub])[0] is Status.FAIL
    review = read_review("r.corim", signed, load_public_keys(srp.pub))
    assert review.signer is None and review.label == srp.name


def test_es256_is_not_an_sfr_algorithm(tmp_path: Path) -> None:
    p256 = make_srp(tmp_path, "p256", ec.SECP256R1())
    signed = cose_sign(sfr_corim(FIRMWARE), p256.private)
    review = read_review("r.corim", signed, load_public_keys(p256.pub))
    assert review.signer is None and review.refused is not None and "ES384 or ES512" in review.refused


def test_a_flipped_byte_in_the_signed_corim_fails_or_is_refused(srp: Srp) -> None:
    signed = bytearray(cose_sign(sfr_corim(FIRMWARE), srp.private))
    at = signed.index(b"1.2.3")
    signed[at + 4] ^= 0x01  # "1.2.2": still a well-formed CoRIM
    assert _judge(bytes(signed), [srp.pub])[0] is Status.FAIL


def test_profile_oid_spellings(srp: Srp) -> None:
    """The spec's text OID (...42623.1.1) and its DER bytes (...47639.1.1), with or without the DER header."""
    from attestations.corim.model import Oid

    for der in (PROFILE_DER, PROFILE_DER[2:], Oid.from_dotted("1.3.6.1.4.1.42623.1.1").der):
        assert read_review("r", sfr_corim(FIRMWARE, profile=der), []).report.audit.srp == "Example Review Co"
    for der in (None, Oid.from_dotted("1.3.6.1.4.1.42623.1.2").der):
        with pytest.raises(ReviewFormatError, match="profile"):
            read_review("r", sfr_corim(FIRMWARE, profile=der), [])


def test_malformed_corim_reviews_are_bad_input_naming_the_field(srp: Srp, tmp_path: Path) -> None:
    with pytest.raises(ReviewFormatError, match="2 SFRs"):
        read_review("r", sfr_corim(FIRMWARE, twice=True), [])
    with pytest.raises(ReviewFormatError, match=r"\.3 \(scope-number\) is not an integer"):
        read_review("r", sfr_corim(FIRMWARE, sfr_changes={3: "1"}), [])
    with pytest.raises(ReviewFormatError, match=r"key 9 is not an OCP S.A.F.E. SFR field"):
        read_review("r", sfr_corim(FIRMWARE, sfr_changes={9: "x"}), [])
    with pytest.raises(ReviewFormatError, match=r"\.5\[0\]\.2\.0"):
        read_review("r", sfr_corim(FIRMWARE, issues=[corim_issue("eleven")]), [])
    with pytest.raises(InputError, match=r"mval\.digests\[0\]: a -43 digest is 48 bytes"):
        read_review("r", sfr_corim(FIRMWARE, sha384=b"\x00" * 20), [])
    with pytest.raises(InputError):
        read_review("r", sfr_corim(FIRMWARE)[:-5], [])
    path = tmp_path / "truncated.corim"
    path.write_bytes(cose_sign(sfr_corim(FIRMWARE), srp.private)[:-9])
    assert_clean_error(run_cli(["review", "verify", path, "--srp-key", srp.pub]), 2)


def test_review_verify_on_a_signed_corim(srp: Srp, tmp_path: Path) -> None:
    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(FIRMWARE)
    path = tmp_path / "review.corim"
    path.write_bytes(cose_sign(sfr_corim(FIRMWARE, issues=[corim_issue("7.5", "debug port open")]), srp.private))
    result = run_cli(["review", "verify", path, "--srp-key", srp.pub, "--firmware", firmware, "--format", "json"])
    out = json.loads(result.stdout)
    assert result.returncode == 1  # 7.5 >= 7.0
    checks = {f["check"]: f["status"] for f in out["findings"]}
    assert checks == {"review.signature": "pass", "review.not-covered": "pass", "review.issue": "fail",
                      "review.age": "pass"}
    assert run_cli(["review", "verify", path, "--srp-key", srp.pub, "--firmware", firmware,
                    "--max-cvss", "8"]).returncode == 0
