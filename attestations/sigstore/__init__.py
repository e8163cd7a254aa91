"""Sigstore bundles (v0.1 to v0.3) verified offline, as facts.

One concept per module, after sigstore-python's own layout:

- ``bundle``: what a bundle is (media types, size limit, recognising one) and the ``VerifiedBundle`` fact;
- ``trust``: which trusted root (``TrustConfigChoice``), loaded once into a ``PinnedTrustRoot``;
- ``identity``: who must have signed (``IdentityPolicy``) and what a Fulcio certificate says (``SignerIdentity``);
- ``verify``: ``verify_bundle`` / ``verify_bundle_bytes``, which send a bundle to one of the two verifiers below;
- ``sigstore_python``: certificate bundles, verified by sigstore-python;
- ``key_signed``: bundles signed with a key, verified here (sigstore-python cannot);
- ``transparency``: the Rekor evidence a key-signed bundle carries: its log entry, the log's key, the Merkle
  inclusion proof, the checkpoint (signed note) and the signed entry timestamp (SET).

API:

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

Errors (all from ``attestations.errors``):
``InputError``: missing, oversized, truncated or malformed bundle or trust root; a message bundle without artifact; no
    identity policy and no explicit unsafe opt-out.
``UnsupportedError``: a well-formed bundle sigstore-python 4.x cannot check: signed with a public key instead of a
    certificate (when no ``public_keys`` are given), a Rekor ``intoto`` entry (slsa-github-generator, npm), a TSA time
    exactly at its trust-root validity end, an unknown bundle version.  The message says which and why.
``BundleVerificationError``: the bundle was checked and is not valid (``exit_code`` 1); ``stage`` names the step that
    failed: "identity", "artifact", "signature", "certificate", "log", "time" or "key".

Importing this package loads neither sigstore nor cryptography: each module imports them where it uses them.
"""

from __future__ import annotations

from attestations.errors import BundleVerificationError
from attestations.sigstore.bundle import MAX_BUNDLE_BYTES, VerifiedBundle, looks_like_sigstore_bundle
from attestations.sigstore.identity import IdentityPolicy, SignerIdentity, signer_identity
from attestations.sigstore.trust import PinnedTrustRoot, TrustConfigChoice, load_trust_root
from attestations.sigstore.verify import verify_bundle, verify_bundle_bytes

__all__ = [
    "MAX_BUNDLE_BYTES",
    "BundleVerificationError",
    "IdentityPolicy",
    "PinnedTrustRoot",
    "SignerIdentity",
    "TrustConfigChoice",
    "VerifiedBundle",
    "load_trust_root",
    "looks_like_sigstore_bundle",
    "signer_identity",
    "verify_bundle",
    "verify_bundle_bytes",
]
