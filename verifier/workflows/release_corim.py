"""``release sign --corim``: the release's declared measurements as a signed CoRIM (``NAME.corim``).

One CoMID, one reference triple for the device class the device manifest declares (vendor and model), holding:
- each shipped image's sha256, sha384 and sha512 (``image/NAME``);
- the sha256 of each loaded section its firmware manifest declares (``image/NAME/section/SECTION``), unless the
  shipped image is a raw image laid out from its ELF build (it has no section table to measure);
- each firmware region the device manifest declares with a digest (``region/NAME``);
- the PCR values the device manifest's ``boot_measurements`` declare, as the integrity registers of ``tpm/pcrs``
  (sha256, sha384 and sha512 banks; a sha1 bank is not written: it could never be matched), and its allowed event
  digests as the digests of ``tpm/events`` (a set: each boot image or firmware blob the log records must be one).
The keys are those ``verifier.checks.reference_values`` matches at intake. Signed (COSE_Sign1) with the release key
by ``attestations.corim``'s writer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from attestations.corim.build import ReferenceMeasurement, build_reference_corim, sign_reference_corim
from attestations.corim.model import ClassMap, Digest, Measurement, MeasurementValues
from attestations.keys import Signer
from attestations.statement import digest_file
from verifier.checks.reference_values import (
    ALGORITHM_IDS,
    DIGEST_LENGTHS,
    EVENTS_MEASUREMENT,
    PCR_MEASUREMENT,
    image_key,
    loaded_sections,
    region_key,
    section_key,
    spdm_key,
)
from verifier.declared.device_manifest import DeviceManifest
from verifier.errors import UsageError

#: The CoRIM id namespace of provcheck releases (a UUIDv5 of the release's name, version and creation time).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://provcheck.dev/release-corim/v1")


def corim_name(release_name: str) -> str:
    return f"{Path(release_name).name}.corim"


def release_corim(
    *,
    name: str,
    version: str,
    created: str,
    images: Sequence[tuple[Path, Mapping[str, Any]]],
    device: DeviceManifest | None,
    signers: Sequence[Signer],
) -> bytes:
    """The signed CoRIM of a release: ``images`` are (shipped file, its firmware-manifest predicate)."""
    if device is None or not device.manufacturer or not device.model:
        raise UsageError("--corim needs a --device-manifest that declares the manufacturer and model: reference "
                         "values are given for a device class")
    measurements: list[ReferenceMeasurement] = []
    for path, predicate in images:
        digests = digest_file(path, ("sha256", "sha384", "sha512"))
        values = {k: bytes.fromhex(v) for k, v in digests.items()}
        measurements.append(ReferenceMeasurement(image_key(path.name), values))
        raw = predicate.get("raw_image")
        if isinstance(raw, Mapping) and raw.get("image_sha256"):
            continue  # a raw image laid out from its ELF: no section table in what ships
        sections = predicate.get("sections")
        items = [s for s in sections if isinstance(s, Mapping)] if isinstance(sections, list) else []
        for label, digest in loaded_sections(items):
            measurements.append(ReferenceMeasurement(section_key(path.name, label), {"sha256": digest}))
    for region in device.firmware_regions:
        if region.sha256:
            measurements.append(ReferenceMeasurement(region_key(region.name), {"sha256": bytes.fromhex(region.sha256)}))
    for declared in device.spdm_measurements:
        value = bytes.fromhex(declared.value)
        spdm_alg = DIGEST_LENGTHS.get(len(value))
        if spdm_alg is not None:
            measurements.append(ReferenceMeasurement(spdm_key(declared.index), {spdm_alg: value}))
    by_index: dict[int, dict[str, bytes]] = {}
    for bank, bank_values in device.boot.pcrs.items():
        bank_name = bank.lower().replace("-", "")
        if bank_name not in ALGORITHM_IDS:
            continue
        for index, value in bank_values.items():
            by_index.setdefault(index, {})[bank_name] = value
    if by_index:
        registers: dict[int | str, dict[str, bytes]] = {i: by_index[i] for i in sorted(by_index)}
        measurements.append(ReferenceMeasurement(PCR_MEASUREMENT, integrity_registers=registers))
    allowed: list[Digest] = []
    for bank, hexes in sorted(device.boot.allowed_event_digests.items()):
        alg = ALGORITHM_IDS.get(bank.lower().replace("-", ""))
        if alg is not None:
            allowed += [Digest(alg, bytes.fromhex(h)) for h in sorted(hexes)]
    corim_id = uuid.uuid5(_NAMESPACE, f"{name}\n{version}\n{created}")
    corim = build_reference_corim(
        corim_id,
        ClassMap(vendor=device.manufacturer, model=device.model),
        measurements,
        creator=device.manufacturer,
        tag_id=uuid.uuid5(corim_id, "comid"),
    )
    if allowed:
        # A set of allowed values: several digests of one algorithm, which the builder's mapping cannot hold.
        events = Measurement(mkey=EVENTS_MEASUREMENT, mval=MeasurementValues(digests=tuple(allowed)))
        (comid,) = corim.comids
        (triple,) = comid.triples.reference
        triple = replace(triple, measurements=(*triple.measurements, events))
        comid = replace(comid, triples=replace(comid.triples, reference=(triple,)))
        corim = replace(corim, tags=(comid,))
    # One COSE_Sign1 signature: the first release key signs (a CoRIM carries one signer).
    return sign_reference_corim(corim, signers[0], device.manufacturer)
