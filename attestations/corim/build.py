"""Build the CoRIM a release declares: one CoMID of reference values for one device class, ready to sign.

Hand-written on the typed model (no CoRIM library exists on PyPI). ``build_reference_corim`` makes the model,
``attestations.corim.cose.sign_corim`` signs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from attestations.corim.cose import sign_corim
from attestations.corim.errors import CorimFormatError
from attestations.corim.model import (
    NI_IDS_BY_NAME,
    ClassMap,
    ComID,
    CoRIM,
    CorimMeta,
    CorimSigner,
    Digest,
    Entity,
    Environment,
    IntegrityRegister,
    MeasuredElement,
    Measurement,
    MeasurementValues,
    Oid,
    RawValue,
    ReferenceTriple,
    Svn,
    TagIdentity,
    Triples,
    Validity,
    VersionInfo,
)
from attestations.keys import Signer

#: hashlib-style names accepted for digests -> the registry name.
_DIGEST_NAMES = {
    "sha256": "sha-256",
    "sha-256": "sha-256",
    "sha384": "sha-384",
    "sha-384": "sha-384",
    "sha512": "sha-512",
    "sha-512": "sha-512",
    "sha3-256": "sha3-256",
    "sha3_256": "sha3-256",
    "sha3-384": "sha3-384",
    "sha3_384": "sha3-384",
    "sha3-512": "sha3-512",
    "sha3_512": "sha3-512",
}


@dataclass(frozen=True)
class ReferenceMeasurement:
    """One reference value: what is measured (``mkey``: a name, a number, an OID or a UUID) and its digests.

    ``digests`` maps an algorithm (``sha256``/``sha-256``, ``sha384``, ``sha512``, ``sha3-*``) to the digest bytes.
    """

    mkey: MeasuredElement | None
    digests: Mapping[str, bytes] = field(default_factory=dict)
    svn: int | None = None
    min_svn: bool = False
    version: str | None = None
    version_scheme: int | str | None = None
    name: str | None = None
    #: Expected integrity registers (PCRs): register (index or name) -> {algorithm: digest}.
    integrity_registers: Mapping[int | str, Mapping[str, bytes]] = field(default_factory=dict)
    raw_value: bytes | None = None
    raw_mask: bytes | None = None


def digests_from(mapping: Mapping[str, bytes], path: str) -> tuple[Digest, ...]:
    out = []
    for alg, value in mapping.items():
        name = _DIGEST_NAMES.get(alg.lower())
        if name is None:
            raise CorimFormatError(path, f"digest algorithm {alg!r} is not one the writer knows")
        out.append(Digest(NI_IDS_BY_NAME[name], bytes(value)))
    return tuple(out)


def reference_measurement(m: ReferenceMeasurement, path: str = "measurement") -> Measurement:
    if not (m.digests or m.integrity_registers or m.raw_value is not None) and m.svn is None and m.version is None:
        raise CorimFormatError(path, "needs a digest, integrity registers, a raw value, an svn or a version")
    if m.raw_mask is not None and m.raw_value is None:
        raise CorimFormatError(f"{path}.raw_mask", "given without a raw value")
    registers = tuple(
        IntegrityRegister(register, digests_from(digests, f"{path}.integrity_registers[{register!r}]"))
        for register, digests in m.integrity_registers.items()
    )
    raw = None
    if m.raw_value is not None:
        raw = RawValue(m.raw_value, mask=m.raw_mask, masked_form=m.raw_mask is not None)
    return Measurement(
        mkey=m.mkey,
        mval=MeasurementValues(
            version=VersionInfo(m.version, m.version_scheme) if m.version is not None else None,
            svn=Svn(m.svn, minimum=m.min_svn) if m.svn is not None else None,
            digests=digests_from(m.digests, f"{path}.digests"),
            raw_value=raw,
            name=m.name,
            integrity_registers=registers,
        ),
    )


def build_reference_corim(
    corim_id: str | uuid.UUID,
    environment: ClassMap,
    measurements: Sequence[ReferenceMeasurement],
    *,
    validity: Validity | None = None,
    creator: str | None = None,
    creator_uri: str | None = None,
    tag_id: str | uuid.UUID | None = None,
    tag_version: int = 0,
    profile: str | Oid | None = None,
) -> CoRIM:
    """A CoRIM holding one CoMID whose reference triple gives ``measurements`` for the ``environment`` class."""
    if not measurements:
        raise CorimFormatError("measurements", "a reference CoRIM needs at least one measurement")
    entities = (Entity(name=creator, roles=(0, 1), reg_id=creator_uri),) if creator else ()
    comid = ComID(
        tag_identity=TagIdentity(tag_id if tag_id is not None else uuid.uuid4(), tag_version),
        triples=Triples(
            reference=(
                ReferenceTriple(
                    Environment(class_=environment),
                    tuple(reference_measurement(m, f"measurements[{i}]") for i, m in enumerate(measurements)),
                ),
            )
        ),
        entities=entities,
    )
    corim_entities = (Entity(name=creator, roles=(1,), reg_id=creator_uri),) if creator else ()
    return CoRIM(id=corim_id, tags=(comid,), profile=profile, validity=validity, entities=corim_entities)


def corim_meta(
    signer_name: str,
    *,
    signer_uri: str | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> CorimMeta:
    validity = Validity(not_after=not_after, not_before=not_before) if not_after is not None else None
    return CorimMeta(signer=CorimSigner(name=signer_name, uri=signer_uri), signature_validity=validity)


def sign_reference_corim(
    corim: CoRIM, signer: Signer, signer_name: str, *, signer_uri: str | None = None, kid: bytes | None = None
) -> bytes:
    """``corim`` signed as COSE_Sign1; the signature validity is the CoRIM's own validity when it has one."""
    validity = corim.validity
    meta = CorimMeta(signer=CorimSigner(name=signer_name, uri=signer_uri), signature_validity=validity)
    return sign_corim(corim, signer, meta, kid=kid)
