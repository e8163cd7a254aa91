"""The simulated Linux device's Secure Boot variables, as /sys/firmware/efi/efivars shows them.

Simulation only: the vendor's own PK, KEK and db certificate (P-256 keys derived from public seeds, so runs are
deterministic), a one-hash dbx, SecureBoot=1 and SetupMode=0; each file is the 4-byte attributes, then the data.
"""

from __future__ import annotations

import datetime
import hashlib
import struct
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hw.sim.config import DeviceConfig

EFIVARS = "/sys/firmware/efi/efivars"
GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
IMAGE_DB = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
_X509 = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"
_SHA256 = "c1c41626-504c-4092-aca9-41f936934328"
_OWNER = "5ca1ab1e-0000-4000-8000-000000000009"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_AUTHENTICATED = 0x27  # NV | BS | RT | time-based authenticated write
_VOLATILE = 0x06  # BS | RT


def _key(seed: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big") % (_P256_ORDER - 1)
                                 + 1, ec.SECP256R1())


def _certificate(common_name: str, seed: str) -> bytes:
    key = _key(seed)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") | 1)
            .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(datetime.datetime(2099, 12, 31, tzinfo=datetime.UTC))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _signature_list(kind: str, item: bytes) -> bytes:
    """One EFI_SIGNATURE_LIST of one entry (type GUID, sizes, owner GUID + data)."""
    size = 16 + len(item)
    return (uuid.UUID(kind).bytes_le + struct.pack("<III", 28 + size, 0, size) + uuid.UUID(_OWNER).bytes_le + item)


def efivars(config: DeviceConfig) -> dict[str, bytes]:
    """Path -> content of each Secure Boot variable the simulated device shows."""
    vendor = config.manufacturer
    seed = config.key_seed
    variables = {
        f"SecureBoot-{GLOBAL}": (_VOLATILE, b"\x01"),
        f"SetupMode-{GLOBAL}": (_VOLATILE, b"\x00"),
        f"PK-{GLOBAL}": (_AUTHENTICATED, _signature_list(_X509, _certificate(f"{vendor} Platform Key",
                                                                               seed + "-sb-pk"))),
        f"KEK-{GLOBAL}": (_AUTHENTICATED, _signature_list(_X509, _certificate(f"{vendor} KEK", seed + "-sb-kek"))),
        f"db-{IMAGE_DB}": (_AUTHENTICATED, _signature_list(_X509, _certificate(f"{vendor} Boot Signer",
                                                                                 seed + "-sb-db"))),
        f"dbx-{IMAGE_DB}": (_AUTHENTICATED, _signature_list(_SHA256, hashlib.sha256(b"revoked boot loader").digest())),
    }
    return {f"{EFIVARS}/{name}": struct.pack("<I", attributes) + data for name, (attributes, data) in variables.items()}
