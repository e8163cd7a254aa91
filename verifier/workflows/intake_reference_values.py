"""Intake step: the reference values (CoRIM) given with ``--reference-values``, against what this intake measured.

1. read each CoRIM strictly (bad CBOR is bad input, exit 2, naming the file and the field) and verify its signature
   with the keys of the policy's ``[reference_values] signers``: a CoRIM no listed key signed (or not signed at all)
   is a failing ``refval.signature`` and contributes nothing;
2. take the device's class (vendor, model) from what the device gave, else from the release's verified device
   manifest; never from the image;
3. collect what provcheck measured: the image's sha256/384/512 and its sections' sha256 (computed here from the
   file), the firmware regions the device measured, the PCRs of its TPM evidence and the boot images and firmware
   blobs of an event log that replays to them, and the digest blocks of an SPDM exchange whose MEASUREMENTS
   signature and certificate chain provcheck verified again here;
4. judge them (``verifier.checks.reference_values``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from attestations.corim import cbor
from attestations.corim.document import load_document
from attestations.corim.model import CoRIM, Document, Oid
from attestations.errors import AttestationError
from attestations.files import read_limited
from attestations.keys import PublicKey, load_public_keys
from hw.errors import HardwareError
from hw.evidence import DeviceEvidence
from hw.tpm.bootstate import boot_facts
from hw.tpm.eventlog import parse_event_log
from hw.tpm.replay import compare
from verifier.checks.measured_boot import tpm_inputs
from verifier.checks.reference_values import (
    EVENTS_MEASUREMENT,
    PCR_MEASUREMENT,
    DeviceClass,
    EnvironmentClass,
    MeasuredComponent,
    ReferenceDigest,
    ReferenceMeasurement,
    ReferenceValues,
    check_reference_values,
    event_key,
    image_key,
    loaded_sections,
    pcr_key,
    region_key,
    section_key,
    spdm_key,
)
from verifier.checks.spdm import anchors_from_pem, judge_spdm
from verifier.checks.strength import recorded_nonce
from verifier.declared.device_manifest import DeviceManifest
from verifier.errors import BadInputError
from verifier.firmware.inventory import build_manifest
from verifier.model import Finding, Status, skipped
from verifier.policy.model import Policy
from verifier.workflows.corim import corim_findings

log = logging.getLogger(__name__)

#: Section digests are read from images no larger than this (the whole file is parsed once more for them).
MAX_SECTION_IMAGE = 256 * 1024 * 1024


@dataclass(frozen=True)
class CorimFile:
    """One ``--reference-values`` file, decoded (nothing verified yet), and the CoRIM it holds (a bare CoMID is
    wrapped in one, so that it can be reported; it is never signed, so never used)."""

    path: Path
    document: Document
    corim: CoRIM


@dataclass(frozen=True)
class ReferenceValueFiles:
    """What intake reads before the device: every ``--reference-values`` file and the keys allowed to sign them."""

    files: tuple[CorimFile, ...]
    keys: tuple[PublicKey, ...]


def read_reference_values(paths: Sequence[Path], policy: Policy) -> ReferenceValueFiles:
    """Decode every file strictly and load the policy's signer keys: a file that is not a CoRIM, or a key that
    cannot be read, is bad input (exit 2) naming it, before anything is judged."""
    files = tuple(_read(path) for path in paths)
    return ReferenceValueFiles(files, tuple(_signer_keys(policy.reference_values.signers)) if files else ())


def judge_reference_values(
    given: ReferenceValueFiles,
    policy: Policy,
    firmware: Path | None,
    digests: Mapping[str, str],
    evidence: DeviceEvidence | None,
    manifest: DeviceManifest | BadInputError | None,
    now: datetime,
) -> list[Finding]:
    """Every finding of the reference-values step."""
    rules = policy.reference_values
    if not given.files:
        if rules.required:
            return [skipped("refval.match", "the policy requires reference values; give --reference-values",
                            "reference values")]
        return []
    findings: list[Finding] = []
    references: list[ReferenceValues] = []
    for item in given.files:
        trusted, judged = _verify(item, given.keys, now)
        findings += judged
        references += trusted
    measured: list[MeasuredComponent] = []
    if firmware is not None:
        measured += image_components(firmware, digests)
        try:
            measured += section_components(firmware)
        except Exception as exc:  # a LIEF or inventory failure: the firmware scan reports it; the image digest stands
            log.debug("sections of %s", firmware, exc_info=True)
            findings.append(skipped("refval.match", f"the sections of {firmware.name} could not be read "
                                    f"({type(exc).__name__}); only the image digest is compared", firmware.name,
                                    required=False))
    if evidence is not None:
        measured += region_components(evidence)
        measured += pcr_components(evidence)
        measured += event_components(evidence)
        spdm, notes = spdm_components(evidence, manifest)
        measured += spdm
        findings += notes
    findings += check_reference_values(device_class(evidence, manifest), measured, references,
                                       missing=rules.missing.value)
    return findings


# --- what the device is ----------------------------------------------------------------------------------


def device_class(
    evidence: DeviceEvidence | None, manifest: DeviceManifest | BadInputError | None
) -> DeviceClass | None:
    """The device's vendor and model: as the device gave them (with the strength provcheck verified), else as the
    release's verified device manifest declares them."""
    if evidence is not None:
        vendor, model = evidence.fact("manufacturer"), evidence.fact("model")
        if vendor is not None and model is not None and isinstance(vendor.value, str) and isinstance(model.value, str) \
                and vendor.value and model.value:
            strengths = sorted({vendor.strength, model.strength})
            return DeviceClass(vendor.value, model.value, f"the device ({'/'.join(strengths)})")
    if isinstance(manifest, DeviceManifest) and manifest.manufacturer and manifest.model:
        return DeviceClass(manifest.manufacturer, manifest.model, "the release's device manifest")
    return None


# --- what provcheck measured -------------------------------------------------------------------------------


def image_components(firmware: Path, digests: Mapping[str, str]) -> list[MeasuredComponent]:
    values = {name: bytes.fromhex(value) for name, value in digests.items() if name in ("sha256", "sha384", "sha512")}
    return [MeasuredComponent(image_key(firmware.name), values, "computed by provcheck from the file")]


def section_components(firmware: Path) -> list[MeasuredComponent]:
    """The sha256 of each loaded section, as the firmware inventory computes it from the image's own section table:
    these only say where a change is; the image digest is what a match of the image rests on."""
    if firmware.stat().st_size > MAX_SECTION_IMAGE:
        return []
    sections = build_manifest(firmware).to_predicate().get("sections")
    if not isinstance(sections, list):
        return []
    items = [s for s in sections if isinstance(s, Mapping)]
    return [MeasuredComponent(section_key(firmware.name, label), {"sha256": digest},
                              "computed by provcheck from the file's section table")
            for label, digest in loaded_sections(items)]


def region_components(evidence: DeviceEvidence) -> list[MeasuredComponent]:
    out: list[MeasuredComponent] = []
    for region in evidence.regions:
        algorithm = region.algorithm.lower().replace("-", "")
        if region.weak or algorithm not in ("sha256", "sha384", "sha512"):
            digests: dict[str, bytes] = {}
        else:
            try:
                digests = {algorithm: bytes.fromhex(region.digest)}
            except ValueError:
                digests = {}
        out.append(MeasuredComponent(
            region_key(region.name), digests, f"measured by the device ({region.strength})",
            {"algorithm": region.algorithm, "strength": region.strength, "method": region.method}))
    return out


def pcr_components(evidence: DeviceEvidence) -> list[MeasuredComponent]:
    """Each PCR the device gave, every bank as one algorithm of it; the strength provcheck verified is named
    (``signed`` only for values a verified quote over this intake's nonce covers). A PCR still at its reset value
    is judged only when a reference names it (a declared PCR left at zero is still a mismatch)."""
    tpm = evidence.tpm
    if tpm is None:
        return []
    by_index: dict[int, dict[str, bytes]] = {}
    for bank, values in tpm.pcrs.items():
        name = bank.lower().replace("-", "")
        for index, value in values.items():
            if not index.isdigit():
                continue
            try:
                by_index.setdefault(int(index), {})[name] = bytes.fromhex(value.lower().removeprefix("0x"))
            except ValueError:
                continue
    return [MeasuredComponent(pcr_key(index), digests, f"TPM PCR ({tpm.strength})", {"strength": tpm.strength},
                              optional=all(_reset(v) for v in digests.values()))
            for index, digests in sorted(by_index.items())]


def event_components(evidence: DeviceEvidence) -> list[MeasuredComponent]:
    """Each boot image and firmware blob the TPM event log records, with its digest in every bank, judged against
    the allowed event digests (``tpm/events``). Only a log that replays to the PCRs the device gave is read (else
    ``tpm.eventlog.replay`` fails and the log is the device's word), and no event whose data does not hash to its
    digest."""
    tpm = evidence.tpm
    if tpm is None or not tpm.event_log_b64:
        return []
    try:
        inputs = tpm_inputs(tpm)
        if inputs.event_log is None:
            return []
        log = parse_event_log(inputs.event_log)
    except (BadInputError, HardwareError, ValueError):
        return []
    comparison = compare(log, inputs.reported_pcrs)
    if comparison.mismatches or not comparison.matched:
        return []
    facts = boot_facts(log)
    events = sorted([image.event for image in facts.images] + list(facts.firmware_blobs), key=lambda e: e.number)
    out: list[MeasuredComponent] = []
    for event in events:
        if event.data_matches_digest() is False:
            continue
        digests = {bank.lower().replace("-", ""): value for bank, value in event.digests.items()}
        out.append(MeasuredComponent(
            event_key(event.number), digests, f"TPM event log ({tpm.strength}, replays to the PCRs)",
            {"event": event.label(), "strength": tpm.strength}, reference_key=EVENTS_MEASUREMENT, member=True))
    return out


#: SPDM measurement hash names (hw.spdm.messages) as the judge names algorithms.
_SPDM_HASHES = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64}


def spdm_components(
    evidence: DeviceEvidence, manifest: DeviceManifest | BadInputError | None
) -> tuple[list[MeasuredComponent], list[Finding]]:
    """Each digest block of the device's SPDM MEASUREMENTS as ``spdm/INDEX``, under the negotiated measurement hash,
    and a note for what is left out. The strength is derived here, never read: the recorded exchange is replayed and
    its signatures verified again (``verifier.checks.spdm``) against the trust anchor of the release's verified
    device manifest and the nonce the evidence was read with (whether that read was this intake's is
    ``hw.nonce``'s finding). Blocks of an exchange that does not verify contribute nothing; raw bit-stream blocks
    are not compared (a CoRIM raw value is not judged yet)."""
    if evidence.profile != "spdm" or evidence.spdm is None:
        return [], []
    subject = "spdm"
    ca_pem = manifest.identity.ca_pem if isinstance(manifest, DeviceManifest) and manifest.identity else None
    try:
        anchors = anchors_from_pem([ca_pem]) if ca_pem else []
    except ValueError:
        anchors = []
    verdict = judge_spdm(evidence, anchors, nonce=recorded_nonce(evidence))
    exchange = verdict.exchange
    if not (verdict.signature_ok and verdict.chain_ok) or exchange is None or exchange.algorithms is None:
        return [], [skipped("refval.match", "the SPDM measurement blocks are not compared with reference values: "
                            "their signature or certificate chain did not verify (see spdm.signature, spdm.chain)",
                            subject, required=False)]
    algorithm = _SPDM_HASHES.get(exchange.algorithms.measurement_hash_name)
    out: list[MeasuredComponent] = []
    left: list[int] = []
    for block in verdict.blocks:
        value = bytes.fromhex(block.value)
        if block.strength != "signed" or block.form != "digest" or algorithm is None \
                or len(value) != _LENGTHS[algorithm]:
            left.append(block.index)
            continue
        out.append(MeasuredComponent(
            spdm_key(block.index), {algorithm: value}, "SPDM measurement block (signed)",
            {"type": block.type_name, "algorithm": exchange.algorithms.measurement_hash_name, "strength": "signed"}))
    notes = []
    if left:
        notes.append(skipped("refval.match", f"SPDM measurement blocks {left} are raw values (or not a digest of a "
                             "hash provcheck compares), which are not compared with reference values", subject,
                             required=False))
    return out, notes


def _reset(value: bytes) -> bool:
    """A PCR value nothing was extended into (all zeros; all ones for the locality PCRs 17-22)."""
    return value in (bytes(len(value)), b"\xff" * len(value))


# --- the CoRIMs -----------------------------------------------------------------------------------------------


def reference_values_of(corim: CoRIM, source: str, signer: str) -> list[ReferenceValues]:
    """The reference triples of a verified CoRIM, as the judge reads them."""
    out: list[ReferenceValues] = []
    for comid in corim.comids:
        tag = comid.tag_identity.tag_id
        for triple in comid.triples.reference:
            env = triple.environment
            cls = env.class_
            specific = []
            if cls is None:
                vendor = model = None
            else:
                vendor, model = cls.vendor, cls.model
                if cls.class_id is not None:
                    specific.append(f"class-id {cls.class_id if isinstance(cls.class_id, Oid) else 'given'}")
                if cls.layer is not None:
                    specific.append(f"layer {cls.layer}")
                if cls.index is not None:
                    specific.append(f"index {cls.index}")
            if env.instance is not None:
                specific.append("instance")
            if env.group is not None:
                specific.append("group")
            measurements: list[ReferenceMeasurement] = []
            for m in triple.measurements:
                digests = tuple(ReferenceDigest(d.alg, d.value) for d in m.mval.digests)
                if isinstance(m.mkey, str) and digests:
                    measurements.append(ReferenceMeasurement(m.mkey, digests))
                if m.mkey is None or m.mkey == PCR_MEASUREMENT:
                    for register in m.mval.integrity_registers:
                        if isinstance(register.register, int):
                            measurements.append(ReferenceMeasurement(
                                pcr_key(register.register),
                                tuple(ReferenceDigest(d.alg, d.value) for d in register.digests)))
            out.append(ReferenceValues(source if len(corim.comids) == 1 else f"{source} (CoMID {tag})", signer,
                                       EnvironmentClass(vendor, model, tuple(specific)), tuple(measurements)))
    return out


def _read(path: Path) -> CorimFile:
    data = read_limited(path, limit=cbor.MAX_SIZE, what="reference values")
    try:
        document = load_document(data)
    except AttestationError as exc:
        raise BadInputError(f"--reference-values {path.name}: {exc}") from None
    if document.corim is not None:
        return CorimFile(path, document, document.corim)
    if document.comid is not None:
        return CorimFile(path, document, CoRIM(id=f"bare CoMID {document.comid.tag_identity.tag_id}",
                                               tags=(document.comid,)))
    raise BadInputError(f"--reference-values {path.name}: is a {document.kind}, not reference values (a CoRIM)")


def _signer_keys(paths: Sequence[Path]) -> list[PublicKey]:
    keys: list[PublicKey] = []
    for path in paths:
        try:
            keys += load_public_keys(path)
        except AttestationError as exc:
            raise BadInputError(f"[reference_values] signers: {exc}") from None
    return keys


def _verify(item: CorimFile, keys: Sequence[PublicKey], now: datetime) -> tuple[list[ReferenceValues],
                                                                                list[Finding]]:
    """The CoRIM's reference values when a policy key verified it and every validity it declares holds now; its
    findings either way (``refval.format``, ``refval.signature``, ``refval.validity``: ``verifier.checks.corim``)."""
    name = item.path.name
    label = f"{name} (CoRIM {item.corim.id})"
    findings = corim_findings(item.document, keys, now, name)
    signature = next(f for f in findings if f.check == "refval.signature")
    keyid = signature.evidence.get("keyid")
    trusted = signature.status is Status.PASS and isinstance(keyid, str) and bool(keyid) and not any(
        f.status in (Status.FAIL, Status.ERROR) for f in findings)
    unused = "" if trusted else "; its reference values are not used"
    # A CoRIM that declares no validity period is not a shortfall (a skip would fail a --strict intake): left out.
    findings = [replace(f, message=f"{label}: {f.message}{unused if f.status is Status.FAIL else ''}")
                for f in findings
                if f.check != "refval.format" and not (f.check == "refval.validity" and f.status is Status.SKIP)]
    if not trusted or not isinstance(keyid, str):
        return [], findings
    return reference_values_of(item.corim, name, keyid), findings
