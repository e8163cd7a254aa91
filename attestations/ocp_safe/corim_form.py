"""The CoRIM form of a short-form report (OCP S.A.F.E. SFR CoRIM profile), read into the same ``ShortFormReport``.

Hand-written mapping on the project's CoRIM reader (``attestations.corim``: strict bounded CBOR, typed CoMID,
COSE_Sign1 through cwt): no library knows this profile. The profile puts the review in a conditional-endorsement
triple: the *condition* is the reviewed firmware (environment class vendor/model, measurement digests), the
*endorsement* carries the SFR map as measurement-values extension ``-1``:

    0 review-framework-version, 1 report-version, 2 completion-date (time), 3 scope-number (integer),
    4 fw-identifiers [{0 version-map, 1 fw-file-digests, 2 repo-tag, 3 src-manifest}],
    5 issues [{0 title, 1 description, 2 assessment {0 cvss-score, 1 cvss-vector, 2 cvss-version}, 3 cwe, 4 cve}],
    6 solid-version

Mapped onto the JSON model: vendor and product are the endorsed environment's class vendor and model; the
firmware digests are the condition's sha-384 / sha-512 digests together with every fw-file-digests (which must
agree: one review, one image); the SRP is the CoRIM entity with the manifest-creator role (1), else the signer
named in the COSE header. Decisions, each an error naming the field when broken:

- the CoRIM must name the profile. The specification writes its OID as 1.3.6.1.4.1.42623.1.1 but the DER bytes it
  gives (``060A2B0601040182F4170101``, also in its example) encode 1.3.6.1.4.1.47639.1.1: both are accepted;
- exactly one SFR map (one ``-1`` extension) per file; an unknown key in it is refused, as in the JSON form;
- an unsigned CoRIM is read and described but carries no signature (``signed`` False): it never verifies;
- a COSE-signed one is verified with the caller's keys only, and only with ES384 or ES512, the algorithms the
  SFR format allows for EC keys (ES256 and EdDSA, which CoRIM itself allows, are refused here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from attestations.corim.cose import verify_signed
from attestations.corim.document import load_document
from attestations.corim.model import COSE_SIGNATURE_ALGORITHMS, CoRIM, Digest, Measurement, Oid, find_extension
from attestations.keys import PublicKey
from attestations.ocp_safe.facts import FORM_CORIM, FORM_COSE_CORIM, SignedReview
from attestations.ocp_safe.report import (
    Audit,
    Device,
    Issue,
    ManifestEntry,
    ReviewFormatError,
    ShortFormReport,
    digest_hex,
)

#: The profile OID as the specification writes it, and as its DER bytes (and example) encode it.
PROFILE_OIDS = frozenset({"1.3.6.1.4.1.42623.1.1", "1.3.6.1.4.1.47639.1.1"})
#: The measurement-values-map extension key that carries the SFR map.
SFR_EXTENSION = -1
#: The COSE algorithms a signed CoRIM-form review may use (ES384, ES512).
REVIEW_COSE_ALGORITHMS = frozenset({-35, -36})
#: corim-entity role: manifest-creator
_CREATOR = 1
_SFR_KEYS = {0, 1, 2, 3, 4, 5, 6}
_DIGEST_NAMES = {"sha-384": "sha384", "sha-512": "sha512"}


def looks_like_cbor(data: bytes) -> bool:
    """A tagged CoRIM (501) or a COSE_Sign1 (18), the two ways a CoRIM-form SFR starts."""
    return data[:3] == b"\xd9\x01\xf5" or data[:1] == b"\xd2" or data[:2] == b"\xd8\x12"


def read_corim_review(path: str, data: bytes, keys: Sequence[PublicKey]) -> SignedReview:
    """The review in a CoRIM-form SFR file, its COSE signature (if any) checked against ``keys`` only."""
    document = load_document(data)
    if document.corim is None:
        raise ReviewFormatError(f"{path}: a {document.kind}, not a CoRIM; an SFR is a (signed) CoRIM")
    signed = document.signed
    report = report_from_corim(document.corim, signer_name=_signer_name(document.signed))
    if signed is None:
        return SignedReview(path, FORM_CORIM, report, signed=False, keys_given=len(keys))
    alg = signed.protected.alg
    alg_name = COSE_SIGNATURE_ALGORITHMS.get(alg, str(alg))
    label = signed.protected.meta.signer.name if signed.protected.meta is not None else None
    if alg not in REVIEW_COSE_ALGORITHMS:
        return SignedReview(
            path, FORM_COSE_CORIM, report, signed=True, algorithm=alg_name, label=label, keys_given=len(keys),
            refused=f"the COSE header says alg {alg_name}; signed reviews use ES384 or ES512 only",
        )
    fitting = [key for key in keys if key.algorithm == ("ecdsa-p384" if alg == -35 else "ecdsa-p521")]
    check = verify_signed(signed, fitting) if fitting else None
    return SignedReview(
        path,
        FORM_COSE_CORIM,
        report,
        signed=True,
        signer=check.key if check is not None and check.valid else None,
        algorithm=alg_name,
        label=label,
        keys_given=len(keys),
        fitting=len(fitting),
    )


def _signer_name(signed: Any) -> str | None:
    meta = signed.protected.meta if signed is not None else None
    return meta.signer.name if meta is not None else None


def report_from_corim(corim: CoRIM, *, signer_name: str | None = None) -> ShortFormReport:
    """The ``ShortFormReport`` a CoRIM of the OCP S.A.F.E. SFR profile carries."""
    profile = corim.profile
    named = profile.dotted if isinstance(profile, Oid) else profile
    if named not in PROFILE_OIDS:
        raise ReviewFormatError(
            f"corim.profile is {named!r}, not the OCP S.A.F.E. SFR profile (1.3.6.1.4.1.42623.1.1)"
        )
    found: list[tuple[str, Any, Any, tuple[Measurement, ...]]] = []
    for c, comid in enumerate(corim.comids):
        for t, triple in enumerate(comid.triples.conditional_endorsement):
            conditions = tuple(m for condition in triple.conditions for m in condition.measurements)
            for e, endorsed in enumerate(triple.endorsements):
                for m, measurement in enumerate(endorsed.measurements):
                    sfr = find_extension(measurement.mval.extensions, SFR_EXTENSION)
                    if sfr is not None:
                        where = f"comid[{c}].conditional-endorsement[{t}].endorsement[{e}].measurement[{m}].mval.-1"
                        found.append((where, sfr, endorsed.environment, conditions))
    if not found:
        raise ReviewFormatError("the CoRIM carries no SFR (no conditional-endorsement with measurement value -1)")
    if len(found) > 1:
        raise ReviewFormatError(f"the CoRIM carries {len(found)} SFRs; one file holds one review")
    where, sfr, environment, conditions = found[0]
    sfr_map = _map(sfr, where)
    unknown = sorted(str(k) for k in sfr_map if k not in _SFR_KEYS)
    if unknown:
        raise ReviewFormatError(f"{where}: key {unknown[0]} is not an OCP S.A.F.E. SFR field")
    for key, name in ((0, "review-framework-version"), (1, "report-version"), (2, "completion-date"),
                      (3, "scope-number")):
        if key not in sfr_map:
            raise ReviewFormatError(f"{where}.{key} ({name}) is missing")
    completed = sfr_map[2]
    if not isinstance(completed, datetime):
        raise ReviewFormatError(f"{where}.2 (completion-date) is not a time")
    scope = sfr_map[3]
    if isinstance(scope, bool) or not isinstance(scope, int):
        raise ReviewFormatError(f"{where}.3 (scope-number) is not an integer")

    digests: dict[str, set[str]] = {"sha384": set(), "sha512": set()}
    for measurement in conditions:
        _collect(measurement.mval.digests, digests, f"{where}: the condition's digests")
    fw_version, repo_tag, manifest = "", "", []
    for i, item in enumerate(_list(sfr_map.get(4, []), f"{where}.4")):
        at = f"{where}.4[{i}]"
        ident = _map(item, at)
        if 0 in ident:
            version = _map(ident[0], f"{at}.0")
            fw_version = _text(version.get(0), f"{at}.0.0")
        if 1 in ident:
            _collect(_digests(ident[1], f"{at}.1"), digests, f"{at}.1")
        if 2 in ident:
            repo_tag = _text(ident[2], f"{at}.2")
        if 3 in ident:
            source = _map(ident[3], f"{at}.3")
            for j, entry in enumerate(_list(source.get(1, []), f"{at}.3.1")):
                entry_map = _map(entry, f"{at}.3.1[{j}]")
                for digest in _digests(entry_map.get(1, []), f"{at}.3.1[{j}].1"):
                    if _DIGEST_NAMES.get(digest.alg_name or "") is not None:
                        manifest.append(ManifestEntry(_text(entry_map.get(0), f"{at}.3.1[{j}].0"),
                                                      digest.value.hex()))
    chosen: dict[str, str] = {}
    for name, values in digests.items():
        if len(values) > 1:
            raise ReviewFormatError(f"{where}: {len(values)} different {name} firmware digests; one review, one image")
        chosen[name] = next(iter(values), "")
    issues = tuple(_issue(item, f"{where}.5[{i}]") for i, item in enumerate(_list(sfr_map.get(5, []), f"{where}.5")))
    cvss_versions = sorted({v for v in (_cvss_version(item) for item in sfr_map.get(5, []) or []) if v})
    class_ = environment.class_ if environment is not None else None
    srp = next((e.name for e in corim.entities if _CREATOR in e.roles), None) or signer_name or ""
    device = Device(
        vendor=(class_.vendor or "") if class_ is not None else "",
        product=(class_.model or "") if class_ is not None else "",
        repo_tag=repo_tag,
        fw_version=fw_version,
        fw_hash_sha2_384=chosen["sha384"],
        fw_hash_sha2_512=chosen["sha512"],
        manifest=tuple(manifest),
    )
    audit = Audit(
        srp=srp,
        completion_date=(completed.astimezone(UTC) if completed.tzinfo else completed).date(),
        report_version=_text(sfr_map[1], f"{where}.1"),
        scope_number=str(scope),
        cvss_version=", ".join(cvss_versions),
        issues=issues,
        solid_version=_text(sfr_map.get(6, ""), f"{where}.6"),
    )
    return ShortFormReport(_text(sfr_map[0], f"{where}.0"), device, audit)


def _map(value: object, where: str) -> Mapping[Any, Any]:
    if not isinstance(value, dict):
        raise ReviewFormatError(f"{where} is not a map")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ReviewFormatError(f"{where} is not an array")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ReviewFormatError(f"{where} is not a text string")
    return value


def _digests(value: object, where: str) -> tuple[Digest, ...]:
    out = []
    for i, item in enumerate(_list(value, where)):
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], int | str)
                or isinstance(item[0], bool) or not isinstance(item[1], bytes)):
            raise ReviewFormatError(f"{where}[{i}] is not a digest [alg, bytes]")
        out.append(Digest(item[0], item[1]))
    return tuple(out)


def _collect(digests: Sequence[Digest], into: dict[str, set[str]], where: str) -> None:
    for digest in digests:
        name = _DIGEST_NAMES.get(digest.alg_name or "")
        if name is not None:
            into[name].add(digest_hex(digest.value.hex(), name, where))


def _cvss_version(item: object) -> str | None:
    if isinstance(item, dict) and isinstance(item.get(2), dict) and isinstance(item[2].get(2), str):
        version: str = item[2][2]
        return version
    return None


def _issue(value: object, where: str) -> Issue:
    entry = _map(value, where)
    unknown = sorted(str(k) for k in entry if k not in (0, 1, 2, 3, 4))
    if unknown:
        raise ReviewFormatError(f"{where}: key {unknown[0]} is not an issue field")
    for key, name in ((0, "title"), (1, "description"), (2, "assessment")):
        if key not in entry:
            raise ReviewFormatError(f"{where}.{key} ({name}) is missing")
    assessment = _map(entry[2], f"{where}.2")
    for key, name in ((0, "cvss-score"), (1, "cvss-vector")):
        if key not in assessment:
            raise ReviewFormatError(f"{where}.2.{key} ({name}) is missing")
    as_json = {
        "title": _text(entry[0], f"{where}.0"),
        "description": _text(entry[1], f"{where}.1"),
        "cvss_score": _text(assessment[0], f"{where}.2.0"),
        "cvss_vector": _text(assessment[1], f"{where}.2.1"),
        "cwe": _text(entry.get(3, ""), f"{where}.3"),
        "cve": _text(entry[4], f"{where}.4") if 4 in entry else None,
    }
    try:
        return Issue.from_dict(as_json, where)
    except ReviewFormatError as exc:
        raise ReviewFormatError(str(exc).replace(f"{where}.cvss_score", f"{where}.2.0")) from None
