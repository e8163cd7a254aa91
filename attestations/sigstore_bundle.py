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
given (``attestations.keys.PublicKey`` objects or cryptography public keys): the signature over the artifact (or the
DSSE PAE) with one of the keys, the Rekor entry body's consistency with
the bundle, the RFC 6962 inclusion proof, the checkpoint signed by the trusted root's Rekor key, and the signed entry
timestamp (SET) over the integrated time.  The given key pins the signer, so no identity policy is needed (nor
applied: a key-signed bundle carries no certificate identity).
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

from attestations import strict_json
from attestations.errors import AttestationError, InputError, UnsupportedError
from attestations.files import read_limited

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from cryptography.x509 import Certificate
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier

    from attestations.keys import PublicKey

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
    """A bundle whose signature, certificate chain (or key), transparency log entry and identity policy verified.

    ``identity_checked`` is true when the signer was pinned: by the identity policy (certificate bundles) or by the
    given public key (key-signed bundles, where ``public_key_id`` is the sha256 of the key's SubjectPublicKeyInfo).
    ``timestamp_count`` counts the RFC 3161 timestamps sigstore-python checked; key-signed bundles rely on the SET.
    """

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


def _parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    # Strict (attestations.strict_json): sigstore-python parses these bytes again, and must read what we read.
    return strict_json.loads_object(raw, what)


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

        import sigstore

        store = _PRODUCTION_STORE if choice.kind == "production" else _STAGING_STORE
        resource = importlib.resources.files("sigstore._store").joinpath(store, "trusted_root.json")
        raw = resource.read_bytes()
        name = f"{choice.kind} (embedded in sigstore-python {sigstore.__version__})"
    else:
        if choice.path is None:
            raise InputError("a trusted-root file choice needs a path")
        raw = read_limited(choice.path, limit=MAX_TRUST_ROOT_BYTES, what="trusted root")
        name = f"file {choice.path}"
    obj = _parse_json_object(raw, f"trusted root {name}")
    try:
        media_type = str(obj.get("mediaType", ""))
        if media_type.startswith(CLIENT_TRUST_CONFIG_PREFIX):
            trusted_root = ClientTrustConfig.from_json(raw.decode()).trusted_root
        else:
            from sigstore_models.trustroot.v1 import TrustedRoot as InnerTrustedRoot

            trusted_root = TrustedRoot(InnerTrustedRoot.from_json(raw))
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
    public_keys: Sequence[PublicKey | PublicKeyTypes] = (),
) -> VerifiedBundle:
    """Verify the Sigstore bundle in ``bundle_path``; see the module docstring."""
    raw = read_limited(Path(bundle_path), limit=MAX_BUNDLE_BYTES, what="bundle")
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
    public_keys: Sequence[PublicKey | PublicKeyTypes] = (),
) -> VerifiedBundle:
    """Verify one bundle given as JSON bytes; ``source`` names it in messages and in the fact."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise InputError(f"bundle {source} is more than the {MAX_BUNDLE_BYTES}-byte limit")
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
    has_certificate = "certificate" in material or "x509CertificateChain" in material
    if not has_certificate and "publicKey" in material:
        if not public_keys:
            raise UnsupportedError(
                f"bundle {source} is signed with a public key, not a Fulcio certificate; sigstore-python 4.5 cannot "
                "verify such bundles (sigstore-python#1244): give the signer's public key to verify it"
            )
        pinned = trust if isinstance(trust, PinnedTrustRoot) else load_trust_root(trust)
        return _verify_key_signed_bundle(
            obj,
            source=source,
            bundle_version=bundle_version,
            artifact=artifact,
            pinned=pinned,
            public_keys=_as_public_keys(public_keys),
        )
    if policy is None and not unsafe_no_identity:
        raise InputError(
            "a Sigstore bundle needs an identity policy (identity and issuer); "
            "checking without one must be asked for explicitly"
        )
    pinned = trust if isinstance(trust, PinnedTrustRoot) else load_trust_root(trust)
    return _verify_with_sigstore(raw, obj, source, bundle_version, artifact, pinned, policy)


def _as_public_keys(keys: Sequence[PublicKey | PublicKeyTypes]) -> list[PublicKey]:
    """Accept ``attestations.keys.PublicKey`` objects or bare cryptography public keys."""
    from attestations.keys import PublicKey, public_key_from_crypto

    return [key if isinstance(key, PublicKey) else public_key_from_crypto(key) for key in keys]


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
    from cryptography.x509 import ExtensionNotFound, InvalidVersion
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import VerificationError
    from sigstore.models import Bundle, InvalidBundle

    try:
        bundle = Bundle.from_json(raw)
    except InvalidBundle as exc:
        raise InputError(f"bundle {source} is malformed: {_first_line(str(exc))}") from None
    # InvalidVersion: sigstore-python parses the leaf certificate while loading; found by fuzzing.
    # ExtensionNotFound: it reads a leaf's KeyUsage without asking whether there is one; found by a generated seed.
    except (SigstoreError, ValueError, TypeError, KeyError, OverflowError, InvalidVersion, ExtensionNotFound) as exc:
        raise InputError(f"bundle {source} is malformed: {_first_line(str(exc))}") from None

    is_dsse = bundle._inner.dsse_envelope is not None
    if not is_dsse and artifact is None:
        raise InputError(f"bundle {source} signs an artifact directly: give the artifact to verify it against")

    tagged = _sigstore_policy(policy)
    try:
        verifier = pinned.verifier()
    except SigstoreError as exc:
        raise InputError(f"trusted root {pinned.name} cannot verify certificates: {_first_line(str(exc))}") from None
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
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        # Malformed parts that only surface while checking (a bad certificate or entry body, undecodable base64).
        raise BundleVerificationError(
            f"bundle {source} could not be checked: {_first_line(str(exc))}", stage="signature"
        ) from None

    cert = bundle.signing_certificate
    inner_entry = bundle.log_entry._inner
    try:
        timestamps = bundle.verification_material.timestamp_verification_data
    except (SigstoreError, ValueError):
        timestamps = None
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
    from sigstore.errors import Error as SigstoreError

    if "not enough sources of verified time" not in reason:
        return
    try:
        data = bundle.verification_material.timestamp_verification_data
        if data is None:
            return
        times = [response.tst_info.gen_time for response in data.rfc3161_timestamps]
    except (SigstoreError, ValueError, TypeError):
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


# --- bundles signed with a key ("managed key"): verified here, without sigstore-python ---------------------------


@dataclass(frozen=True)
class _LogEntry:
    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int | None
    signed_entry_timestamp: bytes | None
    body: bytes
    proof_index: int
    tree_size: int
    root_hash: bytes
    proof_hashes: tuple[bytes, ...]
    checkpoint: str


_MAX_UNIX_TIME = 100_000_000_000  # year 5138: beyond it a time is garbage, and datetime cannot hold it for long


def _int_field(value: object, what: str, maximum: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"{what} is missing or not an integer")
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"{what} is not an integer") from None
    if number < 0 or number > maximum:
        raise InputError(f"{what} is out of range")
    return number


def _parse_log_entry(entry: dict[str, Any], source: str) -> _LogEntry:
    where = f"bundle {source}: log entry"
    proof = entry.get("inclusionProof")
    if not isinstance(proof, dict):
        raise InputError(f"{where} has no inclusion proof")
    checkpoint = proof.get("checkpoint")
    envelope = checkpoint.get("envelope") if isinstance(checkpoint, dict) else None
    if not isinstance(envelope, str):
        raise InputError(f"{where}: the inclusion proof has no checkpoint")
    hashes = proof.get("hashes", [])
    if not isinstance(hashes, list) or len(hashes) > 64:
        raise InputError(f"{where}: the inclusion proof's hashes are not a list of at most 64 hashes")
    log_id = entry.get("logId")
    promise = entry.get("inclusionPromise")
    kind_version = entry["kindVersion"]
    return _LogEntry(
        log_index=_int_field(entry.get("logIndex"), f"{where} logIndex"),
        log_id=_b64(log_id.get("keyId") if isinstance(log_id, dict) else None, f"{where} logId"),
        kind=str(kind_version.get("kind")),
        version=str(kind_version.get("version")),
        integrated_time=(
            _int_field(entry["integratedTime"], f"{where} integratedTime", maximum=_MAX_UNIX_TIME)
            if "integratedTime" in entry
            else None
        ),
        signed_entry_timestamp=(
            _b64(promise.get("signedEntryTimestamp"), f"{where} signedEntryTimestamp")
            if isinstance(promise, dict)
            else None
        ),
        body=_b64(entry.get("canonicalizedBody"), f"{where} canonicalizedBody"),
        proof_index=_int_field(proof.get("logIndex"), f"{where} inclusion proof logIndex"),
        tree_size=_int_field(proof.get("treeSize"), f"{where} inclusion proof treeSize"),
        root_hash=_b64(proof.get("rootHash"), f"{where} inclusion proof rootHash"),
        proof_hashes=tuple(_b64(h, f"{where} inclusion proof hash") for h in hashes),
        checkpoint=envelope,
    )


def _spki(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _verify_prehashed(key: Any, signature: bytes, digest: bytes) -> bool:
    """A hashedrekord signature: over the artifact's SHA-256, as ECDSA or RSA (PKCS#1 v1.5 or PSS) sign it."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    prehashed = Prehashed(hashes.SHA256())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
            return True
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            for pad in (padding.PKCS1v15(), pss):
                try:
                    key.verify(signature, digest, pad, prehashed)
                    return True
                except InvalidSignature:
                    continue
    except (InvalidSignature, ValueError):
        return False
    return False


def _verify_log_signature(key: Any, signature: bytes, data: bytes) -> bool:
    """A transparency log's signature (checkpoint or SET): ECDSA with SHA-256, or Ed25519."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            return True
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def _pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _merkle_root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or ``BundleVerificationError``."""
    if index >= size:
        raise BundleVerificationError("the inclusion proof's leaf index is outside the tree", stage="log")
    fn, sn = index, size - 1
    node = hashlib.sha256(b"\x00" + leaf).digest()
    for sibling in proof:
        if len(sibling) != 32:
            raise BundleVerificationError("the inclusion proof holds a hash that is not 32 bytes", stage="log")
        if sn == 0:
            raise BundleVerificationError("the inclusion proof is longer than the tree is deep", stage="log")
        if fn & 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise BundleVerificationError("the inclusion proof is shorter than the tree is deep", stage="log")
    return node


def _verify_checkpoint(checkpoint: str, log_key: Any, log_id: bytes, tree_size: int, root: bytes) -> None:
    """A signed note (origin, size, root hash) signed by the log's key, naming the same tree as the proof."""
    if checkpoint.count("\n\n") != 1 or not checkpoint.endswith("\n"):
        raise BundleVerificationError("the checkpoint is not a signed note", stage="log")
    text, signatures = checkpoint.split("\n\n")
    note = (text + "\n").encode()
    verified = False
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise BundleVerificationError("the checkpoint has a malformed signature line", stage="log")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            raise BundleVerificationError("the checkpoint signature is not base64", stage="log") from None
        if len(raw) > 4 and raw[:4] == log_id[:4] and _verify_log_signature(log_key, raw[4:], note):
            verified = True
    if not verified:
        raise BundleVerificationError(
            "the checkpoint carries no valid signature by the transparency log's key in the trusted root", stage="log"
        )
    lines = text.split("\n")
    if len(lines) < 3:
        raise BundleVerificationError("the checkpoint lacks its size or root hash", stage="log")
    try:
        size = int(lines[1])
        checkpoint_root = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error):
        raise BundleVerificationError("the checkpoint's size or root hash is malformed", stage="log") from None
    if size != tree_size or checkpoint_root != root:
        raise BundleVerificationError(
            "the signed checkpoint names another tree than the inclusion proof (size or root hash differ)", stage="log"
        )


def _check_hashedrekord_body(body: dict[str, Any], digest: bytes, signature: bytes, key_spki: bytes) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    spec = body.get("spec")
    try:
        data_hash = spec["data"]["hash"]  # type: ignore[index]
        logged_signature = spec["signature"]  # type: ignore[index]
        logged_key = base64.b64decode(logged_signature["publicKey"]["content"], validate=True)
        logged_sig = base64.b64decode(logged_signature["content"], validate=True)
    except (TypeError, KeyError, binascii.Error, ValueError):
        raise BundleVerificationError("the log entry is not a well-formed hashedrekord", stage="log") from None
    if data_hash.get("algorithm") != "sha256" or data_hash.get("value") != digest.hex():
        raise BundleVerificationError("the log entry records another artifact digest than the bundle", stage="log")
    if logged_sig != signature:
        raise BundleVerificationError("the log entry records another signature than the bundle", stage="log")
    try:
        logged_spki = _spki(load_pem_public_key(logged_key))
    except (ValueError, TypeError):
        raise BundleVerificationError("the log entry's public key cannot be parsed", stage="log") from None
    if logged_spki != key_spki:
        raise BundleVerificationError(
            "the log entry records another public key than the one that verified", stage="log"
        )


def _check_dsse_body(body: dict[str, Any], payload: bytes, signatures: Sequence[bytes], key_spki: bytes) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    spec = body.get("spec")
    try:
        payload_hash = spec["payloadHash"]  # type: ignore[index]
        logged = [
            (base64.b64decode(item["signature"], validate=True), base64.b64decode(item["verifier"], validate=True))
            for item in spec["signatures"]  # type: ignore[index]
        ]
    except (TypeError, KeyError, binascii.Error, ValueError):
        raise BundleVerificationError("the log entry is not a well-formed dsse entry", stage="log") from None
    if payload_hash.get("algorithm") != "sha256" or payload_hash.get("value") != hashlib.sha256(payload).hexdigest():
        raise BundleVerificationError("the log entry records another payload digest than the envelope", stage="log")
    if sorted(sig for sig, _ in logged) != sorted(signatures):
        raise BundleVerificationError("the log entry records other signatures than the envelope", stage="log")
    for _, verifier in logged:
        try:
            if _spki(load_pem_public_key(verifier)) == key_spki:
                return
        except (ValueError, TypeError):
            continue
    raise BundleVerificationError("the log entry does not record the key that verified the envelope", stage="log")


def _canonical_set_payload(entry: _LogEntry, integrated_time: int) -> bytes:
    """What Rekor signs as the SET: RFC 8785 JSON of body, integratedTime, logID and logIndex."""
    document = {
        "body": base64.b64encode(entry.body).decode(),
        "integratedTime": integrated_time,
        "logID": entry.log_id.hex(),
        "logIndex": entry.log_index,
    }
    # Only ASCII strings and integers: sorted keys without whitespace is exactly RFC 8785 here.
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _log_key_for(pinned: PinnedTrustRoot, log_id: bytes, integrated_time: int) -> Any:
    key = pinned.rekor_keys.get(log_id)
    if key is None:
        raise BundleVerificationError(
            f"the log entry comes from a transparency log ({log_id.hex()[:16]}) that {pinned.name} does not list",
            stage="log",
        )
    when = datetime.fromtimestamp(integrated_time, tz=UTC)
    for tlog in pinned.trusted_root._inner.tlogs:
        if bytes(tlog.log_id.key_id) != log_id or tlog.public_key.valid_for is None:
            continue
        valid = tlog.public_key.valid_for
        if when < valid.start or (valid.end is not None and when > valid.end):
            raise BundleVerificationError(
                f"the log entry's time {when.isoformat()} is outside the log key's validity in {pinned.name}",
                stage="time",
            )
    return key


def _verify_key_signed_bundle(
    obj: dict[str, Any],
    *,
    source: str,
    bundle_version: str,
    artifact: Path | None,
    pinned: PinnedTrustRoot,
    public_keys: Sequence[PublicKey],
) -> VerifiedBundle:
    """Signature by one of ``public_keys``, log entry consistency, inclusion proof, signed checkpoint and SET."""
    material = obj["verificationMaterial"]
    entry = _parse_log_entry(material["tlogEntries"][0], source)
    where = f"key-signed bundle {source}"
    if entry.integrated_time is None or entry.signed_entry_timestamp is None:
        raise UnsupportedError(
            f"{where} has no signed entry timestamp; provcheck verifies key-signed bundles only with one"
        )
    if (entry.kind, entry.version) not in (("hashedrekord", "0.0.1"), ("dsse", "0.0.1")):
        raise UnsupportedError(
            f"{where} is logged as {entry.kind}/{entry.version}; provcheck verifies key-signed bundles logged as "
            "hashedrekord/0.0.1 or dsse/0.0.1 only"
        )

    try:
        body = strict_json.loads(entry.body, "the log entry body")
    except InputError as exc:
        raise BundleVerificationError(f"{where}: {exc}", stage="log") from None
    if not isinstance(body, dict) or (body.get("kind"), body.get("apiVersion")) != (entry.kind, entry.version):
        raise BundleVerificationError(f"{where}: the log entry body's kind differs from the entry's", stage="log")

    envelope = obj.get("dsseEnvelope")
    message = obj.get("messageSignature")
    signer: PublicKey | None = None
    payload: bytes | None = None
    payload_type: str | None = None
    artifact_sha256: str | None = None
    try:
        if isinstance(envelope, dict):
            if entry.kind != "dsse":
                raise BundleVerificationError(f"{where}: a DSSE envelope logged as {entry.kind}", stage="log")
            payload = _b64(envelope.get("payload"), f"{where}: DSSE payload")
            payload_type = envelope.get("payloadType")
            if not isinstance(payload_type, str):
                raise InputError(f"{where}: DSSE envelope has no payloadType")
            raw_signatures = envelope.get("signatures")
            if not isinstance(raw_signatures, list) or len(raw_signatures) != 1:
                raise InputError(f"{where}: a bundle's DSSE envelope must carry exactly one signature")
            signature = _b64(raw_signatures[0].get("sig") if isinstance(raw_signatures[0], dict) else None, "sig")
            pae = _pae(payload_type, payload)
            signer = next((key for key in public_keys if key.verify(signature, pae)), None)
            if signer is None:
                raise BundleVerificationError(
                    f"{where}: the DSSE signature does not verify with any of the given keys", stage="key"
                )
            _check_dsse_body(body, payload, [signature], _spki(signer.key))
        elif isinstance(message, dict):
            if entry.kind != "hashedrekord":
                raise BundleVerificationError(f"{where}: a message signature logged as {entry.kind}", stage="log")
            if artifact is None:
                raise InputError(f"bundle {source} signs an artifact directly: give the artifact to verify it against")
            digest = _sha256_file(artifact)
            artifact_sha256 = digest.hex()
            declared = message.get("messageDigest")
            if isinstance(declared, dict) and declared.get("algorithm", "SHA2_256") != "SHA2_256":
                algorithm = declared.get("algorithm")
                raise UnsupportedError(f"{where}: message digest algorithm {algorithm!r} is not SHA2_256")
            if isinstance(declared, dict) and _b64(declared.get("digest"), f"{where}: messageDigest") != digest:
                raise BundleVerificationError(
                    f"{where}: the artifact's digest differs from the bundle's", stage="artifact"
                )
            signature = _b64(message.get("signature"), f"{where}: message signature")
            if all(key.algorithm == "ed25519" for key in public_keys):
                raise UnsupportedError(
                    f"{where}: signatures over an artifact digest (hashedrekord) by Ed25519 keys are not supported"
                )
            signer = next((key for key in public_keys if _verify_prehashed(key.key, signature, digest)), None)
            if signer is None:
                raise BundleVerificationError(
                    f"{where}: the signature over the artifact does not verify with any of the given keys", stage="key"
                )
            _check_hashedrekord_body(body, digest, signature, _spki(signer.key))
        else:
            raise InputError(f"{where} holds neither a DSSE envelope nor a message signature")

        log_key = _log_key_for(pinned, entry.log_id, entry.integrated_time)
        root = _merkle_root_from_proof(entry.body, entry.proof_index, entry.tree_size, entry.proof_hashes)
        if root != entry.root_hash:
            raise BundleVerificationError("the inclusion proof does not lead to the stated root hash", stage="log")
        _verify_checkpoint(entry.checkpoint, log_key, entry.log_id, entry.tree_size, root)
        if not _verify_log_signature(
            log_key, entry.signed_entry_timestamp, _canonical_set_payload(entry, entry.integrated_time)
        ):
            raise BundleVerificationError("the signed entry timestamp (SET) does not verify", stage="log")
        if entry.integrated_time > datetime.now(tz=UTC).timestamp() + 300:
            raise BundleVerificationError("the log entry's integrated time is in the future", stage="time")
    except BundleVerificationError as exc:
        if str(exc).startswith(where):
            raise
        raise BundleVerificationError(f"{where} does not verify: {exc}", stage=exc.stage) from None

    return VerifiedBundle(
        source=source,
        bundle_version=bundle_version,
        kind="dsse" if payload is not None else "message",
        payload=payload,
        payload_type=payload_type,
        artifact_sha256=artifact_sha256,
        signer=None,
        certificate_sha256=None,
        public_key_id=signer.keyid,
        identity_checked=True,
        log_entry_kind=entry.kind,
        log_entry_version=entry.version,
        log_index=entry.log_index,
        integrated_time=datetime.fromtimestamp(entry.integrated_time, tz=UTC),
        timestamp_count=0,
        trust_root=pinned.name,
        verified_by="provcheck key-signed bundle verifier",
    )
