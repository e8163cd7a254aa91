"""Sigstore bundles (v0.1 to v0.3) verified offline through sigstore-python, as facts.

API (everything from sigstore is imported inside the functions, so importing this module stays cheap):

``verify_bundle(bundle_path, *, artifact, trust, policy, unsafe_no_identity=False, public_keys=()) -> VerifiedBundle``
    Reads at most ``MAX_BUNDLE_BYTES`` from ``bundle_path`` and verifies it.  ``verify_bundle_bytes(raw, source=...)``
    does the same for bundle bytes already in memory (one line of an ``.intoto.jsonl``, or an entry of a JSON file
    that holds bundles).
``trust`` is a ``TrustConfigChoice`` (``.production()``, ``.staging()``, ``.from_file(path)``; a file may hold a
    TrustedRoot or a ClientTrustConfig) or a ``PinnedTrustRoot`` from ``load_trust_root(choice)`` to reuse across many
    bundles.  Production and staging are the roots embedded in the installed sigstore-python: no TUF refresh, no cache,
    no network.
``policy`` is an ``IdentityPolicy`` (certificate SAN + OIDC issuer, optionally GitHub workflow claims).  Without one,
    ``unsafe_no_identity=True`` must be passed: the signature and log are checked but anyone may have signed.
``artifact`` is required for message-signature bundles (the signature covers it) and ignored for DSSE bundles (the
    caller matches the statement's subjects); a DSSE fact carries ``payload`` and ``payload_type``.
``looks_like_sigstore_bundle(obj) -> bool`` tells a bundle apart from a plain DSSE envelope or anything else.

Errors (all from ``attestations.errors`` or subclasses of its root):
``InputError``: missing, oversized, truncated or malformed bundle or trust root; a message bundle without artifact; no
    identity policy and no explicit unsafe opt-out.
``UnsupportedError``: a well-formed bundle sigstore-python 4.x cannot check: signed with a public key instead of a
    certificate (when no ``public_keys`` are given), a Rekor ``intoto`` entry (slsa-github-generator, npm), a TSA time
    exactly at its trust-root validity end, an unknown bundle version.  The message says which and why.
``BundleVerificationError``: the bundle was checked and is not valid (``exit_code`` 1); ``stage`` names the step that
    failed: "identity", "artifact", "signature", "certificate", "log", "time" or "key".

Bundles signed with a key (no certificate, "managed key") are verified without sigstore-python when ``public_keys`` are
given: the signature over the artifact (or the DSSE PAE) with one of the keys, the Rekor entry body's consistency with
the bundle, the RFC 6962 inclusion proof, the checkpoint signed by the trusted root's Rekor key, and the signed entry
timestamp (SET) over the integrated time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from attestations.errors import AttestationError, InputError, UnsupportedError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from cryptography.x509 import Certificate
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier

MAX_BUNDLE_BYTES = 16 * 1024 * 1024
MAX_TRUST_ROOT_BYTES = 4 * 1024 * 1024

BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
KNOWN_BUNDLE_MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "0.3",
}
CLIENT_TRUST_CONFIG_PREFIX = "application/vnd.dev.sigstore.clienttrustconfig"

_PRODUCTION_STORE = "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
_STAGING_STORE = "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev"

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


class BundleVerificationError(AttestationError):
    """The bundle was checked and does not verify; ``stage`` names the failing step."""

    exit_code = 1

    def __init__(self, message: str, *, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass(frozen=True)
class TrustConfigChoice:
    """Which Sigstore instance to trust: the embedded production or staging root, or a local file."""

    kind: Literal["production", "staging", "file"]
    path: Path | None = None

    @classmethod
    def production(cls) -> TrustConfigChoice:
        return cls("production")

    @classmethod
    def staging(cls) -> TrustConfigChoice:
        return cls("staging")

    @classmethod
    def from_file(cls, path: Path) -> TrustConfigChoice:
        return cls("file", Path(path))


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


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature, certificate chain (or key), transparency log entry and identity policy verified."""

    source: str
    bundle_version: str
    kind: Literal["message", "dsse"]
    payload: bytes | None
    payload_type: str | None
    artifact_sha256: str | None
    signer: SignerIdentity | None
    certificate_sha256: str | None
    public_key_id: str | None
    identity_checked: bool
    log_entry_kind: str
    log_entry_version: str
    log_index: int
    integrated_time: datetime | None
    timestamp_count: int
    trust_root: str
    verified_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "bundle_version": self.bundle_version,
            "kind": self.kind,
            "payload_type": self.payload_type,
            "artifact_sha256": self.artifact_sha256,
            "signer": self.signer.to_json() if self.signer else None,
            "certificate_sha256": self.certificate_sha256,
            "public_key_id": self.public_key_id,
            "identity_checked": self.identity_checked,
            "log_entry": f"{self.log_entry_kind}/{self.log_entry_version}",
            "log_index": self.log_index,
            "integrated_time": self.integrated_time.isoformat() if self.integrated_time else None,
            "timestamp_count": self.timestamp_count,
            "trust_root": self.trust_root,
            "verified_by": self.verified_by,
        }


@dataclass(frozen=True)
class PinnedTrustRoot:
    """A trusted root loaded once from a local file; reusable across bundles."""

    name: str
    trusted_root: TrustedRoot
    rekor_keys: Mapping[bytes, PublicKeyTypes]

    def verifier(self) -> Verifier:
        from sigstore.verify import Verifier

        return Verifier(trusted_root=self.trusted_root)


def looks_like_sigstore_bundle(obj: object) -> bool:
    """True when ``obj`` (parsed JSON) has a Sigstore bundle's media type and verification material."""
    if not isinstance(obj, dict):
        return False
    media_type = obj.get("mediaType")
    return (
        isinstance(media_type, str)
        and media_type.startswith(BUNDLE_MEDIA_TYPE_PREFIX)
        and isinstance(obj.get("verificationMaterial"), dict)
    )


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    path = Path(path)
    try:
        if not path.exists():
            raise InputError(f"{what} {path} does not exist")
        if not path.is_file():
            raise InputError(f"{what} {path} is not a regular file")
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{what} {path} is {size} bytes, more than the {limit}-byte limit")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{what} {path} is more than the {limit}-byte limit")
    return data


def _parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{what} is not valid JSON ({exc.__class__.__name__}: {str(exc)[:120]})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{what} is not a JSON object")
    return obj


def _rekor_keys(trusted_root: TrustedRoot) -> dict[bytes, PublicKeyTypes]:
    """The Rekor public keys of a trusted root, by log id (sha256 of the SubjectPublicKeyInfo DER)."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    keys: dict[bytes, PublicKeyTypes] = {}
    for tlog in trusted_root._inner.tlogs:
        raw = tlog.public_key.raw_bytes
        if not raw:
            continue
        try:
            key = load_der_public_key(raw)
        except ValueError:
            continue
        keys[bytes(tlog.log_id.key_id)] = key
    return keys


def load_trust_root(choice: TrustConfigChoice) -> PinnedTrustRoot:
    """Load the chosen trusted root from local files only (embedded in sigstore-python, or the user's file)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig, TrustedRoot

    if choice.kind in ("production", "staging"):
        import importlib.resources
        from importlib.metadata import version

        store = _PRODUCTION_STORE if choice.kind == "production" else _STAGING_STORE
        resource = importlib.resources.files("sigstore._store").joinpath(store, "trusted_root.json")
        raw = resource.read_bytes()
        name = f"{choice.kind} (embedded in sigstore-python {version('sigstore')})"
    else:
        if choice.path is None:
            raise InputError("a trusted-root file choice needs a path")
        raw = _read_bounded(choice.path, MAX_TRUST_ROOT_BYTES, "trusted root")
        name = f"file {choice.path}"
    obj = _parse_json_object(raw, f"trusted root {name}")
    try:
        media_type = str(obj.get("mediaType", ""))
        if media_type.startswith(CLIENT_TRUST_CONFIG_PREFIX):
            trusted_root = ClientTrustConfig.from_json(raw.decode()).trusted_root
        else:
            from sigstore_models.trustroot.v1 import TrustedRoot as InnerTrustedRoot

            trusted_root = TrustedRoot(InnerTrustedRoot.from_json(raw))
        trusted_root.get_fulcio_certs()
        if not trusted_root._inner.tlogs:
            raise InputError(f"trusted root {name} lists no transparency log")
    except (SigstoreError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"trusted root {name} is not a usable Sigstore trusted root: {str(exc)[:200]}") from None
    return PinnedTrustRoot(name=name, trusted_root=trusted_root, rekor_keys=_rekor_keys(trusted_root))


def verify_bundle(
    bundle_path: Path,
    *,
    artifact: Path | None,
    trust: TrustConfigChoice | PinnedTrustRoot,
    policy: IdentityPolicy | None,
    unsafe_no_identity: bool = False,
    public_keys: Sequence[PublicKeyTypes] = (),
) -> VerifiedBundle:
    """Verify the Sigstore bundle in ``bundle_path``; see the module docstring."""
    raw = _read_bounded(bundle_path, MAX_BUNDLE_BYTES, "bundle")
    return verify_bundle_bytes(
        raw,
        source=str(bundle_path),
        artifact=artifact,
        trust=trust,
        policy=policy,
        unsafe_no_identity=unsafe_no_identity,
        public_keys=public_keys,
    )


def verify_bundle_bytes(
    raw: bytes,
    *,
    source: str,
    artifact: Path | None,
    trust: TrustConfigChoice | PinnedTrustRoot,
    policy: IdentityPolicy | None,
    unsafe_no_identity: bool = False,
    public_keys: Sequence[PublicKeyTypes] = (),
) -> VerifiedBundle:
    """Verify one bundle given as JSON bytes; ``source`` names it in messages and in the fact."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise InputError(f"bundle {source} is more than the {MAX_BUNDLE_BYTES}-byte limit")
    if policy is None and not unsafe_no_identity:
        raise InputError(
            "a Sigstore bundle needs an identity policy (identity and issuer); "
            "checking without one must be asked for explicitly"
        )
    obj = _parse_json_object(raw, f"bundle {source}")
    if not looks_like_sigstore_bundle(obj):
        raise InputError(f"{source} is not a Sigstore bundle (no bundle mediaType and verificationMaterial)")
    media_type = str(obj["mediaType"])
    bundle_version = KNOWN_BUNDLE_MEDIA_TYPES.get(media_type)
    if bundle_version is None:
        raise UnsupportedError(f"bundle {source} has media type {media_type!r}, which sigstore-python 4 cannot read")
    material = obj["verificationMaterial"]
    entries = material.get("tlogEntries")
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        raise InputError(f"bundle {source} must hold exactly one transparency log entry")
    kind_version = entries[0].get("kindVersion")
    if not isinstance(kind_version, dict):
        raise InputError(f"bundle {source}: its log entry has no kindVersion")
    log_kind, log_version = str(kind_version.get("kind")), str(kind_version.get("version"))
    if log_kind == "intoto":
        raise UnsupportedError(
            f"bundle {source} is logged as a Rekor 'intoto' {log_version} entry (as slsa-github-generator and npm "
            "make them); sigstore-python 4.5 verifies only hashedrekord and dsse entries (sigstore-python#1384), "
            "so this bundle was not verified"
        )
    pinned = trust if isinstance(trust, PinnedTrustRoot) else load_trust_root(trust)
    has_certificate = "certificate" in material or "x509CertificateChain" in material
    if not has_certificate and "publicKey" in material:
        if not public_keys:
            raise UnsupportedError(
                f"bundle {source} is signed with a public key, not a Fulcio certificate; sigstore-python 4.5 cannot "
                "verify such bundles (sigstore-python#1244): give the signer's public key to verify it"
            )
        return _verify_key_signed_bundle(
            obj,
            source=source,
            bundle_version=bundle_version,
            artifact=artifact,
            pinned=pinned,
            public_keys=public_keys,
        )
    return _verify_with_sigstore(raw, obj, source, bundle_version, artifact, pinned, policy)


def _sigstore_policy(policy: IdentityPolicy | None) -> Any:
    """Wrap the policy so that an identity mismatch is told apart from other failures; ``None`` checks nothing."""
    from sigstore.errors import VerificationError
    from sigstore.verify import policy as sp

    children: list[Any] = []
    if policy is not None:
        children.append(sp.Identity(identity=policy.identity, issuer=policy.issuer))
        for value, check in (
            (policy.github_repository, sp.GitHubWorkflowRepository),
            (policy.github_ref, sp.GitHubWorkflowRef),
            (policy.github_workflow_name, sp.GitHubWorkflowName),
            (policy.github_workflow_trigger, sp.GitHubWorkflowTrigger),
            (policy.github_workflow_sha, sp.GitHubWorkflowSHA),
        ):
            if value is not None:
                children.append(check(value))

    class IdentityMismatch(VerificationError):
        pass

    class TaggedPolicy:
        mismatch = IdentityMismatch

        def verify(self, cert: Certificate) -> None:
            for child in children:
                try:
                    child.verify(cert)
                except VerificationError as exc:
                    raise IdentityMismatch(str(exc)) from None

    return TaggedPolicy()


def _verify_with_sigstore(
    raw: bytes,
    obj: dict[str, Any],
    source: str,
    bundle_version: str,
    artifact: Path | None,
    pinned: PinnedTrustRoot,
    policy: IdentityPolicy | None,
) -> VerifiedBundle:
    from cryptography.hazmat.primitives.hashes import SHA256
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import VerificationError
    from sigstore.models import Bundle, InvalidBundle

    try:
        bundle = Bundle.from_json(raw)
    except InvalidBundle as exc:
        raise InputError(f"bundle {source} is malformed: {_first_line(str(exc))}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"bundle {source} is malformed: {_first_line(str(exc))}") from None

    is_dsse = bundle._inner.dsse_envelope is not None
    if not is_dsse and artifact is None:
        raise InputError(f"bundle {source} signs an artifact directly: give the artifact to verify it against")

    tagged = _sigstore_policy(policy)
    verifier = pinned.verifier()
    payload: bytes | None = None
    payload_type: str | None = None
    artifact_sha256: str | None = None
    try:
        if is_dsse:
            payload_type, payload = verifier.verify_dsse(bundle, tagged)
        else:
            assert artifact is not None
            digest = _sha256_file(artifact)
            artifact_sha256 = digest.hex()
            verifier.verify_artifact(_hashed(digest), bundle, tagged)
    except tagged.mismatch as exc:
        raise BundleVerificationError(
            f"bundle {source} was signed by someone the identity policy does not allow: {exc}", stage="identity"
        ) from None
    except VerificationError as exc:
        _raise_known_limitation(bundle, pinned, source, str(exc))
        raise BundleVerificationError(
            f"bundle {source} does not verify: {_first_line(str(exc))}", stage=_stage_of(str(exc))
        ) from None
    except SigstoreError as exc:
        raise BundleVerificationError(
            f"bundle {source} does not verify: {_first_line(str(exc))}", stage=_stage_of(str(exc))
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        # Malformed parts that only surface while checking (a bad certificate or entry body, undecodable base64).
        raise BundleVerificationError(
            f"bundle {source} could not be checked: {_first_line(str(exc))}", stage="signature"
        ) from None

    cert = bundle.signing_certificate
    inner_entry = bundle.log_entry._inner
    timestamps = bundle.verification_material.timestamp_verification_data
    integrated = inner_entry.integrated_time
    return VerifiedBundle(
        source=source,
        bundle_version=bundle_version,
        kind="dsse" if is_dsse else "message",
        payload=payload,
        payload_type=payload_type,
        artifact_sha256=artifact_sha256,
        signer=signer_identity(cert),
        certificate_sha256=cert.fingerprint(SHA256()).hex(),
        public_key_id=None,
        identity_checked=policy is not None,
        log_entry_kind=inner_entry.kind_version.kind,
        log_entry_version=inner_entry.kind_version.version,
        log_index=int(inner_entry.log_index),
        integrated_time=datetime.fromtimestamp(int(integrated), tz=UTC) if integrated else None,
        timestamp_count=len(timestamps.rfc3161_timestamps) if timestamps else 0,
        trust_root=pinned.name,
        verified_by="sigstore-python",
    )


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown reason"
    return line[:300]


def _stage_of(reason: str) -> str:
    lowered = reason.lower()
    for needle, stage in (
        ("digest mismatch", "artifact"),
        ("signature is invalid for input", "signature"),
        ("sct", "certificate"),
        ("certificate chain", "certificate"),
        ("signing cert", "certificate"),
        ("key usage", "certificate"),
        ("inclusion", "log"),
        ("checkpoint", "log"),
        ("log entry", "log"),
        ("set:", "log"),
        ("time", "time"),
    ):
        if needle in lowered:
            return stage
    return "signature"


def _raise_known_limitation(bundle: Bundle, pinned: PinnedTrustRoot, source: str, reason: str) -> None:
    """sigstore-python 4.5 treats a TSA's validity end as exclusive; say so instead of reporting tampering."""
    if "not enough sources of verified time" not in reason:
        return
    data = bundle.verification_material.timestamp_verification_data
    if data is None:
        return
    try:
        times = [response.tst_info.gen_time for response in data.rfc3161_timestamps]
    except (ValueError, TypeError):
        return
    for authority in pinned.trusted_root.get_timestamp_authorities():
        end = authority.validity_period_end
        if end is not None and any(t == end for t in times):
            raise UnsupportedError(
                f"bundle {source}: its timestamp ({end.isoformat()}) is exactly the end of the timestamp authority's "
                "validity in the trusted root; sigstore-python 4.5 treats that end as exclusive, so it cannot "
                "verify this bundle"
            )


def _sha256_file(path: Path) -> bytes:
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except IsADirectoryError:
        raise InputError(f"artifact {path} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read artifact {path}: {exc.strerror or exc}") from None
    return digest.digest()


def _hashed(digest: bytes) -> Any:
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)


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


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"{what} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what} is not valid base64") from None


def _verify_key_signed_bundle(
    obj: dict[str, Any],
    *,
    source: str,
    bundle_version: str,
    artifact: Path | None,
    pinned: PinnedTrustRoot,
    public_keys: Sequence[PublicKeyTypes],
) -> VerifiedBundle:
    raise UnsupportedError(f"bundle {source} is signed with a public key; not implemented yet")
