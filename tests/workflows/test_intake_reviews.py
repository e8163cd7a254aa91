"""``intake --review``: a security review of the firmware image taken in, judged by the policy's [reviews].

The release is the workspace's (signed in the session), the firmware its image, the reviews signed here by an
SRP key made here; each rule passes honestly and fails the way an attacker or a stale review would make it fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.attestations.sfr import Srp, encode, issue, make_srp, payload
from tests.helpers import assert_clean_error, run_cli
from tests.workflows.conftest import Workspace


@pytest.fixture
def srp(tmp_path: Path) -> Srp:
    return make_srp(tmp_path, "Example Review Co")


def _policy(ws: Workspace, tmp: Path, srp_keys: list[Path], *, name: str = "policy.toml", required: bool = True,
            extra: str = "max_cvss = 7.0\nmax_age_days = 365\n", firmware_required: bool = True) -> Path:
    keys = ", ".join(f'"{k}"' for k in srp_keys)
    path = tmp / name
    path.write_text(
        f'version = 1\n[signers]\nkeys = ["{ws.paths["vendor_pub"]}"]\n'
        '[attestations]\nrequired = ["https://provcheck.dev/firmware-manifest/v1"]\n'
        f"[firmware]\nrequired = {str(firmware_required).lower()}\n"
        f"[reviews]\nrequired = {str(required).lower()}\nsrp_keys = [{keys}]\n{extra}"
    )
    return path


def _review(tmp: Path, srp: Srp, body: dict[str, Any], name: str = "review.jws") -> Path:
    path = tmp / name
    path.write_text(srp.sign(encode(body)))
    return path


def _intake(ws: Workspace, policy: Path, *extra: object, firmware: bool = True) -> tuple[int, dict[str, Any]]:
    args: list[object] = ["intake", "--release", ws.release, "--policy", policy, "--no-history", "--format", "json"]
    if firmware:
        args += ["--firmware", ws.firmware]
    result = run_cli([*args, *extra])
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}


def _statuses(report: dict[str, Any], prefix: str = "review.") -> list[tuple[str, str]]:
    return [(f["check"], f["status"]) for f in report["findings"] if f["check"].startswith(prefix)]


def test_a_review_covering_the_image_passes_and_is_described(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    review = _review(tmp_path, srp, payload(workspace.firmware.read_bytes(), issues=[issue("3.1", "minor")]))
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]), "--review", review)
    assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "warn")]
    assert _statuses(report) == [("review.signature", "pass"), ("review.not-covered", "pass"),
                                 ("review.issue", "warn"), ("review.age", "pass")]
    (described,) = report["metadata"]["reviews"]
    assert described["srp"] == "Example Review Co" and described["verified"] is True
    assert described["issues"][0]["title"] == "minor" and described["issues"][0]["cvss_score"] == 3.1


def test_an_open_issue_at_max_cvss_fails(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    review = _review(tmp_path, srp, payload(workspace.firmware.read_bytes(), issues=[issue("7.0"), issue("2.0")]))
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]), "--review", review)
    assert code == 1
    assert [s for c, s in _statuses(report) if c == "review.issue"] == ["fail", "warn"]


def test_a_stale_review_fails_max_age(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    review = _review(tmp_path, srp, payload(workspace.firmware.read_bytes(), date="2024-01-01"))
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]), "--review", review)
    assert code == 1 and ("review.age", "fail") in _statuses(report)


def test_a_review_of_another_image_fails_not_covered(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    other = workspace.paths["tampered_firmware"].read_bytes()
    review = _review(tmp_path, srp, payload(other))
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]), "--review", review)
    assert code == 1 and ("review.not-covered", "fail") in _statuses(report)
    # A review without digests covers nothing either.
    empty = _review(tmp_path, srp, payload(None), "empty.jws")
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]), "--review", empty)
    assert code == 1 and ("review.not-covered", "fail") in _statuses(report)


def test_a_review_signed_by_an_srp_the_policy_does_not_accept_fails(
    workspace: Workspace, srp: Srp, tmp_path: Path
) -> None:
    impostor = make_srp(tmp_path, "Impostor")
    review = impostor.sign(encode(payload(workspace.firmware.read_bytes())), {"alg": "ES512", "kid": srp.name})
    (tmp_path / "review.jws").write_text(review)
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]), "--review", tmp_path / "review.jws")
    assert code == 1 and _statuses(report) == [("review.signature", "fail")]
    assert report["metadata"]["reviews"][0]["verified"] is False


def test_a_required_review_not_given_is_inconclusive(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]))
    assert code == 3
    (finding,) = [f for f in report["findings"] if f["check"].startswith("review.")]
    assert finding["status"] == "skip" and finding["required"] is True and "--review" in finding["message"]


def test_a_required_review_without_the_firmware_to_compare_is_inconclusive(
    workspace: Workspace, srp: Srp, tmp_path: Path
) -> None:
    review = _review(tmp_path, srp, payload(workspace.firmware.read_bytes()))
    policy = _policy(workspace, tmp_path, [srp.pub], firmware_required=False)
    code, report = _intake(workspace, policy, "--review", review, firmware=False)
    assert code == 3
    skipped = [f for f in report["findings"] if f["check"] == "review.not-covered"]
    assert skipped and skipped[0]["status"] == "skip" and skipped[0]["required"] is True


def test_reviews_not_required_are_still_judged_when_given(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    policy = _policy(workspace, tmp_path, [srp.pub], required=False, extra="")
    assert _intake(workspace, policy)[0] == 0  # nothing given, nothing required
    review = _review(tmp_path, srp, payload(workspace.firmware.read_bytes(), issues=[issue("9.8")]))
    code, report = _intake(workspace, policy, "--review", review)
    assert code == 1 and ("review.issue", "fail") in _statuses(report)  # the default limit, 7.0


def test_combined_policies_take_the_lowest_max_cvss(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    review = _review(tmp_path, srp, payload(workspace.firmware.read_bytes(), issues=[issue("5.5")]))
    lax = _policy(workspace, tmp_path, [srp.pub], name="lax.toml", extra="max_cvss = 9.0\n")
    assert _intake(workspace, lax, "--review", review)[0] == 0
    strict = _policy(workspace, tmp_path, [srp.pub], name="strict.toml", extra="max_cvss = 5.0\n")
    assert _intake(workspace, lax, "--review", review, "--policy", strict)[0] == 1


def test_bad_review_inputs_are_exit_2(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    junk = tmp_path / "junk.jws"
    junk.write_text("this is not a review")
    policy = _policy(workspace, tmp_path, [srp.pub])
    args = ["intake", "--release", workspace.release, "--policy", policy, "--firmware", workspace.firmware,
            "--no-history"]
    assert_clean_error(run_cli([*args, "--review", junk]), 2)
    no_keys = tmp_path / "no-keys.toml"
    no_keys.write_text(policy.read_text().replace(f'srp_keys = ["{srp.pub}"]', "srp_keys = []"))
    # required = true with no SRP key: no review could ever pass, so the policy itself is refused.
    assert_clean_error(run_cli(["intake", "--release", workspace.release, "--policy", no_keys, "--no-history"]), 2)


def test_a_cose_signed_corim_review_is_read_by_the_same_step(workspace: Workspace, srp: Srp, tmp_path: Path) -> None:
    from tests.attestations.sfr import corim_issue, cose_sign, sfr_corim

    firmware = workspace.firmware.read_bytes()
    signed = tmp_path / "review.corim"
    signed.write_bytes(cose_sign(sfr_corim(firmware, issues=[corim_issue("4.0")]), srp.private))
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]), "--review", signed)
    assert code == 0, _statuses(report)
    assert report["metadata"]["reviews"][0]["form"] == "cose-corim"
    unsigned = tmp_path / "unsigned.corim"
    unsigned.write_bytes(sfr_corim(firmware))
    code, report = _intake(workspace, _policy(workspace, tmp_path, [srp.pub]), "--review", unsigned)
    assert code == 1 and _statuses(report) == [("review.signature", "fail")]
