"""The typed CoRIM model back to CBOR: deterministic bytes (cbor2's canonical mode), the inverse of ``decode.py``.

No CoRIM library exists on PyPI, so this writer is hand-written on cbor2. Each ``*_value`` function returns
the CBOR data model (dicts with int keys, lists, ``CBORTag``); ``encode_corim``/``encode_comid`` give bytes.
Extension values are written back as they were decoded.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from attestations.corim import cbor
from attestations.corim.model import (
    ClassMap,
    ComID,
    ConciseEvidence,
    ConciseTag,
    CoRIM,
    CryptoKey,
    Digest,
    DomainTriple,
    Entity,
    Environment,
    Extensions,
    IntRange,
    KeyTriple,
    Locator,
    MeasuredElement,
    Measurement,
    MeasurementValues,
    Oid,
    OpaqueTag,
    StatefulEnvironment,
    Svn,
    TaggedBytes,
    Triples,
    Ueid,
    Validity,
)


def _tag(number: int, value: Any) -> Any:
    import cbor2  # deferred (TID253)

    return cbor2.CBORTag(number, value)


def _extend(m: dict[Any, Any], extensions: Extensions) -> dict[Any, Any]:
    for k, v in extensions:
        m[k] = v
    return m


def _time(when: datetime) -> Any:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp()
    return _tag(1, int(seconds) if seconds == int(seconds) else seconds)


def encode_validity(v: Validity) -> dict[int, Any]:
    m: dict[int, Any] = {}
    if v.not_before is not None:
        m[0] = _time(v.not_before)
    m[1] = _time(v.not_after)
    return m


def _oid(o: Oid) -> Any:
    return _tag(111, o.der)


def _profile(p: str | Oid) -> Any:
    return _oid(p) if isinstance(p, Oid) else _tag(32, p)


def digest_value(d: Digest) -> list[Any]:
    return [d.alg, d.value]


def crypto_key_value(k: CryptoKey) -> Any:
    value = digest_value(k.value) if isinstance(k.value, Digest) else k.value
    return _tag(k.tag, value)


def _uuid_or_text(v: str | uuid.UUID) -> Any:
    return v.bytes if isinstance(v, uuid.UUID) else v


def _tagged(value: Oid | uuid.UUID | TaggedBytes | Ueid | CryptoKey) -> Any:
    if isinstance(value, Oid):
        return _oid(value)
    if isinstance(value, uuid.UUID):
        return value  # cbor2 writes tag 37
    if isinstance(value, TaggedBytes):
        return _tag(560, value.value)
    if isinstance(value, Ueid):
        return _tag(550, value.value)
    return crypto_key_value(value)


def class_value(c: ClassMap) -> dict[int, Any]:
    m: dict[int, Any] = {}
    if c.class_id is not None:
        m[0] = _tagged(c.class_id)
    for key, value in ((1, c.vendor), (2, c.model), (3, c.layer), (4, c.index)):
        if value is not None:
            m[key] = value
    return m


def environment_value(e: Environment) -> dict[int, Any]:
    m: dict[int, Any] = {}
    if e.class_ is not None:
        m[0] = class_value(e.class_)
    if e.instance is not None:
        m[1] = _tagged(e.instance)
    if e.group is not None:
        m[2] = _tagged(e.group)
    return m


def _svn(s: Svn) -> Any:
    if not s.tagged and not s.minimum:
        return s.value
    return _tag(553 if s.minimum else 552, s.value)


def _int_range(r: IntRange) -> Any:
    if not r.tagged and r.minimum is not None and r.minimum == r.maximum:
        return r.minimum
    return _tag(564, [r.minimum, r.maximum])


def measurement_values_value(v: MeasurementValues) -> dict[Any, Any]:
    m: dict[Any, Any] = {}
    if v.version is not None:
        m[0] = {0: v.version.version} if v.version.scheme is None else {0: v.version.version, 1: v.version.scheme}
    if v.svn is not None:
        m[1] = _svn(v.svn)
    if v.digests:
        m[2] = [digest_value(d) for d in v.digests]
    if v.flags is not None:
        m[3] = _extend(dict(v.flags.values), v.flags.extensions)
    if v.raw_value is not None:
        r = v.raw_value
        if r.masked_form:
            m[4] = _tag(563, [r.value, r.mask])
        else:
            m[4] = _tag(560, r.value)
            if r.mask is not None:
                m[5] = r.mask
    if v.mac_addr is not None:
        m[6] = v.mac_addr
    if v.ip_addr is not None:
        m[7] = v.ip_addr
    if v.serial_number is not None:
        m[8] = v.serial_number
    if v.ueid is not None:
        m[9] = v.ueid.value
    if v.uuid is not None:
        m[10] = v.uuid.bytes
    if v.name is not None:
        m[11] = v.name
    if v.cryptokeys:
        m[13] = [crypto_key_value(k) for k in v.cryptokeys]
    if v.integrity_registers:
        m[14] = {r.register: [digest_value(d) for d in r.digests] for r in v.integrity_registers}
    if v.int_range is not None:
        m[15] = _int_range(v.int_range)
    return _extend(m, v.extensions)


def _mkey(k: MeasuredElement) -> Any:
    return _oid(k) if isinstance(k, Oid) else k


def measurement_value(me: Measurement) -> dict[int, Any]:
    m: dict[int, Any] = {}
    if me.mkey is not None:
        m[0] = _mkey(me.mkey)
    m[1] = measurement_values_value(me.mval)
    if me.authorized_by:
        m[2] = [crypto_key_value(k) for k in me.authorized_by]
    return m


def _measurements(ms: tuple[Measurement, ...]) -> list[Any]:
    return [measurement_value(m) for m in ms]


def _key_triple(t: KeyTriple) -> list[Any]:
    out: list[Any] = [environment_value(t.environment), [crypto_key_value(k) for k in t.keys]]
    if t.conditions is not None:
        c: dict[int, Any] = {}
        if t.conditions.mkey is not None:
            c[0] = _mkey(t.conditions.mkey)
        if t.conditions.authorized_by:
            c[1] = [crypto_key_value(k) for k in t.conditions.authorized_by]
        out.append(c)
    return out


def _domain(t: DomainTriple) -> list[Any]:
    return [environment_value(t.domain), [environment_value(e) for e in t.members]]


def _stateful(s: StatefulEnvironment) -> list[Any]:
    out: list[Any] = [environment_value(s.environment), _measurements(s.measurements)]
    if s.authorized_by:
        out.append([crypto_key_value(k) for k in s.authorized_by])
    return out


def triples_value(t: Triples) -> dict[Any, Any]:
    m: dict[Any, Any] = {}
    if t.reference:
        m[0] = [[environment_value(r.environment), _measurements(r.measurements)] for r in t.reference]
    if t.endorsed:
        m[1] = [[environment_value(r.environment), _measurements(r.measurements)] for r in t.endorsed]
    if t.identity:
        m[2] = [_key_triple(r) for r in t.identity]
    if t.attest_key:
        m[3] = [_key_triple(r) for r in t.attest_key]
    if t.dependency:
        m[4] = [_domain(r) for r in t.dependency]
    if t.membership:
        m[5] = [_domain(r) for r in t.membership]
    if t.coswid:
        m[6] = [[environment_value(r.environment), list(r.tag_ids)] for r in t.coswid]
    if t.conditional_endorsement_series:
        m[8] = [
            [_stateful(r.condition), [[_measurements(s.selection), _measurements(s.addition)] for s in r.series]]
            for r in t.conditional_endorsement_series
        ]
    if t.conditional_endorsement:
        m[10] = [
            [
                [_stateful(c) for c in r.conditions],
                [[environment_value(e.environment), _measurements(e.measurements)] for e in r.endorsements],
            ]
            for r in t.conditional_endorsement
        ]
    return _extend(m, t.extensions)


def entity_value(e: Entity) -> dict[Any, Any]:
    m: dict[Any, Any] = {0: e.name}
    if e.reg_id is not None:
        m[1] = _tag(32, e.reg_id)
    m[2] = list(e.roles)
    return _extend(m, e.extensions)


def comid_value(c: ComID) -> dict[Any, Any]:
    m: dict[Any, Any] = {}
    if c.language is not None:
        m[0] = c.language
    ident: dict[int, Any] = {0: _uuid_or_text(c.tag_identity.tag_id)}
    if c.tag_identity.version:
        ident[1] = c.tag_identity.version
    m[1] = ident
    if c.entities:
        m[2] = [entity_value(e) for e in c.entities]
    if c.linked_tags:
        m[3] = [{0: _uuid_or_text(lt.tag_id), 1: lt.rel} for lt in c.linked_tags]
    m[4] = triples_value(c.triples)
    return _extend(m, c.extensions)


def encode_comid(c: ComID) -> bytes:
    """The bare ``concise-mid-tag`` map, deterministic."""
    return cbor.encode(comid_value(c))


def _concise_tag(t: ConciseTag) -> Any:
    if isinstance(t, OpaqueTag):
        return _tag(t.tag, t.data)
    return _tag(506, encode_comid(t))


def _locator(loc: Locator) -> dict[int, Any]:
    href = [_tag(32, h) for h in loc.href]
    m: dict[int, Any] = {0: href[0] if len(href) == 1 else href}
    if loc.thumbprints:
        thumbs = [digest_value(d) for d in loc.thumbprints]
        m[1] = thumbs[0] if len(thumbs) == 1 else thumbs
    return m


def corim_value(c: CoRIM) -> dict[Any, Any]:
    m: dict[Any, Any] = {0: _uuid_or_text(c.id), 1: [_concise_tag(t) for t in c.tags]}
    if c.dependent_rims:
        m[2] = [_locator(loc) for loc in c.dependent_rims]
    if c.profile is not None:
        m[3] = _profile(c.profile)
    if c.validity is not None:
        m[4] = encode_validity(c.validity)
    if c.entities:
        m[5] = [entity_value(e) for e in c.entities]
    return _extend(m, c.extensions)


def encode_corim(c: CoRIM) -> bytes:
    """``tagged-unsigned-corim-map`` (tag 501), deterministic: the payload ``cose.sign_corim`` signs."""
    return cbor.encode(_tag(501, corim_value(c)))


def encode_coev(e: ConciseEvidence) -> bytes:
    t = e.ev_triples
    m: dict[Any, Any] = {}
    if t.evidence:
        m[0] = [[environment_value(r.environment), _measurements(r.measurements)] for r in t.evidence]
    if t.identity:
        m[1] = [_key_triple(r) for r in t.identity]
    if t.dependency:
        m[2] = [_domain(r) for r in t.dependency]
    if t.membership:
        m[3] = [_domain(r) for r in t.membership]
    if t.coswid:
        m[4] = [[environment_value(r.environment), list(r.evidence)] for r in t.coswid]
    if t.attest_key:
        m[5] = [_key_triple(r) for r in t.attest_key]
    body: dict[Any, Any] = {0: _extend(m, t.extensions)}
    if e.evidence_id is not None:
        body[1] = e.evidence_id
    if e.profile is not None:
        body[2] = _profile(e.profile)
    return cbor.encode(_tag(571, _extend(body, e.extensions)))
