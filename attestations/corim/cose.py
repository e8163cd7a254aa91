"""Signed CoRIM: COSE_Sign1 (tag 18) decoding with the draft's header rules, verification and signing through ``cwt``.

The envelope's structure and the protected header are read here (strict CBOR, the draft's
``protected-corim-header-map``):
alg is ES256, ES384, ES512 or EdDSA (anything else, ``none`` and HMAC among them, is refused), the content type is
``application/rim+cbor``, corim-meta (label 8) or CWT claims (label 15) name the signer, a ``crit`` label we do not
process is refused, and no label is both protected and unprotected. The signature itself is checked by ``cwt``'s
COSE_Sign1 verification with each given public key, never by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attestations.corim import cbor
from attestations.corim.decode import TAG_COSE_SIGN1, parse_corim_map, parse_tagged_corim, parse_uri, parse_validity
from attestations.corim.encode import encode_corim, encode_validity
from attestations.corim.errors import CorimFormatError, CorimUnsupportedError
from attestations.corim.model import (
    COSE_SIGNATURE_ALGORITHMS,
    CoRIM,
    CorimMeta,
    CorimSigner,
    ProtectedHeader,
    SignedCorim,
)
from attestations.keys import PublicKey, Signer, private_pem, public_pem

CONTENT_TYPE = "application/rim+cbor"
LABEL_ALG, LABEL_CRIT, LABEL_CONTENT_TYPE, LABEL_KID, LABEL_CORIM_META, LABEL_CWT_CLAIMS = 1, 2, 3, 4, 8, 15
#: Labels whose meaning this reader applies, so they may be listed in ``crit``.
UNDERSTOOD_LABELS = frozenset(
    {LABEL_ALG, LABEL_CRIT, LABEL_CONTENT_TYPE, LABEL_KID, LABEL_CORIM_META, LABEL_CWT_CLAIMS}
)
#: Names of algorithms refused, to say what was asked for.
_REFUSED_ALG_NAMES = {
    0: "none (reserved)",
    4: "HMAC 256/64",
    5: "HMAC 256/256",
    6: "HMAC 384/384",
    7: "HMAC 512/512",
    -37: "PS256",
    -38: "PS384",
    -39: "PS512",
    -257: "RS256",
    -258: "RS384",
    -259: "RS512",
    -47: "ES256K",
    -19: "Ed25519",
    -9: "ESP256",
    -51: "ESP384",
}
#: Key algorithm (attestations.keys naming) -> the COSE alg a CoRIM signed with it carries.
ALG_FOR_KEY = {"ecdsa-p256": -7, "ecdsa-p384": -35, "ecdsa-p521": -36, "ed25519": -8}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _label(value: Any, path: str) -> int | str:
    if _is_int(value) or isinstance(value, str):
        return value  # type: ignore[no-any-return]
    raise CorimFormatError(path, f"header label {value!r} must be an integer or text")


def parse_corim_meta(data: Any, path: str) -> CorimMeta:
    if not isinstance(data, bytes):
        raise CorimFormatError(path, "corim-meta must be a byte string holding CBOR")
    m = cbor.decode(data, what=path)
    if not isinstance(m, dict):
        raise CorimFormatError(path, "must be a map")
    for key in m:
        if key not in (0, 1) or isinstance(key, bool):
            raise CorimFormatError(path, f"unknown key {key!r}")
    if 0 not in m:
        raise CorimFormatError(path, "missing signer (key 0)")
    spath = f"{path}.signer"
    s = m[0]
    if not isinstance(s, dict):
        raise CorimFormatError(spath, "must be a map")
    extensions = tuple((k, v) for k, v in s.items() if k not in (0, 1) or isinstance(k, bool))
    for k, _ in extensions:
        if not (_is_int(k) or isinstance(k, str)):
            raise CorimFormatError(spath, f"key {k!r} must be an integer or text")
    if 0 not in s:
        raise CorimFormatError(spath, "missing signer-name (key 0)")
    if not isinstance(s[0], str):
        raise CorimFormatError(f"{spath}.signer-name", "must be text")
    signer = CorimSigner(
        name=s[0], uri=parse_uri(s[1], f"{spath}.signer-uri") if 1 in s else None, extensions=extensions
    )
    validity = parse_validity(m[1], f"{path}.signature-validity") if 1 in m else None
    return CorimMeta(signer=signer, signature_validity=validity)


def _protected(data: Any) -> ProtectedHeader:
    path = "cose.protected"
    if not isinstance(data, bytes):
        raise CorimFormatError(path, "must be a byte string")
    if not data:
        raise CorimFormatError(path, "is empty: a signed CoRIM protects alg, content type and its signer")
    m = cbor.decode(data, what=path)
    if not isinstance(m, dict):
        raise CorimFormatError(path, "must be a map")
    for key in m:
        _label(key, path)
    if LABEL_ALG not in m:
        raise CorimFormatError(path, "missing alg (label 1)")
    alg = m[LABEL_ALG]
    if not _is_int(alg):
        raise CorimUnsupportedError(f"{path}.alg: {alg!r} is not a COSE algorithm this reader accepts (an integer id)")
    if alg not in COSE_SIGNATURE_ALGORITHMS:
        name = _REFUSED_ALG_NAMES.get(alg, f"COSE algorithm {alg}")
        raise CorimUnsupportedError(
            f"{path}.alg: {name} is refused; a CoRIM signature must be ES256, ES384, ES512 or EdDSA"
        )
    if LABEL_CONTENT_TYPE not in m:
        raise CorimFormatError(path, "missing content type (label 3)")
    if m[LABEL_CONTENT_TYPE] != CONTENT_TYPE:
        raise CorimFormatError(f"{path}.content-type", f"must be {CONTENT_TYPE!r}, not {m[LABEL_CONTENT_TYPE]!r}")
    crit: tuple[int | str, ...] = ()
    if LABEL_CRIT in m:
        raw = m[LABEL_CRIT]
        if not isinstance(raw, list) or not raw:
            raise CorimFormatError(f"{path}.crit", "must be a non-empty array of labels")
        crit = tuple(_label(c, f"{path}.crit") for c in raw)
        for c in crit:
            if c not in UNDERSTOOD_LABELS or isinstance(c, bool):
                raise CorimUnsupportedError(f"{path}.crit: critical header {c!r} is not one this verifier understands")
            if c not in m:
                raise CorimFormatError(f"{path}.crit", f"lists {c!r}, which the protected header does not carry")
    meta = parse_corim_meta(m[LABEL_CORIM_META], f"{path}.corim-meta") if LABEL_CORIM_META in m else None
    cwt_claims = m.get(LABEL_CWT_CLAIMS)
    if cwt_claims is not None and (not isinstance(cwt_claims, dict) or not isinstance(cwt_claims.get(1), str)):
        raise CorimFormatError(f"{path}.cwt-claims", "must be a map with an issuer (iss, key 1)")
    if meta is None and cwt_claims is None:
        raise CorimFormatError(path, "names no signer: corim-meta (label 8) or CWT claims (label 15) is required")
    kid = m.get(LABEL_KID)
    if kid is not None and not isinstance(kid, bytes):
        raise CorimFormatError(f"{path}.kid", "must be a byte string")
    known = (LABEL_ALG, LABEL_CRIT, LABEL_CONTENT_TYPE, LABEL_KID, LABEL_CORIM_META, LABEL_CWT_CLAIMS)
    other = tuple((k, v) for k, v in m.items() if k not in known or isinstance(k, bool))
    return ProtectedHeader(
        alg=alg, content_type=CONTENT_TYPE, meta=meta, kid=kid, cwt_claims=cwt_claims, crit=crit, other=other
    )


def parse_signed(value: Any, encoded: bytes) -> SignedCorim:
    """A decoded tag-18 value (and the bytes it came from) as a ``SignedCorim``; the signature is not checked."""
    import cbor2  # deferred (TID253)

    if not (isinstance(value, cbor2.CBORTag) and value.tag == TAG_COSE_SIGN1):
        raise CorimFormatError("cose", "must be a COSE_Sign1 (tag 18)")
    items = value.value
    if not isinstance(items, list) or len(items) != 4:
        raise CorimFormatError("cose", "COSE_Sign1 must be an array of 4 entries")
    protected_bytes, unprotected, payload, signature = items
    header = _protected(protected_bytes)
    if not isinstance(unprotected, dict):
        raise CorimFormatError("cose.unprotected", "must be a map")
    for key in unprotected:
        _label(key, "cose.unprotected")
        if key in (LABEL_ALG, LABEL_CRIT, LABEL_CONTENT_TYPE, LABEL_CORIM_META, LABEL_CWT_CLAIMS):
            raise CorimFormatError("cose.unprotected", f"label {key!r} must be protected, not unprotected")
    if header.kid is not None and LABEL_KID in unprotected:
        raise CorimFormatError("cose.unprotected", "kid is both protected and unprotected")
    if payload is None:
        raise CorimFormatError("cose.payload", "is detached; a signed CoRIM carries its payload")
    if not isinstance(payload, bytes):
        raise CorimFormatError("cose.payload", "must be a byte string")
    if not isinstance(signature, bytes):
        raise CorimFormatError("cose.signature", "must be a byte string")
    corim = parse_tagged_corim(cbor.decode(payload, what="corim"), "corim")
    return SignedCorim(
        protected=header,
        protected_bytes=protected_bytes,
        unprotected=tuple(unprotected.items()),
        payload=payload,
        signature=signature,
        corim=corim,
        encoded=encoded,
    )


def decode_signed(data: bytes) -> SignedCorim:
    """A signed CoRIM from its bytes (tag 18); structure and headers checked, signature not."""
    return parse_signed(cbor.decode(data, what="cose"), data)


# --- verification --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking a signed CoRIM against some keys: which key verified it, if any, and why not."""

    valid: bool
    alg: str
    key: PublicKey | None = None
    keys_tried: int = 0
    reasons: tuple[str, ...] = ()


_KEY_MATCHES_ALG = {
    -7: ("ecdsa-p256",),
    -35: ("ecdsa-p384",),
    -36: ("ecdsa-p521",),
    -8: ("ed25519",),
}


@functools.lru_cache(maxsize=256)
def _cose_key(key: PublicKey, alg: int, kid: bytes) -> Any:
    """cwt's key object for ``key`` under ``alg`` and ``kid``, built once (PEM parsing costs more than a verify)."""
    from cwt import COSEKey  # deferred (TID253)

    return COSEKey.from_pem(public_pem(key), alg=alg, kid=kid)


def verify_signed(signed: SignedCorim, keys: Sequence[PublicKey]) -> SignatureCheck:
    """Check ``signed`` with each key through cwt's COSE_Sign1 verification; valid when one of them verifies it."""
    from cwt import COSE  # deferred (TID253)

    alg = signed.protected.alg
    # cwt only tries keys whose kid equals the message's; the kid is a hint, so every given key is tried under it.
    kid = signed.protected.kid
    if kid is None:
        kid = next((v for k, v in signed.unprotected if k == LABEL_KID and isinstance(v, bytes)), None)
    reasons: list[str] = []
    for key in keys:
        if key.algorithm not in _KEY_MATCHES_ALG.get(alg, ()):
            reasons.append(f"{key.describe()} cannot verify {signed.protected.alg_name}")
            continue
        try:
            cose_key = _cose_key(key, alg, kid or b"")
            payload = COSE.new().decode(signed.encoded, keys=[cose_key])
        except Exception as exc:  # cwt raises VerifyError, DecodeError, ValueError ... for a signature that fails
            reasons.append(f"{key.describe()}: {type(exc).__name__}")
            continue
        if payload != signed.payload:
            reasons.append(f"{key.describe()}: cwt verified a different payload")
            continue
        return SignatureCheck(True, signed.protected.alg_name, key=key, keys_tried=len(keys), reasons=tuple(reasons))
    return SignatureCheck(False, signed.protected.alg_name, keys_tried=len(keys), reasons=tuple(reasons))


# --- signing ---------------------------------------------------------------------------------------------------


def cose_alg_for(signer: Signer) -> int:
    """The COSE alg for ``signer``'s key; an RSA (or other) key is refused, naming it."""
    alg = ALG_FOR_KEY.get(signer.public.algorithm)
    if alg is None:
        raise CorimUnsupportedError(
            f"a {signer.public.algorithm} key cannot sign a CoRIM here: use Ed25519 (EdDSA) or ECDSA P-256/P-384/P-521"
            " (ES256/ES384/ES512)"
        )
    return alg


def encode_corim_meta(meta: CorimMeta) -> bytes:
    signer: dict[Any, Any] = {0: meta.signer.name}
    if meta.signer.uri is not None:
        import cbor2  # deferred (TID253)

        signer[1] = cbor2.CBORTag(32, meta.signer.uri)
    for k, v in meta.signer.extensions:
        signer[k] = v
    m: dict[Any, Any] = {0: signer}
    if meta.signature_validity is not None:
        m[1] = encode_validity(meta.signature_validity)
    return cbor.encode(m)


def sign_payload(payload: bytes, signer: Signer, meta: CorimMeta, *, kid: bytes | None = None) -> bytes:
    """COSE_Sign1 (tag 18) over ``payload`` (an encoded tagged CoRIM) with the draft's protected header."""
    from cwt import COSE, COSEKey  # deferred (TID253)

    alg = cose_alg_for(signer)
    protected: dict[int, Any] = {
        LABEL_ALG: alg,
        LABEL_CONTENT_TYPE: CONTENT_TYPE,
        LABEL_CORIM_META: encode_corim_meta(meta),
    }
    if kid is not None:
        protected[LABEL_KID] = kid
    key = COSEKey.from_pem(private_pem(signer), alg=alg)
    return bytes(COSE.new().encode(payload, key, protected=protected, unprotected={}))


def sign_corim(corim: CoRIM, signer: Signer, meta: CorimMeta, *, kid: bytes | None = None) -> bytes:
    """``corim`` encoded deterministically and signed as COSE_Sign1 with ``signer`` (Ed25519 or ECDSA)."""
    return sign_payload(encode_corim(corim), signer, meta, kid=kid)


__all__ = [
    "CONTENT_TYPE",
    "SignatureCheck",
    "decode_signed",
    "parse_corim_map",
    "parse_signed",
    "sign_corim",
    "sign_payload",
    "verify_signed",
]
