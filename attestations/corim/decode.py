"""CoRIM, CoMID and CoEV from CBOR into the typed model; every refusal names the field path.

No CoRIM library exists on PyPI: this reader is written by hand on cbor2 (through the strict profile of
``attestations.corim.cbor``). A path looks like ``corim.tags[0].triples.reference[1].measurements[0].mval.digests[0]``.
Maps the draft declares extensible keep their unknown keys (``extensions``); the others refuse them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from attestations.corim import cbor
from attestations.corim.errors import CorimFormatError
from attestations.corim.model import (
    COSE_HASH_ALGORITHMS,
    CRYPTO_KEY_KINDS,
    FLAG_NAMES,
    NI_HASH_ALGORITHMS,
    TEXT_HASH_ALGORITHMS,
    ClassId,
    ClassMap,
    ComID,
    ConciseEvidence,
    ConciseTag,
    ConditionalEndorsementSeriesTriple,
    ConditionalEndorsementTriple,
    ConditionalSeries,
    CoRIM,
    CoswidTriple,
    CryptoKey,
    Digest,
    DomainTriple,
    EndorsedTriple,
    Entity,
    Environment,
    EvCoswidTriple,
    EvidenceTriple,
    EvTriples,
    Extensions,
    Flags,
    GroupId,
    InstanceId,
    IntegrityRegister,
    IntRange,
    KeyConditions,
    KeyTriple,
    LinkedTag,
    Locator,
    MeasuredElement,
    Measurement,
    MeasurementValues,
    Oid,
    OpaqueTag,
    RawValue,
    ReferenceTriple,
    StatefulEnvironment,
    Svn,
    TaggedBytes,
    TagIdentity,
    Triples,
    Ueid,
    Validity,
    VersionInfo,
)

T = TypeVar("T")

TAG_CORIM = 501
TAG_COMID = 506
TAG_COSWID = 505
TAG_COTL = 508
TAG_COEV = 571
TAG_COSE_SIGN1 = 18


def _err(path: str, message: str) -> CorimFormatError:
    return CorimFormatError(path, message)


def _tag_class() -> type[Any]:
    import cbor2  # deferred (TID253)

    return cbor2.CBORTag  # type: ignore[no-any-return]


def _is_tag(value: Any, number: int) -> bool:
    return isinstance(value, _tag_class()) and value.tag == number


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uint(value: Any, path: str) -> int:
    if not _is_int(value) or value < 0:
        raise _err(path, "must be an unsigned integer")
    return int(value)


def _int(value: Any, path: str) -> int:
    if not _is_int(value):
        raise _err(path, "must be an integer")
    return int(value)


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _err(path, "must be text")
    return value


def _bytes(value: Any, path: str) -> bytes:
    if not isinstance(value, bytes):
        raise _err(path, "must be a byte string")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _err(path, "must be true or false")
    return value


def _map(value: Any, path: str, *, non_empty: bool = False) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise _err(path, "must be a map")
    if non_empty and not value:
        raise _err(path, "must not be empty")
    return value


def _array(value: Any, path: str, *, non_empty: bool = True) -> list[Any]:
    if not isinstance(value, list):
        raise _err(path, "must be an array")
    if non_empty and not value:
        raise _err(path, "must hold at least one entry")
    return value


def _items(value: Any, path: str, parse: Callable[[Any, str], T], *, non_empty: bool = True) -> tuple[T, ...]:
    return tuple(parse(item, f"{path}[{i}]") for i, item in enumerate(_array(value, path, non_empty=non_empty)))


def _record(value: Any, path: str, sizes: tuple[int, ...]) -> list[Any]:
    items = _array(value, path, non_empty=False)
    if len(items) not in sizes:
        want = " or ".join(str(s) for s in sizes)
        raise _err(path, f"must be an array of {want} entries, not {len(items)}")
    return items


def _split(m: dict[Any, Any], path: str, known: dict[int, str], *, extensible: bool) -> Extensions:
    """Refuse unknown keys of a closed map; return those of an extensible map, in the file's order."""
    extra: list[tuple[int | str, Any]] = []
    for key, value in m.items():
        if _is_int(key) and key in known:
            continue
        if not extensible:
            raise _err(path, f"unknown key {key!r}")
        if not (_is_int(key) or isinstance(key, str)):
            raise _err(path, f"key {key!r} must be an integer or text")
        extra.append((key, value))
    return tuple(sorted(extra, key=_canonical_key))


def _canonical_key(item: tuple[int | str, Any]) -> tuple[int, bytes]:
    """Extensions in the order deterministic CBOR writes their keys, so the model does not depend on map order."""
    import cbor2  # deferred (TID253)

    encoded = cbor2.dumps(item[0])
    return (len(encoded), encoded)


def _required(m: dict[Any, Any], key: int, name: str, path: str) -> Any:
    if key not in m:
        raise _err(path, f"missing {name} (key {key})")
    return m[key]


def _tagged(value: Any, path: str, number: int, what: str) -> Any:
    if not _is_tag(value, number):
        raise _err(path, f"must be {what} (tag {number})")
    return value.value


def _untag(value: Any) -> Any:
    return value.value if isinstance(value, _tag_class()) else value


# --- small values ----------------------------------------------------------------------------------------


def parse_time(value: Any, path: str) -> datetime:
    """``time`` (tag 1: seconds since the epoch); cbor2 has already turned it into an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    raise _err(path, "must be a time (tag 1, epoch seconds)")


def parse_validity(value: Any, path: str) -> Validity:
    m = _map(value, path)
    _split(m, path, {0: "not-before", 1: "not-after"}, extensible=False)
    not_after = parse_time(_required(m, 1, "not-after", path), f"{path}.not-after")
    not_before = parse_time(m[0], f"{path}.not-before") if 0 in m else None
    if not_before is not None and not_before > not_after:
        raise _err(path, "not-before is after not-after")
    return Validity(not_after=not_after, not_before=not_before)


def parse_uri(value: Any, path: str) -> str:
    """``uri``: tag 32 text (a bare text is accepted too, as older encoders wrote it)."""
    if _is_tag(value, 32):
        value = value.value
    return _text(value, path)


def _uuid(value: Any, path: str) -> uuid.UUID:
    """A tagged UUID (tag 37), which cbor2 has turned into ``uuid.UUID``."""
    if isinstance(value, uuid.UUID):
        return value
    raise _err(path, "must be a UUID (tag 37)")


def _uuid_bytes(value: Any, path: str) -> uuid.UUID:
    """An untagged ``uuid-type``: 16 bytes."""
    raw = _bytes(value, path)
    if len(raw) != 16:
        raise _err(path, f"a UUID is 16 bytes, not {len(raw)}")
    return uuid.UUID(bytes=raw)


def parse_oid(value: Any, path: str) -> Oid:
    der = _bytes(_tagged(value, path, 111, "an OID"), path)
    if not der:
        raise _err(path, "an OID must not be empty")
    return Oid(der)


def parse_profile(value: Any, path: str) -> str | Oid:
    if _is_tag(value, 111):
        return parse_oid(value, path)
    if _is_tag(value, 32):
        return parse_uri(value, path)
    raise _err(path, "must be a URI (tag 32) or an OID (tag 111)")


def _tagged_bytes(value: Any, path: str) -> TaggedBytes:
    return TaggedBytes(_bytes(_tagged(value, path, 560, "tagged bytes"), path))


def _ueid(value: Any, path: str) -> Ueid:
    raw = _bytes(_tagged(value, path, 550, "a UEID"), path)
    if not 7 <= len(raw) <= 33:
        raise _err(path, f"a UEID is 7 to 33 bytes, not {len(raw)}")
    return Ueid(raw)


def parse_digest(value: Any, path: str) -> Digest:
    items = _record(value, path, (2,))
    alg = items[0]
    if not (_is_int(alg) or isinstance(alg, str)):
        raise _err(path, "hash-alg-id must be an int or text")
    digest = _bytes(items[1], f"{path}.hash-value")
    if isinstance(alg, str):
        length = TEXT_HASH_ALGORITHMS.get(alg.lower())
    else:
        known = NI_HASH_ALGORITHMS.get(alg) or COSE_HASH_ALGORITHMS.get(alg)
        length = known[1] if known else None
    if length is not None and len(digest) != length:
        raise _err(path, f"a {alg!r} digest is {length} bytes, not {len(digest)}")
    return Digest(alg=alg, value=digest)


def parse_crypto_key(value: Any, path: str) -> CryptoKey:
    if not isinstance(value, _tag_class()) or value.tag not in CRYPTO_KEY_KINDS:
        raise _err(path, "must be a crypto key (one of tags 554-562)")
    tag = int(value.tag)
    inner = value.value
    if tag in (554, 555, 556):
        return CryptoKey(tag, _text(inner, path))
    if tag in (557, 559, 561):
        return CryptoKey(tag, parse_digest(inner, path))
    if tag in (560, 562):
        return CryptoKey(tag, _bytes(inner, path))
    return CryptoKey(tag, _map(inner, path, non_empty=True))  # 558: a COSE_Key, kept as decoded


def parse_measured_element(value: Any, path: str) -> MeasuredElement:
    if _is_tag(value, 111):
        return parse_oid(value, path)
    if isinstance(value, uuid.UUID):
        return value
    if _is_int(value):
        return _uint(value, path)
    if isinstance(value, str):
        return value
    raise _err(path, "must be an OID, a UUID, an unsigned integer or text")


# --- environment -----------------------------------------------------------------------------------------


def parse_class(value: Any, path: str) -> ClassMap:
    m = _map(value, path, non_empty=True)
    _split(m, path, {0: "class-id", 1: "vendor", 2: "model", 3: "layer", 4: "index"}, extensible=False)
    class_id: ClassId | None = None
    if 0 in m:
        raw = m[0]
        if _is_tag(raw, 111):
            class_id = parse_oid(raw, f"{path}.class-id")
        elif isinstance(raw, uuid.UUID):
            class_id = raw
        elif _is_tag(raw, 560):
            class_id = _tagged_bytes(raw, f"{path}.class-id")
        else:
            raise _err(f"{path}.class-id", "must be an OID (111), a UUID (37) or tagged bytes (560)")
    return ClassMap(
        class_id=class_id,
        vendor=_text(m[1], f"{path}.vendor") if 1 in m else None,
        model=_text(m[2], f"{path}.model") if 2 in m else None,
        layer=_uint(m[3], f"{path}.layer") if 3 in m else None,
        index=_uint(m[4], f"{path}.index") if 4 in m else None,
    )


def _instance(value: Any, path: str) -> InstanceId:
    if _is_tag(value, 550):
        return _ueid(value, path)
    if isinstance(value, uuid.UUID):
        return value
    if _is_tag(value, 560):
        return _tagged_bytes(value, path)
    if isinstance(value, _tag_class()) and value.tag in CRYPTO_KEY_KINDS:
        return parse_crypto_key(value, path)
    raise _err(path, "must be a UEID (550), a UUID (37), tagged bytes (560) or a key (554-562)")


def _group(value: Any, path: str) -> GroupId:
    if isinstance(value, uuid.UUID):
        return value
    if _is_tag(value, 560):
        return _tagged_bytes(value, path)
    raise _err(path, "must be a UUID (37) or tagged bytes (560)")


def parse_environment(value: Any, path: str) -> Environment:
    m = _map(value, path, non_empty=True)
    _split(m, path, {0: "class", 1: "instance", 2: "group"}, extensible=False)
    return Environment(
        class_=parse_class(m[0], f"{path}.class") if 0 in m else None,
        instance=_instance(m[1], f"{path}.instance") if 1 in m else None,
        group=_group(m[2], f"{path}.group") if 2 in m else None,
    )


# --- measurements ------------------------------------------------------------------------------------------


def _version(value: Any, path: str) -> VersionInfo:
    m = _map(value, path)
    _split(m, path, {0: "version", 1: "version-scheme"}, extensible=False)
    version = _text(_required(m, 0, "version", path), f"{path}.version")
    scheme: int | str | None = None
    if 1 in m:
        scheme = m[1]
        if not (_is_int(scheme) or isinstance(scheme, str)):
            raise _err(f"{path}.version-scheme", "must be an integer or text")
    return VersionInfo(version=version, scheme=scheme)


def _svn(value: Any, path: str) -> Svn:
    if _is_tag(value, 552):
        return Svn(_uint(value.value, path), minimum=False, tagged=True)
    if _is_tag(value, 553):
        return Svn(_uint(value.value, path), minimum=True, tagged=True)
    if _is_int(value):
        return Svn(_uint(value, path), minimum=False, tagged=False)
    raise _err(path, "must be an svn: an unsigned integer, tag 552 or tag 553 (minimum)")


def _flags(value: Any, path: str) -> Flags:
    m = _map(value, path)
    extensions = _split(m, path, FLAG_NAMES, extensible=True)
    values = tuple(
        (k, _bool(m[k], f"{path}.{FLAG_NAMES[k]}")) for k in sorted(k for k in m if _is_int(k) and k in FLAG_NAMES)
    )
    return Flags(values=values, extensions=extensions)


def _raw_value(value: Any, path: str) -> RawValue:
    if _is_tag(value, 560):
        return RawValue(_bytes(value.value, path))
    if _is_tag(value, 563):
        pair = _record(value.value, path, (2,))
        raw = _bytes(pair[0], f"{path}.value")
        mask = _bytes(pair[1], f"{path}.mask")
        return RawValue(raw, mask=mask, masked_form=True)
    raise _err(path, "must be tagged bytes (560) or a masked raw value (563)")


def _int_range(value: Any, path: str) -> IntRange:
    if _is_int(value):
        return IntRange(int(value), int(value), tagged=False)
    pair = _record(_tagged(value, path, 564, "an int range"), path, (2,))
    low = None if pair[0] is None else _int(pair[0], f"{path}.min")
    high = None if pair[1] is None else _int(pair[1], f"{path}.max")
    if low is not None and high is not None and low > high:
        raise _err(path, "min is above max")
    return IntRange(low, high, tagged=True)


def _integrity_registers(value: Any, path: str) -> tuple[IntegrityRegister, ...]:
    m = _map(value, path, non_empty=True)
    out = []
    for key, digests in m.items():
        if not ((_is_int(key) and key >= 0) or isinstance(key, str)):
            raise _err(path, f"register id {key!r} must be an unsigned integer or text")
        out.append(IntegrityRegister(key, _items(digests, f"{path}[{key!r}]", parse_digest)))
    return tuple(out)


_MVAL_KEYS = {
    0: "version",
    1: "svn",
    2: "digests",
    3: "flags",
    4: "raw-value",
    5: "raw-value-mask",
    6: "mac-addr",
    7: "ip-addr",
    8: "serial-number",
    9: "ueid",
    10: "uuid",
    11: "name",
    13: "cryptokeys",
    14: "integrity-registers",
    15: "int-range",
}


def parse_measurement_values(value: Any, path: str) -> MeasurementValues:
    m = _map(value, path, non_empty=True)
    extensions = _split(m, path, _MVAL_KEYS, extensible=True)
    raw: RawValue | None = None
    if 4 in m:
        raw = _raw_value(m[4], f"{path}.raw-value")
        if 5 in m:
            if raw.masked_form:
                raise _err(f"{path}.raw-value-mask", "given beside a masked raw value (563)")
            raw = RawValue(raw.value, mask=_bytes(m[5], f"{path}.raw-value-mask"), deprecated_mask=True)
    elif 5 in m:
        raise _err(f"{path}.raw-value-mask", "given without a raw-value (key 4)")
    mac = _bytes(m[6], f"{path}.mac-addr") if 6 in m else None
    if mac is not None and len(mac) not in (6, 8):
        raise _err(f"{path}.mac-addr", f"an EUI-48 or EUI-64 is 6 or 8 bytes, not {len(mac)}")
    ip = _bytes(m[7], f"{path}.ip-addr") if 7 in m else None
    if ip is not None and len(ip) not in (4, 16):
        raise _err(f"{path}.ip-addr", f"an IPv4 or IPv6 address is 4 or 16 bytes, not {len(ip)}")
    return MeasurementValues(
        version=_version(m[0], f"{path}.version") if 0 in m else None,
        svn=_svn(m[1], f"{path}.svn") if 1 in m else None,
        digests=_items(m[2], f"{path}.digests", parse_digest) if 2 in m else (),
        flags=_flags(m[3], f"{path}.flags") if 3 in m else None,
        raw_value=raw,
        mac_addr=mac,
        ip_addr=ip,
        serial_number=_text(m[8], f"{path}.serial-number") if 8 in m else None,
        ueid=Ueid(_ueid_bytes(m[9], f"{path}.ueid")) if 9 in m else None,
        uuid=_uuid_bytes(m[10], f"{path}.uuid") if 10 in m else None,
        name=_text(m[11], f"{path}.name") if 11 in m else None,
        cryptokeys=_items(m[13], f"{path}.cryptokeys", parse_crypto_key) if 13 in m else (),
        integrity_registers=_integrity_registers(m[14], f"{path}.integrity-registers") if 14 in m else (),
        int_range=_int_range(m[15], f"{path}.int-range") if 15 in m else None,
        extensions=extensions,
    )


def _ueid_bytes(value: Any, path: str) -> bytes:
    raw = _bytes(value, path)
    if not 7 <= len(raw) <= 33:
        raise _err(path, f"a UEID is 7 to 33 bytes, not {len(raw)}")
    return raw


def parse_measurement(value: Any, path: str) -> Measurement:
    m = _map(value, path)
    _split(m, path, {0: "mkey", 1: "mval", 2: "authorized-by"}, extensible=False)
    return Measurement(
        mval=parse_measurement_values(_required(m, 1, "mval", path), f"{path}.mval"),
        mkey=parse_measured_element(m[0], f"{path}.mkey") if 0 in m else None,
        authorized_by=_authorized_by(m[2], f"{path}.authorized-by") if 2 in m else (),
    )


def _authorized_by(value: Any, path: str) -> tuple[CryptoKey, ...]:
    """``[ + key ]``; a single key, as veraison's concise evidence writes it, is read as a list of one."""
    if isinstance(value, list):
        return _items(value, path, parse_crypto_key)
    return (parse_crypto_key(value, path),)


def _measurements(value: Any, path: str) -> tuple[Measurement, ...]:
    return _items(value, path, parse_measurement)


# --- triples -------------------------------------------------------------------------------------------------


def _reference(value: Any, path: str) -> ReferenceTriple:
    env, claims = _record(value, path, (2,))
    return ReferenceTriple(parse_environment(env, f"{path}.environment"), _measurements(claims, f"{path}.measurements"))


def _endorsed(value: Any, path: str) -> EndorsedTriple:
    env, claims = _record(value, path, (2,))
    return EndorsedTriple(parse_environment(env, f"{path}.environment"), _measurements(claims, f"{path}.measurements"))


def _key_triple(value: Any, path: str) -> KeyTriple:
    items = _record(value, path, (2, 3))
    conditions = None
    if len(items) == 3:
        cpath = f"{path}.conditions"
        c = _map(items[2], cpath, non_empty=True)
        _split(c, cpath, {0: "mkey", 1: "authorized-by"}, extensible=False)
        conditions = KeyConditions(
            mkey=parse_measured_element(c[0], f"{cpath}.mkey") if 0 in c else None,
            authorized_by=_items(c[1], f"{cpath}.authorized-by", parse_crypto_key) if 1 in c else (),
        )
    return KeyTriple(
        parse_environment(items[0], f"{path}.environment"),
        _items(items[1], f"{path}.keys", parse_crypto_key),
        conditions,
    )


def _domain(value: Any, path: str) -> DomainTriple:
    domain, members = _record(value, path, (2,))
    return DomainTriple(
        parse_environment(domain, f"{path}.domain"), _items(members, f"{path}.members", parse_environment)
    )


def _swid_tag_id(value: Any, path: str) -> str | bytes:
    if isinstance(value, str):
        return value
    raw = _bytes(value, path)
    if len(raw) != 16:
        raise _err(path, f"a CoSWID tag id is text or 16 bytes, not {len(raw)} bytes")
    return raw


def _coswid(value: Any, path: str) -> CoswidTriple:
    env, ids = _record(value, path, (2,))
    return CoswidTriple(parse_environment(env, f"{path}.environment"), _items(ids, f"{path}.tag-ids", _swid_tag_id))


def _stateful(value: Any, path: str) -> StatefulEnvironment:
    items = _record(value, path, (2, 3))
    return StatefulEnvironment(
        parse_environment(items[0], f"{path}.environment"),
        # ``[ * measurement-map ]`` in the drafts veraison follows (an empty claims list matches any state).
        _items(items[1], f"{path}.measurements", parse_measurement, non_empty=False),
        _items(items[2], f"{path}.authorized-by", parse_crypto_key) if len(items) == 3 else (),
    )


def _series_record(value: Any, path: str) -> ConditionalSeries:
    selection, addition = _record(value, path, (2,))
    return ConditionalSeries(_measurements(selection, f"{path}.selection"), _measurements(addition, f"{path}.addition"))


def _ces(value: Any, path: str) -> ConditionalEndorsementSeriesTriple:
    condition, series = _record(value, path, (2,))
    return ConditionalEndorsementSeriesTriple(
        _stateful(condition, f"{path}.condition"), _items(series, f"{path}.series", _series_record)
    )


def _ce(value: Any, path: str) -> ConditionalEndorsementTriple:
    conditions, endorsements = _record(value, path, (2,))
    return ConditionalEndorsementTriple(
        _items(conditions, f"{path}.conditions", _stateful), _items(endorsements, f"{path}.endorsements", _endorsed)
    )


_TRIPLE_KEYS = {
    0: "reference",
    1: "endorsed",
    2: "identity",
    3: "attest-key",
    4: "dependency",
    5: "membership",
    6: "coswid",
    8: "conditional-endorsement-series",
    10: "conditional-endorsement",
}


def parse_triples(value: Any, path: str) -> Triples:
    m = _map(value, path, non_empty=True)
    extensions = _split(m, path, _TRIPLE_KEYS, extensible=True)

    def get(key: int, parse: Callable[[Any, str], T]) -> tuple[T, ...]:
        return _items(m[key], f"{path}.{_TRIPLE_KEYS[key]}", parse) if key in m else ()

    return Triples(
        reference=get(0, _reference),
        endorsed=get(1, _endorsed),
        identity=get(2, _key_triple),
        attest_key=get(3, _key_triple),
        dependency=get(4, _domain),
        membership=get(5, _domain),
        coswid=get(6, _coswid),
        conditional_endorsement_series=get(8, _ces),
        conditional_endorsement=get(10, _ce),
        extensions=extensions,
    )


# --- CoMID -----------------------------------------------------------------------------------------------------


def _tag_id(value: Any, path: str) -> str | uuid.UUID:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return _uuid_bytes(value, path)
    raise _err(path, "must be text or a 16-byte UUID")


def parse_entity(value: Any, path: str) -> Entity:
    m = _map(value, path)
    extensions = _split(m, path, {0: "entity-name", 1: "reg-id", 2: "role"}, extensible=True)
    roles = _items(_required(m, 2, "role", path), f"{path}.role", _uint)
    return Entity(
        name=_text(_required(m, 0, "entity-name", path), f"{path}.entity-name"),
        roles=roles,
        reg_id=parse_uri(m[1], f"{path}.reg-id") if 1 in m else None,
        extensions=extensions,
    )


def _linked_tag(value: Any, path: str) -> LinkedTag:
    m = _map(value, path)
    _split(m, path, {0: "linked-tag-id", 1: "tag-rel"}, extensible=False)
    return LinkedTag(
        tag_id=_tag_id(_required(m, 0, "linked-tag-id", path), f"{path}.linked-tag-id"),
        rel=_uint(_required(m, 1, "tag-rel", path), f"{path}.tag-rel"),
    )


def parse_comid(value: Any, path: str) -> ComID:
    """A ``concise-mid-tag`` map (already decoded)."""
    m = _map(value, path)
    known = {0: "language", 1: "tag-identity", 2: "entities", 3: "linked-tags", 4: "triples"}
    extensions = _split(m, path, known, extensible=True)
    ipath = f"{path}.tag-identity"
    ident = _map(_required(m, 1, "tag-identity", path), ipath)
    _split(ident, ipath, {0: "tag-id", 1: "tag-version"}, extensible=False)
    identity = TagIdentity(
        tag_id=_tag_id(_required(ident, 0, "tag-id", ipath), f"{ipath}.tag-id"),
        version=_uint(ident[1], f"{ipath}.tag-version") if 1 in ident else 0,
    )
    return ComID(
        tag_identity=identity,
        triples=parse_triples(_required(m, 4, "triples", path), f"{path}.triples"),
        language=_text(m[0], f"{path}.language") if 0 in m else None,
        entities=_items(m[2], f"{path}.entities", parse_entity) if 2 in m else (),
        linked_tags=_items(m[3], f"{path}.linked-tags", _linked_tag) if 3 in m else (),
        extensions=extensions,
    )


def _concise_tag(value: Any, path: str) -> ConciseTag:
    if _is_tag(value, TAG_COMID):
        inner = _bytes(value.value, path)
        return parse_comid(cbor.decode(inner, what=path), path)
    if isinstance(value, _tag_class()) and value.tag in (TAG_COSWID, TAG_COTL):
        return OpaqueTag(int(value.tag), _bytes(value.value, path))
    raise _err(path, "must be a CoMID (506), a CoSWID (505) or a CoTL (508) holding its encoded bytes")


# --- CoRIM -------------------------------------------------------------------------------------------------


def _locator(value: Any, path: str) -> Locator:
    m = _map(value, path)
    _split(m, path, {0: "href", 1: "thumbprint"}, extensible=False)
    href_raw = _required(m, 0, "href", path)
    href = (
        _items(href_raw, f"{path}.href", parse_uri)
        if isinstance(href_raw, list)
        else (parse_uri(href_raw, f"{path}.href"),)
    )
    thumbs: tuple[Digest, ...] = ()
    if 1 in m:
        t = m[1]
        # ``digest / [digest]``: a digest is itself [alg, bytes], so a list whose first entry is a list is the array.
        if isinstance(t, list) and t and isinstance(t[0], list):
            thumbs = _items(t, f"{path}.thumbprint", parse_digest)
        else:
            thumbs = (parse_digest(t, f"{path}.thumbprint"),)
    return Locator(href=href, thumbprints=thumbs)


def parse_corim_map(value: Any, path: str = "corim") -> CoRIM:
    """A ``corim-map`` (the content of tag 501)."""
    m = _map(value, path)
    known = {0: "id", 1: "tags", 2: "dependent-rims", 3: "profile", 4: "rim-validity", 5: "entities"}
    extensions = _split(m, path, known, extensible=True)
    raw_id = _required(m, 0, "id", path)
    corim_id: str | uuid.UUID
    if isinstance(raw_id, str):
        corim_id = raw_id
    elif isinstance(raw_id, bytes):
        corim_id = _uuid_bytes(raw_id, f"{path}.id")
    else:
        raise _err(f"{path}.id", "must be text or a 16-byte UUID")
    return CoRIM(
        id=corim_id,
        tags=_items(_required(m, 1, "tags", path), f"{path}.tags", _concise_tag),
        dependent_rims=_items(m[2], f"{path}.dependent-rims", _locator) if 2 in m else (),
        profile=parse_profile(m[3], f"{path}.profile") if 3 in m else None,
        validity=parse_validity(m[4], f"{path}.rim-validity") if 4 in m else None,
        entities=_items(m[5], f"{path}.entities", parse_entity) if 5 in m else (),
        extensions=extensions,
    )


def parse_tagged_corim(value: Any, path: str = "corim") -> CoRIM:
    """``tagged-unsigned-corim-map``: tag 501 around a corim-map."""
    return parse_corim_map(_tagged(value, path, TAG_CORIM, "an unsigned CoRIM"), path)


# --- CoEV ------------------------------------------------------------------------------------------------------


def _evidence(value: Any, path: str) -> EvidenceTriple:
    env, claims = _record(value, path, (2,))
    return EvidenceTriple(parse_environment(env, f"{path}.environment"), _measurements(claims, f"{path}.measurements"))


def _ev_coswid(value: Any, path: str) -> EvCoswidTriple:
    env, evidence = _record(value, path, (2,))
    return EvCoswidTriple(
        parse_environment(env, f"{path}.environment"),
        _items(evidence, f"{path}.evidence", lambda v, p: _map(v, p, non_empty=True)),
    )


_EV_TRIPLE_KEYS = {0: "evidence", 1: "identity", 2: "dependency", 3: "membership", 4: "coswid", 5: "attest-key"}


def parse_concise_evidence(value: Any, path: str = "coev") -> ConciseEvidence:
    """``concise-evidence-map`` (the content of tag 571)."""
    m = _map(value, path)
    extensions = _split(m, path, {0: "ev-triples", 1: "evidence-id", 2: "profile"}, extensible=True)
    tpath = f"{path}.ev-triples"
    t = _map(_required(m, 0, "ev-triples", path), tpath, non_empty=True)
    t_ext = _split(t, tpath, _EV_TRIPLE_KEYS, extensible=True)

    def get(key: int, parse: Callable[[Any, str], T]) -> tuple[T, ...]:
        return _items(t[key], f"{tpath}.{_EV_TRIPLE_KEYS[key]}", parse) if key in t else ()

    triples = EvTriples(
        evidence=get(0, _evidence),
        identity=get(1, _key_triple),
        dependency=get(2, _domain),
        membership=get(3, _domain),
        coswid=get(4, _ev_coswid),
        attest_key=get(5, _key_triple),
        extensions=t_ext,
    )
    return ConciseEvidence(
        ev_triples=triples,
        evidence_id=m.get(1),
        profile=parse_profile(m[2], f"{path}.profile") if 2 in m else None,
        extensions=extensions,
    )


# --- byte entry points ---------------------------------------------------------------------------------------


def decode_corim(data: bytes) -> CoRIM:
    """An unsigned CoRIM (tag 501) from its bytes."""
    return parse_tagged_corim(cbor.decode(data, what="corim"), "corim")


def decode_comid(data: bytes) -> ComID:
    """A CoMID from its bytes: the bare map, or tag 506 around its encoded bytes."""
    value = cbor.decode(data, what="comid")
    if _is_tag(value, TAG_COMID):
        return parse_comid(cbor.decode(_bytes(value.value, "comid"), what="comid"), "comid")
    return parse_comid(value, "comid")


def decode_coev(data: bytes) -> ConciseEvidence:
    value = cbor.decode(data, what="coev")
    return parse_concise_evidence(_tagged(value, "coev", TAG_COEV, "concise evidence"), "coev")
