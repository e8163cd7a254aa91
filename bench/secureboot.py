"""Secure Boot benchmark: reading the key databases of a 4 MiB flash image, against sha256 of the same file.

The image is OVMF's real 4 MiB layout (OVMF_VARS_4M.ms.fd then OVMF_CODE_4M.fd from Debian's ovmf: the NVRAM
volume with PK, KEK, db and dbx enrolled, then the code volumes), or, where ovmf is not installed, a made store
followed by random bytes of the same size. Both sides read the file from disk; the figure is the ratio of the best
of ``--repeat`` runs, measured in one run (issue 16 aims for at most 5x).

Run: python bench/secureboot.py [--repeat N] [--image PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench._timing import timed  # noqa: E402

OVMF = Path("/usr/share/OVMF")
SIZE = 4 * 1024 * 1024


def made_image(into: Path) -> Path:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from verifier.firmware.secureboot.guids import EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE
    from verifier.firmware.secureboot.siglist import signature_list_bytes
    from verifier.firmware.secureboot.varstore import store_bytes

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench PK")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    owner = "a0a0a0a0-0000-4000-8000-000000000001"
    certs = signature_list_bytes("X509", owner, [cert])
    dbx = signature_list_bytes("SHA256", owner, [hashlib.sha256(bytes([i % 256, i // 256])).digest()
                                                 for i in range(443)])
    store = store_bytes([("db", EFI_IMAGE_SECURITY_DATABASE, 0x27, certs * 3), ("dbx", EFI_IMAGE_SECURITY_DATABASE,
                         0x27, dbx), ("KEK", EFI_GLOBAL_VARIABLE, 0x27, certs * 2),
                         ("PK", EFI_GLOBAL_VARIABLE, 0x27, certs)])
    path = into / "made-flash.fd"
    path.write_bytes(store + os.urandom(SIZE - len(store)))
    return path


def ovmf_image(into: Path) -> Path | None:
    variables, code = OVMF / "OVMF_VARS_4M.ms.fd", OVMF / "OVMF_CODE_4M.fd"
    if not (variables.is_file() and code.is_file()):
        return None
    path = into / "OVMF_4M.ms.fd"
    path.write_bytes(variables.read_bytes() + code.read_bytes())
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--image", type=Path)
    args = parser.parse_args()
    from verifier.firmware.secureboot.databases import read_secureboot

    with tempfile.TemporaryDirectory(prefix="provcheck-bench-sb-") as tmp:
        image = args.image or ovmf_image(Path(tmp)) or made_image(Path(tmp))
        read_secureboot(image.name, image.read_bytes())  # warm: imports, the page cache

        def databases() -> object:
            return read_secureboot(image.name, image.read_bytes()).databases

        def digest() -> object:
            return hashlib.sha256(image.read_bytes()).hexdigest()

        ours, found = timed(databases, args.repeat)
        reference, _ = timed(digest, args.repeat)
        size = image.stat().st_size
    entries = {name: len(db.entries) for name, db in found.items()}  # type: ignore[attr-defined]
    print(f"image: {image.name} ({size / 1024 / 1024:.1f} MiB), databases {entries}")
    print(f"read databases: {ours * 1000:8.2f} ms   sha256: {reference * 1000:8.2f} ms   "
          f"ratio {ours / reference:.2f}x (best of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
