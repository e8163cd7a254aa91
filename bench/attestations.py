"""Attestation benchmarks, printed as ratios against references measured in the same run.

1. DSSE statements verified per second (10,000 statements in one .intoto.jsonl,
   Ed25519 and ECDSA P-256): provcheck's parse+verify path against
   securesystemslib's own DSSE verify loop over the same envelopes.
2. Offline Sigstore bundle verification: provcheck against calling
   sigstore-python's Verifier directly on the same bundle (needs the vectors).
3. ``provcheck --help`` wall time against ``python -c pass``.

Run: python bench/attestations.py [--count N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# bench/ itself must not be on sys.path: bench/serial.py would shadow pyserial for everything imported here.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench._timing import timed  # noqa: E402

VECTORS = Path(os.environ.get("PROVCHECK_VECTORS", REPO.parent / "shared" / "vectors"))


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    return timed(fn, repeat)[0]


def make_jsonl(kind: str, count: int) -> tuple[bytes, object]:
    from attestations.dsse import envelopes_to_jsonl, sign_envelope
    from attestations.keys import generate_private_key
    from attestations.predicates import INTOTO_PAYLOAD_TYPE
    from attestations.statement import Subject, build_statement

    signer = generate_private_key(kind)
    envelopes = []
    for i in range(count):
        digest = f"{i:064x}"
        payload = build_statement([Subject(f"fw-{i}.bin", {"sha256": digest})], "https://example.com/p/v1", {"i": i})
        envelopes.append(sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [signer]))
    return envelopes_to_jsonl(envelopes), signer


def bench_dsse(kind: str, count: int, repeat: int) -> None:
    from securesystemslib.dsse import Envelope as SslibEnvelope
    from securesystemslib.signer import SSlibKey

    from attestations.documents import parse_documents
    from verifier.checks.attestations import verify_envelopes

    data, signer = make_jsonl(kind, count)
    public = signer.public  # type: ignore[attr-defined]

    def provcheck() -> None:
        documents = parse_documents(data, "bench.intoto.jsonl")
        _findings, vouched = verify_envelopes(documents, [public], 1)  # type: ignore[arg-type]
        assert len(vouched) == count

    sslib_key = SSlibKey.from_crypto(public.key, keyid=public.keyid)

    def securesystemslib() -> None:
        verified = 0
        for line in data.splitlines():
            envelope = SslibEnvelope.from_dict(json.loads(line))
            envelope.verify([sslib_key], 1)
            verified += 1
        assert verified == count

    ref = best_of(repeat, securesystemslib)
    ours = best_of(repeat, provcheck)
    print(f"dsse {kind:10s} {count} statements: provcheck {count / ours:8.0f}/s, securesystemslib {count / ref:8.0f}/s"
          f"  -> {ref / ours:.2f}x the reference's throughput")


def bench_sigstore(repeat: int) -> None:
    bundle = VECTORS / "sigstore-python/test/assets/bundle_v3_github.whl.sigstore"
    artifact = VECTORS / "sigstore-python/test/assets/bundle_v3_github.whl"
    if not bundle.is_file():
        print(f"sigstore: skipped, vectors not found at {VECTORS}")
        return
    from sigstore.models import Bundle
    from sigstore.verify import Verifier, policy

    from attestations.sigstore import IdentityPolicy, TrustConfigChoice, load_trust_root, verify_bundle

    identity = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
    issuer = "https://token.actions.githubusercontent.com"

    def direct() -> None:
        verifier = Verifier.production(offline=True)
        verifier.verify_artifact(artifact.read_bytes(), Bundle.from_json(bundle.read_bytes()),
                                 policy.Identity(identity=identity, issuer=issuer))

    def ours() -> None:
        trust = load_trust_root(TrustConfigChoice.production())
        verify_bundle(bundle, artifact=artifact, trust=trust, policy=IdentityPolicy(identity=identity, issuer=issuer))

    direct()
    ours()
    ref = best_of(repeat, direct)
    mine = best_of(repeat, ours)
    print(f"sigstore bundle offline verify: provcheck {mine * 1000:.1f} ms, sigstore-python Verifier "
          f"{ref * 1000:.1f} ms -> {mine / ref:.2f}x the reference's time")


def bench_help(repeat: int) -> None:
    def run(args: list[str]) -> Callable[[], object]:
        return lambda: subprocess.run(args, check=True, capture_output=True)

    base = best_of(repeat, run([sys.executable, "-c", "pass"]))
    helptime = best_of(repeat, run([sys.executable, "-m", "verifier.cli", "--help"]))
    print(f"provcheck --help: {helptime * 1000:.0f} ms, python -c pass {base * 1000:.0f} ms "
          f"-> {helptime / base:.2f}x the reference's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for kind in ("ed25519", "ecdsa-p256"):
        bench_dsse(kind, args.count, args.repeat)
    bench_sigstore(args.repeat)
    bench_help(max(args.repeat, 5))


if __name__ == "__main__":
    main()
