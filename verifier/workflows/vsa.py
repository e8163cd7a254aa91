"""Intake's own result as a SLSA Verification Summary Attestation (VSA v1), signed with the operator's key.

It records who verified (provcheck and its version), against which policy (its sha256),
from which inputs (each release envelope, by digest), about which device (its identity
in ``resourceUri`` and the digest of its evidence as a subject) and the result.

A VSA knows only PASSED and FAILED. Inconclusive is not a pass, so it is recorded as
FAILED, with provcheck's own verdict in ``verifiedLevels`` (custom values, which the
spec allows when they do not start with ``SLSA_``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from attestations import predicates
from attestations.dsse import Envelope, sign_envelope
from attestations.keys import Signer
from attestations.statement import Subject, build_statement
from verifier import __version__
from verifier.model import Verdict
from verifier.output.sanitize import storable

VERIFIER_ID = "https://provcheck.dev/intake/v1"
_LEVEL = {
    Verdict.PASS: "PROVCHECK_INTAKE_PASSED",
    Verdict.FAIL: "PROVCHECK_INTAKE_FAILED",
    Verdict.INCONCLUSIVE: "PROVCHECK_INTAKE_INCONCLUSIVE",
}


@dataclass(frozen=True)
class InputAttestation:
    uri: str
    sha256: str


@dataclass(frozen=True)
class DeviceIdentity:
    manufacturer: str
    model: str
    serial: str
    evidence_sha256: str | None

    @property
    def resource_uri(self) -> str:
        # backslashreplace: a lone surrogate from hostile evidence is written escaped, not a crash.
        parts = [quote(p or "unknown", safe="", errors="backslashreplace")
                 for p in (self.manufacturer, self.model, self.serial)]
        return "urn:provcheck:device:" + ":".join(parts)


def input_attestations(bundle: Path, envelopes: Sequence[Envelope]) -> list[InputAttestation]:
    """Each release envelope by position and by the sha256 of its signed payload."""
    return [
        InputAttestation(f"{bundle.name}#{index + 1}", hashlib.sha256(envelope.payload).hexdigest())
        for index, envelope in enumerate(envelopes)
    ]


def build_vsa(
    *,
    verdict: Verdict,
    policy_uri: str,
    policy_sha256: str,
    inputs: Sequence[InputAttestation],
    device: DeviceIdentity | None,
    firmware: Sequence[Subject],
    time_verified: datetime | None = None,
) -> tuple[list[Subject], dict[str, Any]]:
    """The subjects and predicate of the VSA (unsigned)."""
    subjects = list(firmware)
    if device is not None and device.evidence_sha256:
        # The serial is the device's word: a lone surrogate in it is written as text, or the statement is ambiguous.
        name = storable(f"device:{device.serial or 'unknown'}")
        subjects.append(Subject(name, {"sha256": device.evidence_sha256}))
    if not subjects:
        # A VSA about nothing identifiable would vouch for anything: bind it to the policy at least.
        subjects.append(Subject("policy", {"sha256": policy_sha256}))
    when = (time_verified or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    predicate: dict[str, Any] = {
        "verifier": {"id": VERIFIER_ID, "version": {"provcheck": __version__}},
        "timeVerified": when,
        "resourceUri": device.resource_uri if device is not None else f"urn:provcheck:release:{subjects[0].name}",
        "policy": {"uri": policy_uri, "digest": {"sha256": policy_sha256}},
        "inputAttestations": [{"uri": i.uri, "digest": {"sha256": i.sha256}} for i in inputs],
        "verificationResult": "PASSED" if verdict is Verdict.PASS else "FAILED",
        "verifiedLevels": [_LEVEL[verdict]],
        "slsaVersion": "1.0",
    }
    return subjects, predicate


def sign_vsa(subjects: Sequence[Subject], predicate: Mapping[str, Any], signer: Signer) -> Envelope:
    payload = build_statement(subjects, predicates.SLSA_VSA_V1, predicate)
    return sign_envelope(payload, predicates.INTOTO_PAYLOAD_TYPE, [signer])
