"""Certificate (Fulcio) bundles verified by sigstore-python against a pinned trusted root, as a ``VerifiedBundle``.

This module only adapts: sigstore-python checks the signature, chain, SCT, log entry, timestamps and identity; here
its outcomes become facts and errors that name the failing stage, and its known limitations say so instead of
reading as tampering.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attestations.errors import BundleVerificationError, InputError, UnsupportedError
from attestations.sigstore.bundle import VerifiedBundle, sha256_file
from attestations.sigstore.identity import IdentityPolicy, signer_identity
from attestations.sigstore.trust import PinnedTrustRoot

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.models import Bundle

# Heavy, so imported inside the functions that use them: sigstore (~0.5 s) and cryptography,
# loaded only when a bundle is verified.


def verify_with_sigstore(
    raw: bytes,
    source: str,
    bundle_version: str,
    artifact: Path | None,
    pinned: PinnedTrustRoot,
    policy: IdentityPolicy | None,
) -> VerifiedBundle:
    """Verify a certificate bundle's bytes with sigstore-python; ``policy`` ``None`` checks no identity."""
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
            digest = sha256_file(artifact)
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


def _hashed(digest: bytes) -> Any:
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
