"""The GUIDs of UEFI Secure Boot: variable namespaces and EFI_SIGNATURE_LIST types (UEFI 2.10, 32.4.1 and 8.2)."""

from __future__ import annotations

import uuid

EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_IMAGE_SECURITY_DATABASE = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
EFI_CERT_TYPE_PKCS7 = "4aafd29d-68df-49ee-8aa9-347d375665a7"
#: EDK2's SecureBootEnable and CustomMode namespaces.
EDKII_SECURE_BOOT_ENABLE = "f0a30bc7-af08-4556-99c4-001009c93a44"
EDKII_CUSTOM_MODE = "c076ec0c-7028-4399-a072-71ee5c448b9f"

#: Signature type GUID -> (name, size of the signature data after the owner GUID, or None when variable).
SIGNATURE_TYPES: dict[str, tuple[str, int | None]] = {
    "c1c41626-504c-4092-aca9-41f936934328": ("SHA256", 32),
    "826ca512-cf10-4ac9-b187-be01496631bd": ("SHA1", 20),
    "0b6e5233-a65c-44c9-9407-d9ab83bfc8bd": ("SHA224", 28),
    "ff3e5307-9fd0-48c9-85f1-8ad56c701e01": ("SHA384", 48),
    "093e0fae-a6c4-4f50-9f1b-d41e2b89c19a": ("SHA512", 64),
    "57347f87-7a9b-403a-b93c-dc4afb7a0ebc": ("SM3", 32),
    "3c5766e8-269c-4e34-aa14-ed776e85b3b6": ("RSA2048", 256),
    "e2b36190-879b-4a3d-ad8d-f2e7bba32784": ("RSA2048_SHA256", 32),
    "67f8444f-8743-48f1-a328-1eaab8736080": ("RSA2048_SHA1", 20),
    "a5c059a1-94e4-4aa7-87b5-ab155c2bf072": ("X509", None),
    "3bd2a492-96c0-4079-b420-fcf98ef103ed": ("X509_SHA256", 32 + 16),
    "7076876e-80c2-4ee6-aad2-28b349a6865b": ("X509_SHA384", 48 + 16),
    "446dbf63-2502-4cda-bcfa-2465d2b0fe9d": ("X509_SHA512", 64 + 16),
    EFI_CERT_TYPE_PKCS7: ("PKCS7", None),
}
SIGNATURE_TYPE_GUIDS: dict[str, str] = {name: guid for guid, (name, _) in SIGNATURE_TYPES.items()}
#: The hash types whose data is a digest of an image (what dbx revokes by hash).
IMAGE_HASH_TYPES = frozenset({"SHA256", "SHA1", "SHA224", "SHA384", "SHA512", "SM3"})

#: The key databases and the namespace each lives in.
KEY_DATABASES: dict[str, str] = {
    "PK": EFI_GLOBAL_VARIABLE, "KEK": EFI_GLOBAL_VARIABLE, "db": EFI_IMAGE_SECURITY_DATABASE,
    "dbx": EFI_IMAGE_SECURITY_DATABASE, "dbt": EFI_IMAGE_SECURITY_DATABASE, "dbr": EFI_IMAGE_SECURITY_DATABASE,
}
#: Mode variables: one byte each.
MODE_VARIABLES: dict[str, str] = {
    "SecureBoot": EFI_GLOBAL_VARIABLE, "SetupMode": EFI_GLOBAL_VARIABLE, "AuditMode": EFI_GLOBAL_VARIABLE,
    "DeployedMode": EFI_GLOBAL_VARIABLE, "SecureBootEnable": EDKII_SECURE_BOOT_ENABLE,
    "CustomMode": EDKII_CUSTOM_MODE,
}


def guid_text(raw: bytes) -> str:
    """A 16-byte EFI_GUID (little-endian first three fields) as text."""
    return str(uuid.UUID(bytes_le=raw))


def guid_bytes(text: str) -> bytes:
    return uuid.UUID(text).bytes_le
