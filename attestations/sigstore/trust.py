"""Which Sigstore instance to trust, read from local files only, and loaded once for many bundles."""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from attestations.errors import InputError
from attestations.files import read_limited
from attestations.sigstore.bundle import parse_json_object

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

MAX_TRUST_ROOT_BYTES = 4 * 1024 * 1024
CLIENT_TRUST_CONFIG_PREFIX = "application/vnd.dev.sigstore.clienttrustconfig"

_PRODUCTION_STORE = "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
_STAGING_STORE = "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev"

# Heavy, so imported inside the functions that use them: sigstore (~0.5 s) and cryptography, loaded only when a root is.


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
class PinnedTrustRoot:
    """A trusted root loaded once from a local file; reusable across bundles."""

    name: str
    trusted_root: TrustedRoot
    rekor_keys: Mapping[bytes, PublicKeyTypes]

    def verifier(self) -> Verifier:
        from sigstore.verify import Verifier

        return Verifier(trusted_root=self.trusted_root)


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
    import sigstore
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig, TrustedRoot
    from sigstore_models.trustroot.v1 import TrustedRoot as InnerTrustedRoot

    if choice.kind in ("production", "staging"):
        store = _PRODUCTION_STORE if choice.kind == "production" else _STAGING_STORE
        resource = importlib.resources.files("sigstore._store").joinpath(store, "trusted_root.json")
        raw = resource.read_bytes()
        name = f"{choice.kind} (embedded in sigstore-python {sigstore.__version__})"
    else:
        if choice.path is None:
            raise InputError("a trusted-root file choice needs a path")
        raw = read_limited(choice.path, limit=MAX_TRUST_ROOT_BYTES, what="trusted root")
        name = f"file {choice.path}"
    obj = parse_json_object(raw, f"trusted root {name}")
    try:
        media_type = str(obj.get("mediaType", ""))
        if media_type.startswith(CLIENT_TRUST_CONFIG_PREFIX):
            trusted_root = ClientTrustConfig.from_json(raw.decode()).trusted_root
        else:
            trusted_root = TrustedRoot(InnerTrustedRoot.from_json(raw))
        if not trusted_root._inner.tlogs:
            raise InputError(f"trusted root {name} lists no transparency log")
    except (SigstoreError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"trusted root {name} is not a usable Sigstore trusted root: {str(exc)[:200]}") from None
    return PinnedTrustRoot(name=name, trusted_root=trusted_root, rekor_keys=_rekor_keys(trusted_root))
