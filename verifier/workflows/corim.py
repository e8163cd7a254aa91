"""``corim show`` and ``corim verify``: load a CoRIM-family file once, describe it, verify it, judge it.

Loading is strict (``attestations.corim``): a file that is not exactly a CoRIM, a signed CoRIM, a CoMID or a
CoEV is bad input naming the field. ``describe`` turns the model into a JSON-able tree (exact values; the text
command escapes them when it prints).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attestations.corim.cbor import MAX_SIZE
from attestations.corim.cose import verify_signed
from attestations.corim.document import load_document
from attestations.corim.errors import CorimFormatError, CorimUnsupportedError
from attestations.corim.model import (
    COMID_ROLES,
    CORIM_ROLES,
    ComID,
    ConciseEvidence,
    CoRIM,
    CryptoKey,
    Digest,
    Document,
    Entity,
    Environment,
    Measurement,
    MeasurementValues,
    Oid,
    OpaqueTag,
    SignedCorim,
    TaggedBytes,
    Ueid,
    Validity,
)
from attestations.files import read_limited
from attestations.keys import PublicKey, load_distinct_public_keys
from verifier.checks import corim as judge
from verifier.errors import BadInputError, UsageError
from verifier.model import Finding, Report


def load(path: Path) -> Document:
    """The document in ``path``; bad input (exit 2) names the file and the field."""
    data = read_limited(path, limit=MAX_SIZE, what="CoRIM file")
    try:
        return load_document(data)
    except (CorimFormatError, CorimUnsupportedError) as exc:
        raise BadInputError(f"{path}: {exc}") from None


# --- description -------------------------------------------------------------------------------------------


def _value(v: Any) -> Any:
    """A decoded CBOR value (extensions, COSE keys) as JSON-able data, keeping its meaning visible."""
    import cbor2  # deferred (TID253)

    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN or Infinity
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    if isinstance(v, cbor2.CBORTag):
        return {"tag": v.tag, "value": _value(v.value)}
    return str(v)


def _id(v: str | uuid.UUID | Oid | TaggedBytes | Ueid | int | CryptoKey) -> Any:
    if isinstance(v, Oid):
        return {"oid": v.dotted}
    if isinstance(v, uuid.UUID):
        return {"uuid": str(v)}
    if isinstance(v, TaggedBytes):
        return {"bytes": v.value.hex()}
    if isinstance(v, Ueid):
        return {"ueid": v.value.hex()}
    if isinstance(v, CryptoKey):
        return _key(v)
    return v


def _digest(d: Digest) -> dict[str, Any]:
    return {"alg": d.alg_name or d.alg, "value": d.value.hex()}


def _key(k: CryptoKey) -> dict[str, Any]:
    value: Any = _digest(k.value) if isinstance(k.value, Digest) else _value(k.value)
    return {"type": k.kind, "value": value}


def _validity(v: Validity | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"not_before": v.not_before.isoformat() if v.not_before else None, "not_after": v.not_after.isoformat()}


def _entity(e: Entity, roles: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": e.name, "roles": [roles.get(r, r) for r in e.roles]}
    if e.reg_id is not None:
        out["reg_id"] = e.reg_id
    if e.extensions:
        out["extensions"] = {str(k): _value(v) for k, v in e.extensions}
    return out


def _environment(env: Environment) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if env.class_ is not None:
        c = env.class_
        cls = {
            "class_id": _id(c.class_id) if c.class_id is not None else None,
            "vendor": c.vendor,
            "model": c.model,
            "layer": c.layer,
            "index": c.index,
        }
        out["class"] = {k: v for k, v in cls.items() if v is not None}
    if env.instance is not None:
        out["instance"] = _id(env.instance)
    if env.group is not None:
        out["group"] = _id(env.group)
    return out


def _mval(v: MeasurementValues) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if v.version is not None:
        out["version"] = {"version": v.version.version, "scheme": v.version.scheme}
    if v.svn is not None:
        out["svn"] = {"value": v.svn.value, "kind": "minimum" if v.svn.minimum else "exact"}
    if v.digests:
        out["digests"] = [_digest(d) for d in v.digests]
    if v.flags is not None:
        out["flags"] = v.flags.named() | {str(k): _value(x) for k, x in v.flags.extensions}
    if v.raw_value is not None:
        r = v.raw_value
        out["raw_value"] = {"value": r.value.hex(), "mask": r.mask.hex() if r.mask is not None else None}
        if r.deprecated_mask:
            out["raw_value"]["deprecated_mask"] = True
    for name, raw in (("mac_addr", v.mac_addr), ("ip_addr", v.ip_addr)):
        if raw is not None:
            out[name] = raw.hex()
    if v.serial_number is not None:
        out["serial_number"] = v.serial_number
    if v.ueid is not None:
        out["ueid"] = v.ueid.value.hex()
    if v.uuid is not None:
        out["uuid"] = str(v.uuid)
    if v.name is not None:
        out["name"] = v.name
    if v.cryptokeys:
        out["cryptokeys"] = [_key(k) for k in v.cryptokeys]
    if v.integrity_registers:
        out["integrity_registers"] = {str(r.register): [_digest(d) for d in r.digests] for r in v.integrity_registers}
    if v.int_range is not None:
        out["int_range"] = {"min": v.int_range.minimum, "max": v.int_range.maximum}
    if v.extensions:
        out["extensions"] = {str(k): _value(x) for k, x in v.extensions}
    return out


def _measurement(m: Measurement) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if m.mkey is not None:
        out["mkey"] = _id(m.mkey)
    out["mval"] = _mval(m.mval)
    if m.authorized_by:
        out["authorized_by"] = [_key(k) for k in m.authorized_by]
    return out


def _env_claims(env: Environment, ms: Sequence[Measurement]) -> dict[str, Any]:
    return {"environment": _environment(env), "measurements": [_measurement(m) for m in ms]}


def _key_and_domain_triples(t: Any) -> dict[str, Any]:
    """The identity, attest-key, dependency and membership triples, which CoMID and CoEV share."""
    triples: dict[str, Any] = {}
    for name, keyed in (("identity", t.identity), ("attest_key", t.attest_key)):
        if keyed:
            triples[name] = [
                {"environment": _environment(k.environment), "keys": [_key(x) for x in k.keys]} for k in keyed
            ]
    for name, domains in (("dependency", t.dependency), ("membership", t.membership)):
        if domains:
            triples[name] = [
                {"domain": _environment(d.domain), "members": [_environment(m) for m in d.members]} for d in domains
            ]
    return triples


def describe_comid(c: ComID) -> dict[str, Any]:
    t = c.triples
    triples: dict[str, Any] = {}
    if t.reference:
        triples["reference"] = [_env_claims(r.environment, r.measurements) for r in t.reference]
    if t.endorsed:
        triples["endorsed"] = [_env_claims(r.environment, r.measurements) for r in t.endorsed]
    triples.update(_key_and_domain_triples(t))
    if t.coswid:
        triples["coswid"] = [
            {"environment": _environment(r.environment), "tag_ids": [_value(i) for i in r.tag_ids]} for r in t.coswid
        ]
    if t.conditional_endorsement_series:
        triples["conditional_endorsement_series"] = [
            {
                "condition": _env_claims(r.condition.environment, r.condition.measurements),
                "series": [
                    {
                        "selection": [_measurement(m) for m in s.selection],
                        "addition": [_measurement(m) for m in s.addition],
                    }
                    for s in r.series
                ],
            }
            for r in t.conditional_endorsement_series
        ]
    if t.conditional_endorsement:
        triples["conditional_endorsement"] = [
            {
                "conditions": [_env_claims(s.environment, s.measurements) for s in r.conditions],
                "endorsements": [_env_claims(e.environment, e.measurements) for e in r.endorsements],
            }
            for r in t.conditional_endorsement
        ]
    if t.extensions:
        triples["extensions"] = {str(k): _value(v) for k, v in t.extensions}
    out: dict[str, Any] = {
        "tag_id": _id(c.tag_identity.tag_id) if isinstance(c.tag_identity.tag_id, uuid.UUID) else c.tag_identity.tag_id,
        "tag_version": c.tag_identity.version,
    }
    if c.language is not None:
        out["language"] = c.language
    if c.entities:
        out["entities"] = [_entity(e, COMID_ROLES) for e in c.entities]
    if c.linked_tags:
        out["linked_tags"] = [{"tag_id": _id(lt.tag_id), "rel": lt.rel_name} for lt in c.linked_tags]
    out["triples"] = triples
    if c.extensions:
        out["extensions"] = {str(k): _value(v) for k, v in c.extensions}
    return out


def describe_corim(c: CoRIM) -> dict[str, Any]:
    tags: list[dict[str, Any]] = []
    for t in c.tags:
        if isinstance(t, OpaqueTag):
            tags.append({"type": t.kind, "bytes": len(t.data)})
        else:
            tags.append({"type": "comid", **describe_comid(t)})
    out: dict[str, Any] = {"id": _id(c.id)}
    if c.profile is not None:
        out["profile"] = _id(c.profile)
    if c.validity is not None:
        out["validity"] = _validity(c.validity)
    if c.entities:
        out["entities"] = [_entity(e, CORIM_ROLES) for e in c.entities]
    if c.dependent_rims:
        out["dependent_rims"] = [
            {"href": list(loc.href), "thumbprints": [_digest(d) for d in loc.thumbprints]} for loc in c.dependent_rims
        ]
    if c.extensions:
        out["extensions"] = {str(k): _value(v) for k, v in c.extensions}
    out["tags"] = tags
    return out


def describe_signed(s: SignedCorim) -> dict[str, Any]:
    p = s.protected
    header: dict[str, Any] = {"alg": p.alg_name, "content_type": p.content_type}
    if p.kid is not None:
        header["kid"] = p.kid.hex()
    if p.crit:
        header["crit"] = list(p.crit)
    if p.meta is not None:
        header["signer"] = {"name": p.meta.signer.name, "uri": p.meta.signer.uri}
        header["signature_validity"] = _validity(p.meta.signature_validity)
    if p.cwt_claims is not None:
        header["cwt_claims"] = _value(p.cwt_claims)
    if p.other:
        header["other"] = {str(k): _value(v) for k, v in p.other}
    return {"protected": header, "unprotected": {str(k): _value(v) for k, v in s.unprotected}}


def describe_coev(e: ConciseEvidence) -> dict[str, Any]:
    t = e.ev_triples
    triples: dict[str, Any] = {}
    if t.evidence:
        triples["evidence"] = [_env_claims(r.environment, r.measurements) for r in t.evidence]
    triples.update(_key_and_domain_triples(t))
    if t.coswid:
        triples["coswid"] = [
            {"environment": _environment(r.environment), "evidence": [_value(x) for x in r.evidence]} for r in t.coswid
        ]
    out: dict[str, Any] = {"ev_triples": triples}
    if e.profile is not None:
        out["profile"] = _id(e.profile)
    if e.evidence_id is not None:
        out["evidence_id"] = _value(e.evidence_id)
    if e.extensions:
        out["extensions"] = {str(k): _value(v) for k, v in e.extensions}
    return out


def describe(doc: Document) -> dict[str, Any]:
    """The document as a JSON-able tree: what ``corim show`` prints."""
    out: dict[str, Any] = {"kind": doc.kind}
    if doc.signed is not None:
        out["cose"] = describe_signed(doc.signed)
    if doc.corim is not None:
        out["corim"] = describe_corim(doc.corim)
    if doc.comid is not None:
        out["comid"] = describe_comid(doc.comid)
    if doc.coev is not None:
        out["coev"] = describe_coev(doc.coev)
    return out


# --- verification ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorimVerifyRequest:
    file: Path
    keys: Sequence[Path]
    at: datetime | None = None


def parse_at(text: str) -> datetime:
    """``--at``: an ISO 8601 date or date-time; without a zone it is UTC."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--at {text!r} is not an ISO 8601 date or date-time (e.g. 2024-06-01)") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _summary(doc: Document) -> str:
    if doc.corim is not None:
        comids = doc.corim.comids
        refs = sum(len(c.triples.reference) for c in comids)
        return f"CoRIM with {len(doc.corim.tags)} tag(s), {len(comids)} CoMID(s), {refs} reference triple(s)"
    if doc.comid is not None:
        return f"CoMID with {len(doc.comid.triples.reference)} reference triple(s)"
    return "concise evidence"


def _cwt_window(claims: Any) -> Validity | None:
    """The CWT claims' nbf (5) / exp (4) as a validity window, when exp is given."""
    if not isinstance(claims, dict):
        return None
    exp, nbf = claims.get(4), claims.get(5)

    def when(v: Any) -> datetime | None:
        if isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 253402300800:
            return datetime.fromtimestamp(v, UTC)
        return None

    not_after = when(exp)
    return Validity(not_after=not_after, not_before=when(nbf)) if not_after is not None else None


def verify_document(doc: Document, keys_paths: Sequence[Path], at: datetime | None, subject: str) -> list[Finding]:
    """Signature, validity and format findings for a loaded document, with the keys in ``keys_paths``."""
    return corim_findings(doc, load_distinct_public_keys(keys_paths), at, subject)


def corim_findings(doc: Document, keys: Sequence[PublicKey], at: datetime | None, subject: str) -> list[Finding]:
    """``refval.format``, ``refval.signature`` and ``refval.validity`` for a loaded document and loaded keys.

    What intake uses for each ``--reference-values`` file, with the keys its policy trusts for reference values.
    """
    when = at or datetime.now(UTC)
    findings = [judge.judge_format(doc.kind, _summary(doc), subject)]
    check = verify_signed(doc.signed, keys) if doc.signed is not None else None
    findings.append(judge.judge_signature(doc.signed, check, subject))
    windows: dict[str, Validity] = {}
    if doc.corim is not None and doc.corim.validity is not None:
        windows["rim_validity"] = doc.corim.validity
    if doc.signed is not None:
        meta = doc.signed.protected.meta
        if meta is not None and meta.signature_validity is not None:
            windows["signature_validity"] = meta.signature_validity
        cwt = _cwt_window(doc.signed.protected.cwt_claims)
        if cwt is not None:
            windows["cwt_claims"] = cwt
    findings.append(judge.judge_validity(windows, when, subject))
    return findings


def run_verify(request: CorimVerifyRequest) -> Report:
    if not request.keys:
        raise UsageError("give at least one --key to verify the CoRIM's signature with")
    doc = load(request.file)
    subject = str(request.file)
    findings = verify_document(doc, request.keys, request.at, subject)
    meta: dict[str, Any] = {"kind": doc.kind}
    if doc.corim is not None:
        meta["corim_id"] = _id(doc.corim.id)
    if doc.signed is not None and doc.signed.protected.meta is not None:
        meta["signer_claimed"] = doc.signed.protected.meta.signer.name
    return Report(title=f"corim verify {request.file.name}", findings=tuple(findings), subject=subject, metadata=meta)
