"""The Secure Boot variables a TPM event log records: EV_EFI_VARIABLE_DRIVER_CONFIG (SecureBoot, PK, KEK, db, dbx,

Hand-written on ``hw.tpm.eventlog``: no maintained Python package decodes these events' signature lists.
as measured into PCR 7 at boot) and EV_EFI_VARIABLE_AUTHORITY (the db entry, or shim's certificate, that allowed
each image). The log itself is parsed by ``hw.tpm.eventlog``; this module reads the variable data it carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from hw.tpm.eventlog import EV_EFI_VARIABLE_AUTHORITY, EV_EFI_VARIABLE_DRIVER_CONFIG, Event, EventLog
from verifier.firmware.secureboot.certificates import CertificateFacts, certificate_facts, der_length
from verifier.firmware.secureboot.errors import SecureBootFormatError
from verifier.firmware.secureboot.guids import EFI_IMAGE_SECURITY_DATABASE, KEY_DATABASES, guid_text
from verifier.firmware.secureboot.siglist import SignatureEntry, SignatureList, parse_signature_lists

SECURE_BOOT_PCR = 7
_HASHERS = {"sha1": "sha1", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}


@dataclass(frozen=True)
class VariableEvent:
    number: int
    pcr: int
    event: str  # "EV_EFI_VARIABLE_DRIVER_CONFIG" | "EV_EFI_VARIABLE_AUTHORITY"
    name: str
    guid: str
    data: bytes  # VariableData
    #: bank -> whether the logged digest is the hash of the event's UEFI_VARIABLE_DATA
    digest_matches: Mapping[str, bool] = field(default_factory=dict)
    lists: tuple[SignatureList, ...] = ()  # DRIVER_CONFIG of a key database
    authority: SignatureEntry | None = None  # AUTHORITY: an EFI_SIGNATURE_DATA (owner + certificate)
    authority_certificate: CertificateFacts | None = None  # AUTHORITY: a bare certificate (shim)


def variable_events(log: EventLog, what: str) -> tuple[VariableEvent, ...]:
    """The PCR 7 variable events of ``log``, their data parsed."""
    out: list[VariableEvent] = []
    for event in log.events:
        if event.pcr != SECURE_BOOT_PCR or event.type not in (EV_EFI_VARIABLE_DRIVER_CONFIG,
                                                               EV_EFI_VARIABLE_AUTHORITY):
            continue
        out.append(_variable_event(event, what))
    return tuple(out)


def _variable_event(event: Event, what: str) -> VariableEvent:
    name = str(event.decoded.get("name", ""))
    guid = str(event.decoded.get("guid", ""))
    value = event.decoded.get("data", b"")
    data = value if isinstance(value, bytes) else b""
    where = f"{what} event #{event.number} ({name})"
    matches = {bank: hashlib.new(_HASHERS[bank], event.data).digest() == digest
               for bank, digest in event.digests.items() if bank in _HASHERS}
    type_name = event.type_name
    if event.type == EV_EFI_VARIABLE_DRIVER_CONFIG:
        lists: tuple[SignatureList, ...] = ()
        if KEY_DATABASES.get(name) == guid and data:
            lists = parse_signature_lists(data, where)
        return VariableEvent(event.number, event.pcr, type_name, name, guid, data, matches, lists)
    if guid == EFI_IMAGE_SECURITY_DATABASE and len(data) > 16:
        length = der_length(data[16:], where, 16)
        if 16 + length != len(data):
            raise SecureBootFormatError(where, 16 + length, "bytes after the authority's certificate")
        facts = certificate_facts(data[16:], where, 16)
        entry = SignatureEntry("X509", guid_text(data[:16]), 0, data[16:], facts)
        return VariableEvent(event.number, event.pcr, type_name, name, guid, data, matches, authority=entry)
    if data[:1] == b"\x30":
        cert: CertificateFacts | None
        try:
            length = der_length(data, where, 0)
            cert = certificate_facts(data[:length], where, 0) if length == len(data) else None
        except SecureBootFormatError:
            cert = None
        return VariableEvent(event.number, event.pcr, type_name, name, guid, data, matches,
                             authority_certificate=cert)
    return VariableEvent(event.number, event.pcr, type_name, name, guid, data, matches)
