"""The simulated device's TPM: a measured boot's event log, the PCRs it replays to, and quotes over them.

Simulation only: a real device's TPM makes these; here the simulator's attestation key signs them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def _event_log() -> tuple[bytes, dict[int, str]]:
    """A small TCG PC Client crypto-agile log (sha256 bank) and the PCR values it replays to."""
    spec_id = (
        b"Spec ID Event03\x00" + struct.pack("<IBBBB", 0, 0, 2, 0, 2) + struct.pack("<I", 1)
        + struct.pack("<HH", 0x000B, 32) + b"\x00"
    )
    log = bytearray(struct.pack("<II", 0, 0x3) + bytes(20) + struct.pack("<I", len(spec_id)) + spec_id)
    pcrs = {i: bytes(32) for i in range(24)}
    events = [(0, 0x8, "Acme RTU-9 firmware 3.1".encode("utf-16-le") + b"\x00\x00")]
    events += [(i, 0x4, b"\x00\x00\x00\x00") for i in range(8)]
    for index, event_type, data in events:
        digest = hashlib.sha256(data).digest()
        log += struct.pack("<III", index, event_type, 1) + struct.pack("<H", 0x000B) + digest
        log += struct.pack("<I", len(data)) + data
        pcrs[index] = hashlib.sha256(pcrs[index] + digest).digest()
    return bytes(log), {i: v.hex() for i, v in pcrs.items()}


EVENT_LOG, _PCRS = _event_log()


def pcr_values() -> dict[int, str]:
    return dict(_PCRS)


def build_quote(ak_key: ec.EllipticCurvePrivateKey, nonce: bytes, pcrs: Sequence[int]) -> tuple[bytes, bytes, bytes]:
    """A TPM2 quote (TPMS_ATTEST, TPMT_SIGNATURE, PCR values) as tpm2_quote writes them.

    Simulation only: a real device's TPM makes these; here the simulator's AK signs them.
    """
    values = pcr_values()
    pcr_blob = b"".join(bytes.fromhex(values[i]) for i in pcrs)
    select_bits = bytearray(3)
    for i in pcrs:
        select_bits[i // 8] |= 1 << (i % 8)
    spki = ak_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    name = struct.pack(">H", 0x000B) + hashlib.sha256(spki).digest()
    attest = b"".join(
        [
            struct.pack(">IH", 0xFF544347, 0x8018),
            struct.pack(">H", len(name)) + name,
            struct.pack(">H", len(nonce)) + nonce,
            struct.pack(">QIIB", 123456, 1, 0, 1),
            struct.pack(">Q", 0x2019_0001),
            struct.pack(">IHB", 1, 0x000B, 3) + bytes(select_bits),
            struct.pack(">H", 32) + hashlib.sha256(pcr_blob).digest(),
        ]
    )
    r, s = decode_dss_signature(ak_key.sign(attest, ec.ECDSA(hashes.SHA256())))
    signature = struct.pack(">HH", 0x0018, 0x000B)
    signature += struct.pack(">H", 32) + r.to_bytes(32, "big") + struct.pack(">H", 32) + s.to_bytes(32, "big")
    return attest, signature, pcr_blob
