"""Secure Boot inputs the tests make themselves, the way efitools and OVMF would: certificates, EFI_SIGNATURE_LISTs,
EDK2 variable stores in their firmware volume, signed updates (EFI_VARIABLE_AUTHENTICATION_2), efivarfs dumps.

Debian's efitools is not installed here, so lists and stores are written with the package's own writers
(``signature_list_bytes``, ``store_bytes``), which follow EDK2's layout byte for byte (the vectors' stores are
read by the same parser), and updates are signed with cryptography's PKCS#7 builder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from verifier.firmware import der
from verifier.firmware.secureboot.auth import signed_bytes
from verifier.firmware.secureboot.guids import (
    EDKII_SECURE_BOOT_ENABLE,
    EFI_CERT_TYPE_PKCS7,
    EFI_GLOBAL_VARIABLE,
    EFI_IMAGE_SECURITY_DATABASE,
    guid_bytes,
)
from verifier.firmware.secureboot.siglist import signature_list_bytes
from verifier.firmware.secureboot.varstore import store_bytes

OWNER = "a0a0a0a0-0000-4000-8000-000000000001"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
AUTH_ATTRIBUTES = 0x27  # NV | BS | RT | TIME_BASED_AUTHENTICATED_WRITE_ACCESS
GUIDS = {"PK": EFI_GLOBAL_VARIABLE, "KEK": EFI_GLOBAL_VARIABLE, "db": EFI_IMAGE_SECURITY_DATABASE,
         "dbx": EFI_IMAGE_SECURITY_DATABASE}


@cache
def rsa_key(bits: int = 2048, index: int = 0) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def certificate(common_name: str, *, bits: int = 2048, index: int = 0, digest: type[hashes.HashAlgorithm] =
                hashes.SHA256, not_before: dt.datetime = dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                not_after: dt.datetime = dt.datetime(2035, 1, 1, tzinfo=dt.UTC), issuer_cn: str | None = None,
                ) -> bytes:
    """A self-signed (or same-key ``issuer_cn``) DER certificate."""
    key = rsa_key(bits, index)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]) if issuer_cn else subject
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(int.from_bytes(hashlib.sha256(common_name.encode()).digest()[:8], "big"))
               .not_valid_before(not_before).not_valid_after(not_after))
    made = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return made if digest is hashes.SHA256 else _resign(made, key, digest)


_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_OTHER_RSA = {hashes.SHA1: bytes.fromhex("06092a864886f70d010105"),
              hashes.SHA384: bytes.fromhex("06092a864886f70d01010c")}


def _resign(made: bytes, key: rsa.RSAPrivateKey, digest: type[hashes.HashAlgorithm]) -> bytes:
    """The certificate re-signed with ``digest``: cryptography 50 refuses to make SHA-1 certificates, firmware still
    carries them (Casper, XiaoMi, LG PKs), so the OID is swapped (same length) and the TBS signed again."""
    from cryptography.hazmat.primitives.asymmetric import padding

    swapped = made.replace(_SHA256_RSA, _OTHER_RSA[digest])
    cert = der.read(swapped)
    tbs, signature = cert.child(0), cert.child(2)
    new = key.sign(tbs.raw, padding.PKCS1v15(), digest())
    assert len(new) + 1 == len(signature.value)
    return swapped[: signature.value_start + 1] + new + swapped[signature.end :]


def cert_list(*ders: bytes, owner: str = OWNER) -> bytes:
    """One EFI_SIGNATURE_LIST per certificate, as cert-to-efi-sig-list writes them."""
    return b"".join(signature_list_bytes("X509", owner, [d]) for d in ders)


def hash_list(*digests: bytes, owner: str = OWNER, kind: str = "SHA256") -> bytes:
    return signature_list_bytes(kind, owner, list(digests))


def store(*, pk: bytes = b"", kek: bytes = b"", db: bytes = b"", dbx: bytes = b"", secure_boot_enable: int | None = 1,
          extra: tuple[tuple[str, str, int, bytes], ...] = ()) -> bytes:
    """An OVMF_VARS_4M-shaped store holding these key databases (data as EFI_SIGNATURE_LISTs)."""
    variables: list[tuple[str, str, int, bytes]] = []
    for name, data in (("db", db), ("dbx", dbx), ("KEK", kek), ("PK", pk)):
        if data:
            variables.append((name, GUIDS[name], AUTH_ATTRIBUTES, data))
    if secure_boot_enable is not None and pk:
        variables.append(("SecureBootEnable", EDKII_SECURE_BOOT_ENABLE, 0x3, bytes([secure_boot_enable])))
    variables.extend(extra)
    return store_bytes(variables)


def efi_time(moment: dt.datetime) -> bytes:
    return (moment.year.to_bytes(2, "little") + bytes([moment.month, moment.day, moment.hour, moment.minute,
                                                       moment.second]) + bytes(9))


def signed_update(variable: str, payload: bytes, *, signer_cn: str = "Made Test PK", bits: int = 2048,
                  attributes: int = AUTH_ATTRIBUTES, moment: dt.datetime = dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                  index: int = 0, signed_attributes: bool = False) -> bytes:
    """An EFI_VARIABLE_AUTHENTICATION_2 update of ``variable``, as sign-efi-sig-list writes it (bare SignedData)."""
    key = rsa_key(bits, index)
    cert = x509.load_der_x509_certificate(certificate(signer_cn, bits=bits, index=index))
    timestamp = efi_time(moment)
    message = signed_bytes(variable, attributes, timestamp, payload)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    if not signed_attributes:
        options.append(pkcs7.PKCS7Options.NoAttributes)
    content_info = (pkcs7.PKCS7SignatureBuilder().set_data(message).add_signer(cert, key, hashes.SHA256())
                    .sign(serialization.Encoding.DER, options))
    signed_data = der.read(content_info).child(1).child(0).raw
    win_certificate = ((24 + len(signed_data)).to_bytes(4, "little") + (0x0200).to_bytes(2, "little")
                       + (0x0EF1).to_bytes(2, "little") + guid_bytes(EFI_CERT_TYPE_PKCS7) + signed_data)
    return timestamp + win_certificate + payload


def efivarfs_dir(root: Path, variables: dict[str, tuple[str, int, bytes]]) -> list[Path]:
    """Files named Name-GUID holding attributes (u32) + data, as /sys/firmware/efi/efivars shows them."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (guid, attributes, data) in variables.items():
        path = root / f"{name}-{guid}"
        path.write_bytes(attributes.to_bytes(4, "little") + data)
        paths.append(path)
    return paths
