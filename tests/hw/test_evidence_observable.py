"""The evidence states what its profile could observe, and the judge reads that, within the registry's bounds.

The judge used to keep its own table of what each profile sees. Now the statement travels in the evidence
file, which is the attacker's to write: saying it saw more than its profile can must not make made-up facts
count, and saying it saw less must not turn a missing part into a pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from hw.errors import EvidenceInputError
from hw.evidence import DeviceEvidence, Observable
from hw.observation import observed
from hw.reader import read_device
from hw.sim import Simulator
from hw.uboot import UBOOT
from verifier.checks.device import check_device
from verifier.declared.device_manifest import manifest_from_predicate
from verifier.model import Finding, Status, Verdict, judge

# A part U-Boot cannot see, declared beside the flash chip it can.
NIC = {"class": "nic", "manufacturer": "0x8086", "model": "0x1533", "serial": None, "revision": None,
       "required": True}


@pytest.fixture(scope="module")
def uboot_read() -> tuple[dict[str, Any], dict[str, Any]]:
    with Simulator("uboot") as sim:
        manifest = sim.declared_manifest()
        evidence = read_device(sim.port, profile="uboot", timeout=30, read_timeout=2,
                               regions=manifest_from_predicate(manifest).region_specs())
    return evidence.to_json(), {**manifest, "components": [*manifest["components"], NIC]}


def judged(evidence: dict[str, Any], manifest: dict[str, Any]) -> list[Finding]:
    return check_device(DeviceEvidence.from_json(evidence), manifest_from_predicate(manifest))


def components(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.check == "hw.components"]


def test_evidence_states_what_its_profile_observed(uboot_read: tuple[dict[str, Any], dict[str, Any]]) -> None:
    evidence, _ = uboot_read
    assert evidence["observable"] == {"component_classes": ["flash"]}
    loaded = DeviceEvidence.from_json(evidence)
    assert loaded.observable == UBOOT.observable == observed(loaded)
    assert loaded.to_json() == evidence


def test_evidence_written_before_it_stated_observation_is_judged_by_its_profile(
    uboot_read: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    evidence, manifest = uboot_read
    old = {k: v for k, v in evidence.items() if k != "observable"}
    assert DeviceEvidence.from_json(old).observable is None
    assert DeviceEvidence.from_json(old).to_json() == old
    findings = components(judged(old, manifest))
    assert findings == components(judged(evidence, manifest))
    skipped_nic = [f for f in findings if f.status is Status.SKIP]
    assert [(f.message, f.required) for f in skipped_nic] == [("the uboot profile cannot see nic components", False)]
    assert judge(judged(old, manifest)) is Verdict.PASS


@pytest.mark.parametrize("claim", ["any", ["flash", "nic"]])
def test_evidence_cannot_widen_what_its_profile_observes(
    uboot_read: tuple[dict[str, Any], dict[str, Any]], claim: Any
) -> None:
    evidence, manifest = uboot_read
    forged_nic = {**NIC, "strength": "reported", "source": "made up"}
    forged_nic.pop("required")
    widened = {**evidence, "observable": {"component_classes": claim},
               "components": [*evidence["components"], forged_nic]}
    assert observed(DeviceEvidence.from_json(widened)) == UBOOT.observable
    findings = components(judged(widened, manifest))
    # Without the cut to the registry's bounds the made-up NIC would match the declared one and pass.
    assert Status.PASS not in {f.status for f in findings}
    assert any(f.message == "the uboot profile cannot see nic components" for f in findings)


def test_evidence_narrowing_what_it_observed_cannot_pass_a_part_it_hides(
    uboot_read: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    evidence, manifest = uboot_read
    without_flash = {**evidence, "components": [c for c in evidence["components"] if c["class"] != "flash"]}
    assert judge(judged(without_flash, manifest)) is Verdict.FAIL
    narrowed = {**without_flash, "observable": {"component_classes": []}}
    findings = judged(narrowed, manifest)
    flash = [f for f in components(findings) if "flash" in f.message]
    assert [(f.status, f.required) for f in flash] == [(Status.SKIP, True)]
    assert judge(findings) is Verdict.INCONCLUSIVE


def test_narrowed_attest_evidence_still_fails_a_swapped_part() -> None:
    with Simulator("attest", tamper=["swapped-component"]) as sim:
        manifest = sim.declared_manifest()
        evidence = read_device(sim.port, profile="attest", timeout=30, read_timeout=2).to_json()
    assert evidence["observable"] == {"component_classes": "any"}
    narrowed = {**evidence, "observable": {"component_classes": ["flash"]}}
    findings = judged(narrowed, manifest)
    assert judge(findings) is Verdict.FAIL
    assert Status.FAIL in {f.status for f in components(findings)}


def test_evidence_naming_a_profile_provcheck_does_not_know_checks_no_part_silently(
    uboot_read: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    evidence, manifest = uboot_read
    renamed = {**evidence, "profile": "uboot2", "components": []}
    assert observed(DeviceEvidence.from_json(renamed)) == Observable.of()
    skips = [f for f in components(judged(renamed, manifest)) if f.status is Status.SKIP]
    assert len(skips) == len(manifest["components"]) and all(f.required for f in skips)
    assert judge(judged(renamed, manifest)) is Verdict.INCONCLUSIVE


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([], "'observable' must be an object"),
        ({"component_classes": "everything"}, "'observable.component_classes'"),
        ({"component_classes": ["nic", 7]}, "'observable.component_classes'"),
        ({}, "'observable.component_classes'"),
    ],
)
def test_malformed_observable_is_bad_evidence(
    uboot_read: tuple[dict[str, Any], dict[str, Any]], value: Any, words: str
) -> None:
    evidence, _ = uboot_read
    with pytest.raises(EvidenceInputError, match=words):
        DeviceEvidence.from_json({**evidence, "observable": value})


def test_observable_compares_classes_as_the_judge_does() -> None:
    assert Observable.of("Flash ").sees("  FLASH") and not Observable.of("flash").sees("nic")
    assert Observable.ANY.sees("anything") and Observable.ANY.within(UBOOT.observable) == UBOOT.observable
    assert Observable.of("flash", "nic").within(Observable.of("nic")) == Observable.of("nic")
