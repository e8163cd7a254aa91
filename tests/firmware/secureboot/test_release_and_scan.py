"""Where the Secure Boot checks run besides ``firmware secureboot``: ``firmware scan`` of a flash image holding a
variable store, and ``release sign``, which refuses an image whose PK is a known test key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.firmware.secureboot import builders as b
from tests.helpers import Run, run_cli


def flash(tmp_path: Path, name: str, pk_cn: str) -> Path:
    """A 1 MiB flash image: code-like bytes, then the NVRAM volume with keys enrolled, then erased flash."""
    store = b.store(pk=b.cert_list(b.certificate(pk_cn, index=4 if "TRUST" in pk_cn else 1)),
                    kek=b.cert_list(b.certificate("Vendor KEK", index=2)),
                    db=b.cert_list(b.certificate("Vendor Boot Signer", index=3)))
    image = os.urandom(0x10000) + store
    path = tmp_path / name
    path.write_bytes(image + b"\xff" * (0x100000 - len(image)))
    return path


@pytest.fixture(scope="module")
def vendor_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("keys") / "vendor"
    made = run_cli(["keys", "generate", "--out", prefix])
    assert made.returncode == 0, made.stderr
    return prefix.with_suffix(".key")


def sign(image: Path, key: Path, out: Path, *extra: object) -> Run:
    return run_cli(["release", "sign", "--firmware", image, "--key", key, "-o", out, *extra])


def test_release_sign_refuses_an_image_with_a_test_pk(tmp_path: Path, vendor_key: Path) -> None:
    image = flash(tmp_path, "board.bin", "DO NOT TRUST - AMI Test PK")
    refused = sign(image, vendor_key, tmp_path / "release")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refusing to sign" in refused.stderr and "--insecure-allow-test-keys" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "release").exists()
    allowed = sign(image, vendor_key, tmp_path / "test-release", "--insecure-allow-test-keys")
    assert allowed.returncode == 0, allowed.stderr
    assert "signing anyway" in allowed.stderr


def test_release_sign_accepts_the_same_image_with_the_vendor_pk(tmp_path: Path, vendor_key: Path) -> None:
    image = flash(tmp_path, "board.bin", "Vendor Platform Key")
    signed = sign(image, vendor_key, tmp_path / "release")
    assert signed.returncode == 0, signed.stderr


def test_firmware_scan_of_a_flash_image_includes_the_secure_boot_checks(tmp_path: Path) -> None:
    image = flash(tmp_path, "board.bin", "DO NOT TRUST - AMI Test PK")
    result = run_cli(["firmware", "scan", image, "--format", "json"])
    findings = json.loads(result.stdout)["findings"]
    assert result.returncode == 1
    assert [f["status"] for f in findings if f["check"] == "secureboot.test-key"] == ["fail"]
    clean = run_cli(["firmware", "scan", flash(tmp_path, "clean.bin", "Vendor Platform Key"), "--format", "json"])
    assert {f["status"] for f in json.loads(clean.stdout)["findings"] if f["check"] == "secureboot.test-key"} == {
        "pass"}


def test_firmware_scan_of_an_empty_store_does_not_fail_for_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "vars.fd"
    path.write_bytes(b.store())
    result = run_cli(["firmware", "scan", path, "--format", "json"])
    secure = [f for f in json.loads(result.stdout)["findings"] if f["check"].startswith("secureboot.")]
    assert [(f["check"], f["status"], f["required"]) for f in secure] == [("secureboot.not-enforcing", "skip", False)]


def test_intake_s_firmware_scan_judges_with_the_policy_s_secureboot_table(tmp_path: Path) -> None:
    """intake scans with policy_rules(policy.secureboot): here the expected PK, and test keys lowered to warnings."""
    import hashlib

    from verifier.model import Status
    from verifier.policy.model import SecureBootKeyRules
    from verifier.workflows.firmware_scan import scan_firmware
    from verifier.workflows.secureboot import policy_rules

    image = flash(tmp_path, "board.bin", "Vendor Platform Key")
    ours = hashlib.sha256(b.certificate("Vendor Platform Key", index=1)).hexdigest()

    def owner(rules: SecureBootKeyRules) -> set[Status]:
        return {f.status for f in scan_firmware(image, secureboot=policy_rules(rules))
                if f.check == "secureboot.unexpected-owner"}

    assert owner(SecureBootKeyRules(expected_pk=ours)) == {Status.PASS}
    assert owner(SecureBootKeyRules(expected_pk="ab" * 32)) == {Status.FAIL}
    test_pk = flash(tmp_path, "test.bin", "DO NOT TRUST - AMI Test PK")
    lowered = scan_firmware(test_pk, secureboot=policy_rules(SecureBootKeyRules(forbid_test_keys=False)))
    assert {f.status for f in lowered if f.check == "secureboot.test-key"} == {Status.WARN}
