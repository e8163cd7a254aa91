"""The compact JWS (RFC 7515) an OCP S.A.F.E. short-form report is signed as, verified with jwcrypto.

The SFR format allows ES384 (P-384), ES512 (P-521), PS384 and PS512 (RSA-PSS, 3072- or 4096-bit keys
only), and nothing else: not ``none``, not HMAC, not RSA PKCS#1 v1.5, not ES256 (shortform_report
README, "Allowed Algorithms"). Trust comes only from the keys the caller gives: a header that carries or
points at a key (``jwk``, ``jku``, ``x5u``, ``x5c``) is refused, so is ``crit`` (and the ``b64``
extension it would announce), and ``kid`` is a label that is shown, never used to pick a key: every
given key is tried. A key of the wrong type for the header's algorithm is not tried (the public key as
an HMAC secret, the classic confusion, cannot happen).

Parsing is strict before jwcrypto sees the token: exactly three base64url segments in the one canonical
spelling (no padding, no stray characters, no non-zero trailing bits), the protected header read with
the project's strict JSON reader (no key twice). A token that is not a JWS at all is ``JwsFormatError``
(bad input); a well-formed token that asks for something refused is a verification that failed, with
``refused`` saying why.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from attestations import strict_json
from attestations.errors import InputError
from attestations.keys import PublicKey

#: header algorithm -> the key algorithm names (attestations.keys) that may verify it
ALGORITHMS: Mapping[str, tuple[str, ...]] = {
    "ES384": ("ecdsa-p384",),
    "ES512": ("ecdsa-p521",),
    "PS384": ("rsa-3072", "rsa-4096"),
    "PS512": ("rsa-3072", "rsa-4096"),
}
#: the only header parameters accepted; every other one is refused by name
ALLOWED_HEADERS = frozenset({"alg", "kid", "typ", "cty"})
#: headers that carry or locate a key, or change how the token is processed
_KEY_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
#: a short-form report is a few kilobytes; this bounds what is decoded
MAX_TOKEN_BYTES = 1 << 20
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")


class JwsFormatError(InputError):
    """The input is not a compact JWS in its one canonical spelling (exit 2)."""


@dataclass(frozen=True)
class CompactJws:
    """A compact JWS, parsed but not verified."""

    header: Mapping[str, Any]
    payload: bytes
    signature: bytes = field(repr=False)
    text: str = field(repr=False)
    source: str = ""

    @property
    def alg(self) -> str:
        alg = self.header.get("alg")
        return alg if isinstance(alg, str) else ""

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


@dataclass(frozen=True)
class JwsVerification:
    """What verifying a JWS with the given keys showed: the key that verified it, or why none did.

    ``refused`` is set when no key was tried at all (an algorithm or header that is not accepted).
    ``fitting`` counts the given keys whose type fits the algorithm.
    """

    jws: CompactJws
    key: PublicKey | None
    refused: str | None = None
    tried: int = 0
    fitting: int = 0

    @property
    def verified(self) -> bool:
        return self.key is not None


def b64url_decode(segment: str, what: str) -> bytes:
    """``segment`` decoded as unpadded base64url; anything but the one canonical spelling is refused."""
    if not _SEGMENT.match(segment) or len(segment) % 4 == 1:
        raise JwsFormatError(f"{what} is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise JwsFormatError(f"{what} is not unpadded base64url") from None
    if b64url_encode(raw) != segment:
        raise JwsFormatError(f"{what} is not canonical base64url (non-zero trailing bits)")
    return raw


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_compact(data: bytes | str, source: str = "JWS") -> CompactJws:
    """The three segments of a compact JWS, decoded; ``JwsFormatError`` naming the part that is wrong."""
    if isinstance(data, bytes):
        if len(data) > MAX_TOKEN_BYTES:
            raise JwsFormatError(f"{source} is {len(data)} bytes; a JWS here is at most {MAX_TOKEN_BYTES}")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise JwsFormatError(f"{source} is not a compact JWS: a non-ASCII byte at offset {exc.start}") from None
    else:
        text = data
    text = text.strip(" \t\r\n")
    parts = text.split(".")
    if len(parts) != 3:
        raise JwsFormatError(f"{source} is not a compact JWS: {len(parts)} dot-separated parts, not 3")
    header_raw = b64url_decode(parts[0], f"{source}: the protected header")
    payload = b64url_decode(parts[1], f"{source}: the payload")
    signature = b64url_decode(parts[2], f"{source}: the signature")
    header = strict_json.loads_object(header_raw, f"{source}: the protected header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JwsFormatError(f"{source}: the protected header's 'alg' is missing or not a string")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise JwsFormatError(f"{source}: the protected header's 'kid' is not a string")
    return CompactJws(header=header, payload=payload, signature=signature, text=text, source=source)


def refusal(jws: CompactJws) -> str | None:
    """Why this JWS cannot be verified whatever the key, or None."""
    alg = jws.alg
    if alg.lower() == "none":
        return "the header says alg 'none' (unsigned); a review must be signed"
    if alg.upper().startswith("HS"):
        return f"the header says alg {alg!r} (HMAC, a shared secret); SRP reviews are signed with a public key"
    if alg not in ALGORITHMS:
        return f"the header says alg {alg!r}; short-form reports use {', '.join(ALGORITHMS)} only"
    embedded = sorted(_KEY_HEADERS & set(jws.header))
    if embedded:
        return (
            f"the header carries or points at a key ({', '.join(embedded)}); only the SRP keys given to "
            "provcheck are trusted"
        )
    if "crit" in jws.header:
        return "the header has 'crit': an extension this verifier does not implement must not be ignored"
    unknown = sorted(set(jws.header) - ALLOWED_HEADERS)
    if unknown:
        return f"the header has {', '.join(repr(k) for k in unknown)}, which short-form reports do not use"
    return None


@functools.lru_cache(maxsize=64)
def _jwk(key: PublicKey) -> Any:
    """The key as jwcrypto's JWK, made once per key (a batch of reports from one SRP pays for it once)."""
    from jwcrypto import jwk

    return jwk.JWK.from_pyca(key.key)


def verify_compact(jws: CompactJws, keys: Sequence[PublicKey]) -> JwsVerification:
    """Try every given key that fits the header's algorithm; the first that verifies is the signer."""
    reason = refusal(jws)
    if reason is not None:
        return JwsVerification(jws, None, refused=reason)
    from jwcrypto import jws as jwcrypto_jws

    alg = jws.alg
    fitting = [key for key in keys if key.algorithm in ALGORITHMS[alg]]
    if not fitting:
        return JwsVerification(jws, None, tried=0, fitting=0)
    token = jwcrypto_jws.JWS()
    token.allowed_algs = [alg]
    try:
        token.deserialize(jws.text)
    except jwcrypto_jws.InvalidJWSObject as exc:
        raise JwsFormatError(f"{jws.source} is not a compact JWS ({exc})") from None
    if token.objects.get("payload") != jws.payload:
        raise JwsFormatError(f"{jws.source}: jwcrypto reads a different payload than the strict reader")
    tried = 0
    for key in fitting:
        tried += 1
        try:
            token.verify(_jwk(key), alg=alg)
        except jwcrypto_jws.InvalidJWSSignature:
            continue
        return JwsVerification(jws, key, tried=tried, fitting=len(fitting))
    return JwsVerification(jws, None, tried=tried, fitting=len(fitting))
