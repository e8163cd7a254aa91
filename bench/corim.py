"""CoRIM verification throughput, as ratios against references measured in the same run.

For one signed CoRIM per algorithm (made here, the shape ``release sign --corim`` writes), per second:

- provcheck's whole path: strict decode of the envelope, headers, payload and CoMID, then cwt's COSE_Sign1 verify;
- cwt alone on the same bytes (its own decode and verify, nothing checked beyond the signature);
- the raw floor: cryptography verifying the same signature over the same Sig_structure bytes.

Run: python bench/corim.py [--count N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench._timing import timed  # noqa: E402


def bench(kind: str, count: int, repeat: int) -> None:
    import cbor2
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cwt import COSE, COSEKey

    from attestations.corim.build import ReferenceMeasurement, build_reference_corim, sign_reference_corim
    from attestations.corim.cose import verify_signed
    from attestations.corim.document import load_document
    from attestations.corim.model import ClassMap
    from attestations.keys import generate_private_key, public_pem

    signer = generate_private_key(kind)
    corim = build_reference_corim(
        "bench", ClassMap(vendor="ACME", model="RoadRunner"),
        [ReferenceMeasurement(f"region-{i}", {"sha256": bytes([i]) * 32, "sha384": bytes([i]) * 48}) for i in range(8)],
    )
    data = sign_reference_corim(corim, signer, "bench signer")
    keys = [signer.public]

    def provcheck() -> None:
        for _ in range(count):
            doc = load_document(data)
            assert doc.signed is not None and verify_signed(doc.signed, keys).valid

    alg = {"ecdsa-p256": -7, "ecdsa-p384": -35, "ed25519": -8}[kind]
    cose_key = COSEKey.from_pem(public_pem(signer.public), alg=alg)
    ctx = COSE.new()

    def cwt_only() -> None:
        for _ in range(count):
            ctx.decode(data, keys=[cose_key])

    protected, _, payload, signature = cbor2.loads(data).value
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    key = signer.public.key
    if isinstance(key, ed25519.Ed25519PublicKey):
        def raw() -> None:
            for _ in range(count):
                key.verify(signature, tbs)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        width = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:width], "big"), int.from_bytes(signature[width:], "big"))
        scheme = ec.ECDSA(hashes.SHA256() if kind == "ecdsa-p256" else hashes.SHA384())

        def raw() -> None:
            for _ in range(count):
                key.verify(der, tbs, scheme)

    floor = timed(raw, repeat)[0]
    library = timed(cwt_only, repeat)[0]
    ours = timed(provcheck, repeat)[0]
    print(f"corim {kind:10s} {len(data)} B: provcheck {count / ours:7.0f}/s, cwt alone {count / library:7.0f}/s, "
          f"raw verify {count / floor:7.0f}/s -> {floor / ours:.2f}x the raw floor, {library / ours:.2f}x cwt alone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for kind in ("ecdsa-p256", "ecdsa-p384", "ed25519"):
        bench(kind, args.count, args.repeat)


if __name__ == "__main__":
    main()
