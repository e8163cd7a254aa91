"""Who signed a certificate bundle: the identity policy a caller requires, and what a Fulcio certificate claims."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from attestations.errors import InputError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

# Fulcio's certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md). The first six hold
# raw UTF-8 bytes; the later ones a DER UTF8String.
_FULCIO_OID_PREFIX = "1.3.6.1.4.1.57264.1."
_FULCIO_EXTENSION_NAMES = {
    1: "issuer",
    2: "github_workflow_trigger",
    3: "github_workflow_sha",
    4: "github_workflow_name",
    5: "github_workflow_repository",
    6: "github_workflow_ref",
    8: "issuer_v2",
    9: "build_signer_uri",
    10: "build_signer_digest",
    11: "runner_environment",
    12: "source_repository_uri",
    13: "source_repository_digest",
    14: "source_repository_ref",
    15: "source_repository_identifier",
    16: "source_repository_owner_uri",
    17: "source_repository_owner_identifier",
    18: "build_config_uri",
    19: "build_config_digest",
    20: "build_trigger",
    21: "run_invocation_uri",
    22: "source_repository_visibility_at_signing",
}
_RAW_BYTES_EXTENSIONS = {1, 2, 3, 4, 5, 6}
_OTHERNAME_SAN_OID = "1.3.6.1.4.1.57264.1.7"


@dataclass(frozen=True)
class IdentityPolicy:
    """Who must have signed: the certificate's SAN and OIDC issuer, and optionally GitHub workflow claims."""

    identity: str
    issuer: str
    github_repository: str | None = None
    github_ref: str | None = None
    github_workflow_name: str | None = None
    github_workflow_trigger: str | None = None
    github_workflow_sha: str | None = None

    def __post_init__(self) -> None:
        if not self.identity or not self.issuer:
            raise InputError("an identity policy needs both an identity (certificate SAN) and an OIDC issuer")


@dataclass(frozen=True)
class SignerIdentity:
    """What the Fulcio certificate says about its holder."""

    san: str
    issuer: str | None
    extensions: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"san": self.san, "issuer": self.issuer, "extensions": dict(self.extensions)}


def _der_utf8(value: bytes) -> str:
    """Decode a DER UTF8String (tag 0x0c), as Fulcio writes its newer extensions."""
    if len(value) < 2 or value[0] != 0x0C:
        raise ValueError("not a DER UTF8String")
    length = value[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(value) < 2 + count:
            raise ValueError("bad DER length")
        length = int.from_bytes(value[2 : 2 + count], "big")
        offset = 2 + count
    if offset + length != len(value):
        raise ValueError("DER length does not match")
    return value[offset:].decode("utf-8")


def signer_identity(cert: Certificate) -> SignerIdentity:
    """The SAN, OIDC issuer and Fulcio claims of a signing certificate."""
    # Heavy, so imported here: cryptography.x509 (~55 ms); only a verified certificate bundle needs it.
    from cryptography import x509

    san = ""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        candidates: list[str] = [*names.get_values_for_type(x509.UniformResourceIdentifier)]
        candidates += names.get_values_for_type(x509.RFC822Name)
        for other in names.get_values_for_type(x509.OtherName):
            if other.type_id.dotted_string == _OTHERNAME_SAN_OID:
                try:
                    candidates.append(_der_utf8(other.value))
                except (ValueError, UnicodeDecodeError):
                    candidates.append(other.value.decode("utf-8", "replace"))
        san = candidates[0] if candidates else ""
    except x509.ExtensionNotFound:
        pass
    claims: dict[str, str] = {}
    for ext in cert.extensions:
        dotted = ext.oid.dotted_string
        if not dotted.startswith(_FULCIO_OID_PREFIX) or not isinstance(ext.value, x509.UnrecognizedExtension):
            continue
        try:
            number = int(dotted[len(_FULCIO_OID_PREFIX) :])
        except ValueError:
            continue
        name = _FULCIO_EXTENSION_NAMES.get(number, dotted)
        value = ext.value.value
        try:
            claims[name] = value.decode("utf-8") if number in _RAW_BYTES_EXTENSIONS else _der_utf8(value)
        except (ValueError, UnicodeDecodeError):
            claims[name] = base64.b64encode(value).decode()
    issuer = claims.get("issuer_v2") or claims.get("issuer")
    return SignerIdentity(san=san, issuer=issuer, extensions=claims)
