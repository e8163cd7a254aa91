"""check_device: each check with a passing case and a failing twin."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest

from hw.evidence import Component, DeviceEvidence, Fact, RegionDigest
from hw.reader import read_device
from hw.sim import Simulator
from verifier.checks.device import check_device
from verifier.declared.device_manifest import manifest_from_predicate
from verifier.model import Finding, Status, Verdict, judge


@pytest.fixture(scope="module")
def attest_read() -> tuple[DeviceEvidence, dict[str, Any]]:
    with Simulator("attest") as sim:
        evidence = read_device(sim.port, profile="attest", timeout=30, read_timeout=2)
        return evidence, sim.declared_manifest()


@pytest.fixture(scope="module")
def uboot_read() -> tuple[DeviceEvidence, dict[str, Any]]:
    with Simulator("uboot") as sim:
        manifest = sim.declared_manifest()
        evidence = read_device(sim.port, profile="uboot", timeout=30, read_timeout=2,
                               regions=manifest_from_predicate(manifest).region_specs())
        return evidence, manifest


def run(evidence: DeviceEvidence, manifest: dict[str, Any], **kwargs: Any) -> list[Finding]:
    return check_device(evidence, manifest_from_predicate(manifest), **kwargs)


def statuses(findings: list[Finding], check: str) -> set[Status]:
    return {f.status for f in findings if f.check == check}


def test_attest_baseline_passes(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = attest_read
    findings = run(evidence, manifest)
    assert judge(findings) is Verdict.PASS


def test_serial_pattern(uboot_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = uboot_read
    product = {**manifest, "serial": {"pattern": r"ACME-[0-9]{6}"}}
    assert statuses(run(evidence, product), "hw.serial-number") == {Status.PASS}
    other = {**manifest, "serial": {"pattern": r"XYZ-[0-9]+"}}
    assert statuses(run(evidence, other), "hw.serial-number") == {Status.FAIL}


def test_serial_missing_is_inconclusive(uboot_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = uboot_read
    identity = {k: v for k, v in evidence.identity.items() if k != "serial"}
    findings = run(dataclasses.replace(evidence, identity=identity), manifest)
    assert statuses(findings, "hw.serial-number") == {Status.SKIP}
    assert judge(findings) is Verdict.INCONCLUSIVE


def test_component_diff_added_removed_changed(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = attest_read
    extra = Component("modem", "Quectel", "EG25", None, None, "signed", "test")
    findings = run(dataclasses.replace(evidence, components=(*evidence.components, extra)), manifest)
    (components,) = [f for f in findings if f.check == "hw.components"]
    assert components.status is Status.FAIL and components.evidence["diff"]["added"][0]["model"] == "EG25"
    without_nic = tuple(c for c in evidence.components if c.cls != "nic")
    findings = run(dataclasses.replace(evidence, components=without_nic), manifest)
    (components,) = [f for f in findings if f.check == "hw.components"]
    assert components.status is Status.FAIL and components.evidence["diff"]["removed"][0]["class"] == "nic"


def test_optional_component_missing_only_warns(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = attest_read
    without_tpm = tuple(c for c in evidence.components if c.cls != "tpm")
    findings = run(dataclasses.replace(evidence, components=without_tpm), manifest)
    assert statuses(findings, "hw.components") == {Status.WARN}


def test_components_a_profile_cannot_see_are_skipped(uboot_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = uboot_read
    nic = {"class": "nic", "manufacturer": "Intel", "model": "I210", "serial": None, "revision": None,
           "required": True}
    findings = run(evidence, {**manifest, "components": [*manifest["components"], nic]})
    skipped = [f for f in findings if f.check == "hw.components" and f.status is Status.SKIP]
    assert len(skipped) == 1 and not skipped[0].required
    assert judge(findings) is Verdict.PASS


def test_region_weak_only_is_inconclusive(uboot_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = uboot_read
    crc_only = (RegionDigest("bootloader", 0x08000000, 16384, "crc32", "deadbeef", "crc32", "measured", weak=True),)
    findings = run(dataclasses.replace(evidence, regions=crc_only), manifest)
    assert statuses(findings, "hw.region") == {Status.SKIP}
    assert judge(findings) is Verdict.INCONCLUSIVE
    declared_crc = dict(manifest["firmware_regions"][0], crc32="deadbeef")
    findings = run(dataclasses.replace(evidence, regions=crc_only), {**manifest, "firmware_regions": [declared_crc]})
    assert statuses(findings, "hw.region") == {Status.WARN}
    wrong_crc = dict(declared_crc, crc32="00000000")
    findings = run(dataclasses.replace(evidence, regions=crc_only), {**manifest, "firmware_regions": [wrong_crc]})
    assert statuses(findings, "hw.region") == {Status.FAIL}


def test_region_size_mismatch_fails(uboot_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = uboot_read
    region = dict(manifest["firmware_regions"][0], size=32768)
    assert statuses(run(evidence, {**manifest, "firmware_regions": [region]}), "hw.region") == {Status.FAIL}


def test_identity_key_pinning(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = attest_read
    pinned_only = {**manifest, "identity": {"fingerprint_sha256": manifest["identity"]["fingerprint_sha256"]}}
    assert statuses(run(evidence, pinned_only), "hw.identity-key") == {Status.PASS}
    other = {**manifest, "identity": {"fingerprint_sha256": "ab" * 32}}
    assert statuses(run(evidence, other), "hw.identity-key") == {Status.FAIL}


def test_identity_key_chain_to_another_ca_fails(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    from hw.sim import DeviceConfig, make_keys

    evidence, manifest = attest_read
    rogue_ca = make_keys(DeviceConfig(ca_seed="some-other-vendor")).ca_pem
    findings = run(evidence, {**manifest, "identity": {"ca_pem": rogue_ca}})
    assert statuses(findings, "hw.identity-key") == {Status.FAIL}


def test_edited_evidence_is_caught(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = attest_read
    identity = dict(evidence.identity)
    identity["serial"] = Fact("ACME-000999", "signed", "attest measurements")
    findings = run(dataclasses.replace(evidence, identity=identity), {**manifest, "serial": None})
    assert statuses(findings, "hw.attest-signature") == {Status.FAIL}


def test_flipped_signature_in_the_file_fails(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = attest_read
    assert evidence.attestation is not None
    signature = bytearray(base64.b64decode(evidence.attestation.signature_b64))
    signature[-1] ^= 1
    tampered = dataclasses.replace(
        evidence,
        attestation=dataclasses.replace(evidence.attestation, signature_b64=base64.b64encode(signature).decode()),
    )
    assert statuses(run(tampered, manifest), "hw.attest-signature") == {Status.FAIL}


def test_nonce_freshness(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = attest_read
    assert evidence.nonce is not None
    assert statuses(run(evidence, manifest, expected_nonce=bytes.fromhex(evidence.nonce)), "hw.nonce") == {
        Status.PASS
    }
    assert statuses(run(evidence, manifest, expected_nonce=bytes(32)), "hw.nonce") == {Status.FAIL}
    # An evidence file whose recorded nonce was swapped for the expected one still fails: the device signed another.
    swapped = dataclasses.replace(evidence, nonce="00" * 32)
    assert statuses(run(swapped, manifest, expected_nonce=bytes(32)), "hw.nonce") == {Status.FAIL}


def test_required_strength(uboot_read: tuple[DeviceEvidence, dict[str, Any]],
                           attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = uboot_read
    findings = run(evidence, manifest, required_strength={"serial": "signed", "regions": "measured"})
    by_subject = {f.subject: f.status for f in findings if f.check == "hw.strength"}
    assert by_subject == {"serial": Status.FAIL, "regions": Status.PASS}
    evidence, manifest = attest_read
    findings = run(evidence, manifest, required_strength={"serial": "signed", "components": "signed"})
    assert statuses(findings, "hw.strength") == {Status.PASS}


def test_self_reported_facts_are_listed(uboot_read: tuple[DeviceEvidence, dict[str, Any]],
                                        attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    findings = run(*uboot_read)
    (listing,) = [f for f in findings if f.check == "hw.self-reported"]
    assert listing.status is Status.WARN and "identity.serial" in listing.evidence["reported"]
    findings = run(*attest_read)
    assert statuses(findings, "hw.self-reported") == {Status.PASS}


def test_manufacturer_and_model_mismatch(uboot_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, manifest = uboot_read
    findings = run(evidence, {**manifest, "manufacturer": "Other Corp", "model": "RTU-10"})
    assert statuses(findings, "hw.manufacturer") == statuses(findings, "hw.model") == {Status.FAIL}


def test_evidence_round_trips(attest_read: tuple[DeviceEvidence, dict[str, Any]]) -> None:
    evidence, _ = attest_read
    again = DeviceEvidence.from_json(json.loads(evidence.to_bytes()))
    assert again == evidence


def test_ignored_component_serials_are_not_compared_and_the_manifest_is_not_rewritten(
    attest_read: tuple[DeviceEvidence, dict[str, Any]],
) -> None:
    """Policy ``component_serials = "ignore"`` reaches the judge as a rule; intake once rewrote the declaration."""
    from verifier.policy.model import ComponentSerials

    evidence, manifest = attest_read
    found = evidence.components[0]
    declared = {"class": found.cls, "manufacturer": found.manufacturer, "model": found.model,
                "serial": "NOT-THE-SERIAL", "required": True}
    others = [c for c in manifest["components"] if c["class"] != found.cls]
    typed = manifest_from_predicate({**manifest, "components": [declared, *others]})
    matched = check_device(evidence, typed)
    (component,) = [f for f in matched if f.check == "hw.components"]
    assert component.status is Status.FAIL and component.evidence["diff"]["changed"][0]["fields"] == ["serial"]
    ignored = check_device(evidence, typed, component_serials=ComponentSerials.IGNORE)
    assert statuses(ignored, "hw.components") == {Status.PASS}
    assert typed.components[0].serial == "NOT-THE-SERIAL"


def test_tpm_evidence_with_a_non_ascii_digit_pcr_index_is_bad_input() -> None:
    """'²'.isdigit() is True but int('²') raises: the index check is ASCII digits only, a clean bad input."""
    from hw.evidence import TpmEvidence
    from verifier.checks.measured_boot import tpm_inputs
    from verifier.errors import BadInputError

    with pytest.raises(BadInputError, match="not a PCR index"):
        tpm_inputs(TpmEvidence(pcrs={"sha256": {"\u00b2": "00" * 32}}, event_log_b64=None, quote=None,
                               ak_public_pem=None))


def test_component_diff_reads_the_typed_manifest() -> None:
    """The intake report's diff (once built from the predicate's JSON in intake.py): matched, changed, removed,
    added, each declared component paired once."""
    from verifier.checks.components import component_diff

    manifest = manifest_from_predicate({"components": [
        {"class": "nic", "manufacturer": "Intel", "model": "I210"},
        {"class": "flash", "manufacturer": "Winbond", "model": "W25Q", "serial": "S1"},
        {"class": "tpm", "manufacturer": "Infineon", "model": "SLB9670"},
    ]})
    found = (
        Component("nic", "Intel", "I210", None, None, "reported", "test"),
        Component("flash", "Winbond", "W25Q", "S2", None, "reported", "test"),
        Component("modem", "Quectel", "EG25", None, None, "reported", "test"),
    )
    diff = component_diff(manifest, found)
    assert [(d["change"], d["class"]) for d in diff] == [
        ("matched", "nic"), ("changed", "flash"), ("removed", "tpm"), ("added", "modem")]
    assert diff[1]["declared"] == {"manufacturer": "Winbond", "model": "W25Q", "serial": "S1", "revision": None}
    assert [d["change"] for d in component_diff(None, found)] == ["added"] * 3
