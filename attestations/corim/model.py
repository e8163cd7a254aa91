"""The typed CoRIM / CoMID / CoEV model (draft-ietf-rats-corim): frozen dataclasses, one per CDDL rule we read.

No CoRIM library exists on PyPI, so this narrow model is written by hand; ``decode.py`` fills it from CBOR
and ``encode.py`` writes it back. Names follow the draft's CDDL (``measurement-values-map`` is
``MeasurementValues``, ``environment-map`` is ``Environment``...). Unknown keys of the maps the draft makes
extensible are kept in ``extensions`` as decoded CBOR values (``CborValue``: int, str, bytes, bool, None,
float, list, dict, ``datetime``, ``uuid.UUID`` or ``cbor2.CBORTag``), in deterministic CBOR key order (so two
encodings of one map give one model): an OCP S.A.F.E. review report is ``MeasurementValues.extension(-1)``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: A decoded CBOR value kept as it was (extension claims, COSE keys, CoSWID evidence).
CborValue = Any
#: A map key of an extension: the draft's extension points use negative ints; text is kept too.
ExtensionKey = int | str
Extensions = tuple[tuple[ExtensionKey, CborValue], ...]


def find_extension(extensions: Extensions, key: ExtensionKey) -> CborValue | None:
    for k, v in extensions:
        if k == key and type(k) is type(key):
            return v
    return None


# --- algorithms ------------------------------------------------------------------------------------------

#: Named Information Hash Algorithm Registry (RFC 6920) ids, which CoRIM's ``digest`` uses: id -> (name, length).
NI_HASH_ALGORITHMS: dict[int, tuple[str, int]] = {
    1: ("sha-256", 32),
    2: ("sha-256-128", 16),
    3: ("sha-256-120", 15),
    4: ("sha-256-96", 12),
    5: ("sha-256-64", 8),
    6: ("sha-256-32", 4),
    7: ("sha-384", 48),
    8: ("sha-512", 64),
    9: ("sha3-224", 28),
    10: ("sha3-256", 32),
    11: ("sha3-384", 48),
    12: ("sha3-512", 64),
}
#: COSE algorithm ids for hashes (RFC 9054), which the OCP S.A.F.E. CoRIM profile writes in ``digest``.
COSE_HASH_ALGORITHMS: dict[int, tuple[str, int]] = {
    -16: ("sha-256", 32),
    -43: ("sha-384", 48),
    -44: ("sha-512", 64),
}
#: Names written as text (``digest`` allows ``alg: text``) that we recognise, with their lengths.
TEXT_HASH_ALGORITHMS: dict[str, int] = {name: length for name, length in NI_HASH_ALGORITHMS.values()}
#: Our names -> hashlib's, for the algorithms a verifier can recompute.
HASHLIB_NAMES = {
    "sha-256": "sha256",
    "sha-384": "sha384",
    "sha-512": "sha512",
    "sha3-224": "sha3_224",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
}
#: The NI registry id the writer uses for each name.
NI_IDS_BY_NAME = {name: alg for alg, (name, _) in NI_HASH_ALGORITHMS.items()}


def hash_algorithm_name(alg: int | str) -> str | None:
    """``alg`` as a registry name (``sha-256``), or None when it is not one we know."""
    if isinstance(alg, str):
        return alg.lower() if alg.lower() in TEXT_HASH_ALGORITHMS else None
    known = NI_HASH_ALGORITHMS.get(alg) or COSE_HASH_ALGORITHMS.get(alg)
    return known[0] if known else None


# --- small typed values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Oid:
    """An OID (tag 111), kept as its DER content bytes."""

    der: bytes

    @property
    def with_der_header(self) -> bool:
        """True when the bytes are a whole DER TLV (``06 len ...``) rather than RFC 9090's content bytes.

        Seen in the field: veraison's comid-flags and CoEV test cases and the OCP S.A.F.E. profile example.
        """
        der = self.der
        return len(der) >= 3 and der[0] == 0x06 and der[1] == len(der) - 2 and der[1] < 0x80

    @property
    def content(self) -> bytes:
        """The OID's content bytes, whichever way the file wrote them."""
        return self.der[2:] if self.with_der_header else self.der

    @property
    def dotted(self) -> str:
        """``1.3.6.1...``, or ``oid:<hex>`` when the bytes are not a well-formed OID."""
        arcs: list[int] = []
        value = 0
        pending = False
        for byte in self.content:
            if not pending and byte == 0x80:
                return f"oid:{self.der.hex()}"
            value = (value << 7) | (byte & 0x7F)
            pending = bool(byte & 0x80)
            if not pending:
                arcs.append(value)
                value = 0
        if pending or not arcs:
            return f"oid:{self.der.hex()}"
        first = arcs[0]
        head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
        return ".".join(str(a) for a in head + arcs[1:])

    @classmethod
    def from_dotted(cls, dotted: str) -> Oid:
        parts = [int(p) for p in dotted.split(".")]
        if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] >= 40):
            raise ValueError(f"not an OID: {dotted!r}")
        arcs = [parts[0] * 40 + parts[1], *parts[2:]]
        out = bytearray()
        for arc in arcs:
            chunk = [arc & 0x7F]
            arc >>= 7
            while arc:
                chunk.append(0x80 | (arc & 0x7F))
                arc >>= 7
            out.extend(reversed(chunk))
        return cls(bytes(out))

    def __str__(self) -> str:
        return self.dotted


@dataclass(frozen=True)
class TaggedBytes:
    """Opaque bytes (tag 560)."""

    value: bytes


@dataclass(frozen=True)
class Ueid:
    """A UEID (tag 550): 7 to 33 bytes."""

    value: bytes


@dataclass(frozen=True)
class Digest:
    """``[alg, val]``: ``alg`` an int (Named Information registry, or a COSE hash id) or text."""

    alg: int | str
    value: bytes

    @property
    def alg_name(self) -> str | None:
        return hash_algorithm_name(self.alg)

    @property
    def hashlib_name(self) -> str | None:
        name = self.alg_name
        return HASHLIB_NAMES.get(name) if name else None


#: Crypto-key tags -> kind names (``$crypto-key-type-choice``).
CRYPTO_KEY_KINDS: dict[int, str] = {
    554: "pkix-base64-key",
    555: "pkix-base64-cert",
    556: "pkix-base64-cert-path",
    557: "key-thumbprint",
    558: "cose-key",
    559: "cert-thumbprint",
    560: "bytes",
    561: "cert-path-thumbprint",
    562: "pkix-asn1der-cert",
}


@dataclass(frozen=True)
class CryptoKey:
    """A key or certificate (or its thumbprint): ``tag`` in ``CRYPTO_KEY_KINDS``.

    ``value`` is text for the base64 forms, bytes for DER and opaque bytes, a ``Digest`` for thumbprints and
    the decoded COSE_Key map for ``cose-key``.
    """

    tag: int
    value: str | bytes | Digest | CborValue

    @property
    def kind(self) -> str:
        return CRYPTO_KEY_KINDS[self.tag]


ClassId = Oid | uuid.UUID | TaggedBytes
InstanceId = Ueid | uuid.UUID | TaggedBytes | CryptoKey
GroupId = uuid.UUID | TaggedBytes
MeasuredElement = Oid | uuid.UUID | int | str


@dataclass(frozen=True)
class VersionInfo:
    """``version-map``: a version string and its scheme (a CoSWID ``$version-scheme``: int, or text)."""

    version: str
    scheme: int | str | None = None


@dataclass(frozen=True)
class Svn:
    """A security version number: exact (a bare uint or tag 552) or a minimum (tag 553)."""

    value: int
    minimum: bool = False
    tagged: bool = True


#: ``flags-map`` keys -> names.
FLAG_NAMES: dict[int, str] = {
    0: "is-configured",
    1: "is-secure",
    2: "is-recovery",
    3: "is-debug",
    4: "is-replay-protected",
    5: "is-integrity-protected",
    6: "is-runtime-meas",
    7: "is-immutable",
    8: "is-tcb",
    9: "is-confidentiality-protected",
}


@dataclass(frozen=True)
class Flags:
    """``flags-map``: the draft's flags as (key, bool), in key order, and extension flags kept as written."""

    values: tuple[tuple[int, bool], ...] = ()
    extensions: Extensions = ()

    def named(self) -> dict[str, bool]:
        return {FLAG_NAMES[k]: v for k, v in self.values}


@dataclass(frozen=True)
class RawValue:
    """A raw value: ``tagged-bytes`` (560) or ``tagged-masked-raw-value`` (563, value + mask).

    ``mask`` comes from tag 563, or from the DEPRECATED ``raw-value-mask`` (mval key 5), then
    ``deprecated_mask`` is True.
    """

    value: bytes
    mask: bytes | None = None
    masked_form: bool = False
    deprecated_mask: bool = False


@dataclass(frozen=True)
class IntRange:
    """``int-range-type-choice``: a bare int (``tagged`` False, min == max) or tag 564 ``[min, max]`` (None: open)."""

    minimum: int | None
    maximum: int | None
    tagged: bool = True


@dataclass(frozen=True)
class IntegrityRegister:
    """One integrity register (e.g. a PCR) and the digests it may hold."""

    register: int | str
    digests: tuple[Digest, ...]


@dataclass(frozen=True)
class MeasurementValues:
    """``measurement-values-map`` (mval)."""

    version: VersionInfo | None = None
    svn: Svn | None = None
    digests: tuple[Digest, ...] = ()
    flags: Flags | None = None
    raw_value: RawValue | None = None
    mac_addr: bytes | None = None
    ip_addr: bytes | None = None
    serial_number: str | None = None
    ueid: Ueid | None = None
    uuid: uuid.UUID | None = None
    name: str | None = None
    cryptokeys: tuple[CryptoKey, ...] = ()
    integrity_registers: tuple[IntegrityRegister, ...] = ()
    int_range: IntRange | None = None
    extensions: Extensions = ()

    def extension(self, key: ExtensionKey) -> CborValue | None:
        """The decoded value of extension ``key`` (e.g. -1, the OCP S.A.F.E. review report), or None."""
        return find_extension(self.extensions, key)

    def digest(self, name: str) -> bytes | None:
        """The first digest whose algorithm is ``name`` (``sha-256``), or None."""
        for d in self.digests:
            if d.alg_name == name:
                return d.value
        return None


@dataclass(frozen=True)
class Measurement:
    """``measurement-map``: an optional measured-element key (mkey) and its values."""

    mval: MeasurementValues
    mkey: MeasuredElement | None = None
    authorized_by: tuple[CryptoKey, ...] = ()


@dataclass(frozen=True)
class ClassMap:
    """``class-map``: what kind of thing an environment is."""

    class_id: ClassId | None = None
    vendor: str | None = None
    model: str | None = None
    layer: int | None = None
    index: int | None = None


@dataclass(frozen=True)
class Environment:
    """``environment-map``: a class, an instance and/or a group (at least one)."""

    class_: ClassMap | None = None
    instance: InstanceId | None = None
    group: GroupId | None = None


# --- triples -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceTriple:
    """``reference-triple-record`` (triples key 0): the values an environment is expected to show."""

    environment: Environment
    measurements: tuple[Measurement, ...]


@dataclass(frozen=True)
class EndorsedTriple:
    """``endorsed-triple-record`` (triples key 1)."""

    environment: Environment
    measurements: tuple[Measurement, ...]


@dataclass(frozen=True)
class KeyConditions:
    mkey: MeasuredElement | None = None
    authorized_by: tuple[CryptoKey, ...] = ()


@dataclass(frozen=True)
class KeyTriple:
    """``identity-triple-record`` (key 2) and ``attest-key-triple-record`` (key 3)."""

    environment: Environment
    keys: tuple[CryptoKey, ...]
    conditions: KeyConditions | None = None


@dataclass(frozen=True)
class DomainTriple:
    """Dependency (key 4: domain and its trustees) and membership (key 5: domain and its members) triples."""

    domain: Environment
    members: tuple[Environment, ...]


@dataclass(frozen=True)
class CoswidTriple:
    """``coswid-triple-record`` (key 6): an environment and CoSWID tag ids (text, or 16 bytes)."""

    environment: Environment
    tag_ids: tuple[str | bytes, ...]


@dataclass(frozen=True)
class StatefulEnvironment:
    """``stateful-environment-record``: an environment in a state (older drafts add the keys that authorise it)."""

    environment: Environment
    measurements: tuple[Measurement, ...]
    authorized_by: tuple[CryptoKey, ...] = ()


@dataclass(frozen=True)
class ConditionalSeries:
    selection: tuple[Measurement, ...]
    addition: tuple[Measurement, ...]


@dataclass(frozen=True)
class ConditionalEndorsementSeriesTriple:
    """Key 8: under ``condition``, the first series record whose selection matches adds its endorsements."""

    condition: StatefulEnvironment
    series: tuple[ConditionalSeries, ...]


@dataclass(frozen=True)
class ConditionalEndorsementTriple:
    """Key 10: when every condition holds, the endorsements apply."""

    conditions: tuple[StatefulEnvironment, ...]
    endorsements: tuple[EndorsedTriple, ...]


@dataclass(frozen=True)
class Triples:
    """``triples-map`` (at least one kind present)."""

    reference: tuple[ReferenceTriple, ...] = ()
    endorsed: tuple[EndorsedTriple, ...] = ()
    identity: tuple[KeyTriple, ...] = ()
    attest_key: tuple[KeyTriple, ...] = ()
    dependency: tuple[DomainTriple, ...] = ()
    membership: tuple[DomainTriple, ...] = ()
    coswid: tuple[CoswidTriple, ...] = ()
    conditional_endorsement_series: tuple[ConditionalEndorsementSeriesTriple, ...] = ()
    conditional_endorsement: tuple[ConditionalEndorsementTriple, ...] = ()
    extensions: Extensions = ()


# --- entities and tags -------------------------------------------------------------------------------------

CORIM_ROLES = {1: "manifest-creator", 2: "manifest-signer"}
COMID_ROLES = {0: "tag-creator", 1: "creator", 2: "maintainer"}
TAG_RELATIONS = {0: "supplements", 1: "replaces"}


@dataclass(frozen=True)
class Entity:
    """``entity-map``: a name, an optional registration URI, roles (ints; names in CORIM_ROLES/COMID_ROLES)."""

    name: str
    roles: tuple[int, ...]
    reg_id: str | None = None
    extensions: Extensions = ()


@dataclass(frozen=True)
class TagIdentity:
    """``tag-identity-map``: the tag id (text or UUID) and its version (0 when absent)."""

    tag_id: str | uuid.UUID
    version: int = 0


@dataclass(frozen=True)
class LinkedTag:
    tag_id: str | uuid.UUID
    rel: int

    @property
    def rel_name(self) -> str:
        return TAG_RELATIONS.get(self.rel, str(self.rel))


@dataclass(frozen=True)
class ComID:
    """``concise-mid-tag``."""

    tag_identity: TagIdentity
    triples: Triples
    language: str | None = None
    entities: tuple[Entity, ...] = ()
    linked_tags: tuple[LinkedTag, ...] = ()
    extensions: Extensions = ()


@dataclass(frozen=True)
class OpaqueTag:
    """A tag a CoRIM carries that this model does not read: CoSWID (505) or CoTL (508), as its encoded bytes."""

    tag: int
    data: bytes

    @property
    def kind(self) -> str:
        return {505: "coswid", 508: "cotl"}.get(self.tag, str(self.tag))


ConciseTag = ComID | OpaqueTag


# --- CoEV (concise evidence, tag 571) -----------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceTriple:
    """``evidence-triple-record``: an environment and the measurements it showed."""

    environment: Environment
    measurements: tuple[Measurement, ...]


@dataclass(frozen=True)
class EvCoswidTriple:
    """``ev-coswid-triple-record``: an environment and CoSWID evidence maps, kept as decoded."""

    environment: Environment
    evidence: tuple[CborValue, ...]


@dataclass(frozen=True)
class EvTriples:
    evidence: tuple[EvidenceTriple, ...] = ()
    identity: tuple[KeyTriple, ...] = ()
    dependency: tuple[DomainTriple, ...] = ()
    membership: tuple[DomainTriple, ...] = ()
    coswid: tuple[EvCoswidTriple, ...] = ()
    attest_key: tuple[KeyTriple, ...] = ()
    extensions: Extensions = ()


@dataclass(frozen=True)
class ConciseEvidence:
    """``concise-evidence`` (tag 571)."""

    ev_triples: EvTriples
    evidence_id: CborValue | None = None
    profile: str | Oid | None = None
    extensions: Extensions = ()


# --- CoRIM ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Validity:
    """``validity-map``: not-after is mandatory."""

    not_after: datetime
    not_before: datetime | None = None

    def contains(self, when: datetime) -> bool:
        return (self.not_before is None or self.not_before <= when) and when <= self.not_after


@dataclass(frozen=True)
class Locator:
    """``corim-locator-map``: where a dependent RIM is, and optionally its thumbprint(s)."""

    href: tuple[str, ...]
    thumbprints: tuple[Digest, ...] = ()


@dataclass(frozen=True)
class CoRIM:
    """``corim-map`` (unsigned, tag 501)."""

    id: str | uuid.UUID
    tags: tuple[ConciseTag, ...]
    dependent_rims: tuple[Locator, ...] = ()
    profile: str | Oid | None = None
    validity: Validity | None = None
    entities: tuple[Entity, ...] = ()
    extensions: Extensions = ()

    @property
    def comids(self) -> tuple[ComID, ...]:
        return tuple(t for t in self.tags if isinstance(t, ComID))

    @property
    def reference_triples(self) -> tuple[ReferenceTriple, ...]:
        """Every reference triple of every CoMID, in order."""
        return tuple(r for c in self.comids for r in c.triples.reference)


# --- signed CoRIM (COSE_Sign1, tag 18) ---------------------------------------------------------------------


@dataclass(frozen=True)
class CorimSigner:
    """``corim-signer-map``."""

    name: str
    uri: str | None = None
    extensions: Extensions = ()


@dataclass(frozen=True)
class CorimMeta:
    """``corim-meta-map`` (protected header label 8)."""

    signer: CorimSigner
    signature_validity: Validity | None = None


#: COSE algorithms a CoRIM signature may use here: id -> name.
COSE_SIGNATURE_ALGORITHMS = {-7: "ES256", -35: "ES384", -36: "ES512", -8: "EdDSA"}


@dataclass(frozen=True)
class ProtectedHeader:
    """The protected header of a signed CoRIM, as the signature covers it."""

    alg: int
    content_type: str
    meta: CorimMeta | None = None
    kid: bytes | None = None
    cwt_claims: CborValue | None = None
    crit: tuple[int | str, ...] = ()
    other: Extensions = ()

    @property
    def alg_name(self) -> str:
        return COSE_SIGNATURE_ALGORITHMS.get(self.alg, str(self.alg))


@dataclass(frozen=True)
class SignedCorim:
    """A COSE_Sign1 CoRIM: the decoded headers and payload, and the exact bytes the signature is over."""

    protected: ProtectedHeader
    protected_bytes: bytes
    unprotected: Extensions
    payload: bytes
    signature: bytes
    corim: CoRIM
    encoded: bytes


@dataclass(frozen=True)
class Document:
    """What a CoRIM-family file held: ``kind`` is signed-corim, corim, comid or coev; one of the fields is set."""

    kind: str
    corim: CoRIM | None = None
    signed: SignedCorim | None = None
    comid: ComID | None = None
    coev: ConciseEvidence | None = None
