"""The spdm.* judges on evidence made here from the simulated responder: each passes honestly and fails its twin."""

from __future__ import annotations

import base64
import os
from dataclasses import replace

from hw.evidence import DeviceEvidence, SpdmRecord
from hw.spdm.profile import facts_of
from hw.spdm.requester import attest
from verifier.checks.spdm import judge_spdm, spdm_rules
from verifier.model import Status


class Direct:
    def __init__(self, tamper: frozenset[str] = frozenset(), versions: tuple[int, ...] = (0x12, 0x13)) -> None:
        from hw.sim.spdm import SpdmResponder

        self.responder = SpdmResponder(tamper=tamper, versions=versions)

    def request(self, message: bytes, *, timeout: float) -> bytes:
        return self.responder.respond(message)


def _evidence(tamper: frozenset[str] = frozenset(), versions: tuple[int, ...] = (0x12, 0x13)) -> DeviceEvidence:
    nonce = os.urandom(32)
    facts = facts_of(attest(Direct(tamper, versions), nonce=nonce, timeout=1).exchange, 0)
    return DeviceEvidence("spdm", "direct://", dict(facts.identity), spdm=facts.spdm, nonce=nonce.hex())


def _anchor(slot: int = 0) -> list[bytes]:
    from hw.sim.spdm import root_certificate

    return [root_certificate(slot)]


def _status(evidence: DeviceEvidence, **kwargs: object) -> dict[str, Status]:
    nonce = kwargs.pop("nonce", bytes.fromhex(evidence.nonce or ""))
    anchors = kwargs.pop("anchors", _anchor())
    verdict = judge_spdm(evidence, anchors, nonce=nonce, **kwargs)  # type: ignore[arg-type]
    return {f.check: f.status for f in verdict.findings}


def _declared() -> dict[int, str]:
    from hw.sim.spdm import measurement_record

    return {block[0]: block[7:].hex() for block in measurement_record("SHA-384")}


def test_honest_evidence_passes_every_spdm_check() -> None:
    status = _status(_evidence(), declared=_declared())
    assert set(status.values()) == {Status.PASS}
    assert set(status) == {"spdm.signature", "spdm.chain", "spdm.version", "spdm.algorithm",
                           "spdm.measurement-missing", "spdm.measurement-mismatch"}


def test_signature_twin_stale_nonce_and_edited_message() -> None:
    evidence = _evidence()
    assert _status(evidence, nonce=bytes(32))["spdm.signature"] is Status.FAIL
    assert evidence.spdm is not None
    messages = list(evidence.spdm.messages_b64)
    raw = bytearray(base64.b64decode(messages[-1]))
    raw[-1] ^= 0x01  # the signature's last byte
    messages[-1] = base64.b64encode(bytes(raw)).decode()
    edited = replace(evidence, spdm=SpdmRecord(tuple(messages), 0))
    assert _status(edited)["spdm.signature"] is Status.FAIL
    truncated = replace(evidence, spdm=SpdmRecord(tuple(messages[:-1]), 0))
    assert _status(truncated)["spdm.signature"] is Status.FAIL


def test_chain_twin_same_name_other_key_and_no_anchor() -> None:
    evidence = _evidence()
    assert _status(evidence, anchors=_anchor(1))["spdm.chain"] is Status.FAIL
    assert _status(evidence, anchors=[])["spdm.chain"] is Status.SKIP
    assert _status(_evidence(frozenset({"wrong-device-key"})))["spdm.chain"] is Status.FAIL


def test_version_and_algorithm_twins() -> None:
    old = _evidence(versions=(0x11,))
    assert _status(old)["spdm.version"] is Status.PASS
    assert _status(old, rules=spdm_rules("1.2", ()))["spdm.version"] is Status.FAIL
    weak = _evidence(frozenset({"weak-algorithms"}))
    assert _status(weak)["spdm.algorithm"] is Status.PASS
    assert _status(weak, rules=spdm_rules(None, ("ECDSA-P384", "SHA-384")))["spdm.algorithm"] is Status.FAIL


def test_measurement_twins() -> None:
    declared = _declared()
    status = _status(_evidence(frozenset({"swapped-firmware"})), declared=declared)
    assert status["spdm.measurement-mismatch"] is Status.FAIL and status["spdm.measurement-missing"] is Status.PASS
    status = _status(_evidence(), declared={**declared, 0x20: "00" * 48})
    assert status["spdm.measurement-missing"] is Status.FAIL
    # Unproven measurements are not compared: a required skip, never a pass.
    status = _status(_evidence(frozenset({"flipped-measurement"})), declared=declared)
    assert status["spdm.measurement-mismatch"] is Status.SKIP


def test_the_summary_the_file_writes_is_never_read() -> None:
    evidence = _evidence(frozenset({"bad-signature"}))
    assert evidence.spdm is not None
    lying = replace(evidence, spdm=SpdmRecord(evidence.spdm.messages_b64, 0, {"measurements_signature_verified": True}))
    round_trip = DeviceEvidence.from_json(lying.to_json())
    assert _status(round_trip)["spdm.signature"] is Status.FAIL
