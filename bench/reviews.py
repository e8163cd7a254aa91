"""Short-form report (OCP S.A.F.E. SFR) verification, printed as a ratio against the raw signature floor.

provcheck's whole path for one report (strict JWS parse, jwcrypto ES512 verify with the SRP key, strict JSON,
the typed model, the judge) against cryptography's bare ECDSA P-521 verify of the same signing input and
signature (the DER form made once, outside the loop): the floor no verifier can go below.

Run: python bench/reviews.py [--count N] [--repeat R]   (uses an MI300X report and NCC Group's key when the
vectors are there, otherwise a report signed here with a fresh P-521 key)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench._timing import timed  # noqa: E402

VECTORS = Path(os.environ.get("PROVCHECK_VECTORS", REPO.parent / "shared" / "vectors"))
REPORT = VECTORS / "ocp-safe/Reports/AMD/2024/MI300X/OCP_SAFE_-_amd_asp_-_BL_-_Stage_1.jws"
NCC = VECTORS / "ocp-safe/SRP_certificates/Active/NCC_Group/ocp_safe_ncc_group_ecdsa_p521.pub"


def inputs() -> tuple[bytes, Path, str]:
    if REPORT.is_file() and NCC.is_file():
        return REPORT.read_bytes(), NCC, "MI300X BL Stage 1, NCC Group key"
    from tests.attestations.sfr import encode, make_srp, payload

    srp = make_srp(Path(tempfile.mkdtemp()), "bench SRP")
    return srp.sign(encode(payload(b"bench firmware"))).encode(), srp.pub, "report signed here (no vectors)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from attestations.keys import load_public_keys
    from attestations.ocp_safe.jws import b64url_decode
    from attestations.ocp_safe.review import read_review
    from verifier.checks.reviews import ReviewLimits, judge_review

    data, key_path, what = inputs()
    keys = load_public_keys(key_path)
    now = datetime.now(UTC)
    head, body, sig = data.decode().strip().split(".")
    signing_input = f"{head}.{body}".encode()
    raw = b64url_decode(sig, "signature")
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    public = keys[0].key
    assert isinstance(public, ec.EllipticCurvePublicKey)

    def ours() -> None:
        for _ in range(args.count):
            review = read_review("bench", data, keys)
            assert review.signer is not None
            judge_review(review, ReviewLimits(), None, now)

    def floor() -> None:
        for _ in range(args.count):
            public.verify(der, signing_input, ec.ECDSA(hashes.SHA512()))

    ours()
    floor()
    mine = timed(ours, args.repeat)[0]
    ref = timed(floor, args.repeat)[0]
    print(f"SFR verify ({what}): provcheck {args.count / mine:7.0f}/s, cryptography raw ECDSA P-521 verify "
          f"{args.count / ref:7.0f}/s: {ref / mine:.2f}x the raw floor")


if __name__ == "__main__":
    main()
