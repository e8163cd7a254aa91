"""One view of a platform's Secure Boot key databases, whatever file they were read from: what the judges read.

Hand-written: no maintained Python package joins EDK2 stores, efivarfs, event logs and updates into one view.

``read_secureboot(name, data)`` recognises the input by its structure (not by its name, except efivarfs whose name
is the variable's): an EDK2 variable store or a flash image holding one, a TPM event log, a signed update
(EFI_VARIABLE_AUTHENTICATION_2), an EFI_SIGNATURE_LIST, an X.509 certificate (DER or PEM) or a PKCS#7 SignedData.
A variable counts only under its own GUID: a "PK" in another namespace is not the PK and is listed as ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hw.tpm.errors import EventLogFormatError
from hw.tpm.eventlog import EVENT_TYPE_NAMES, SPEC_ID_SIGNATURE, parse_event_log
from hw.tpm.replay import replay
from verifier.firmware import der
from verifier.firmware.secureboot.auth import (
    AuthenticatedUpdate,
    SignedData,
    parse_authenticated_update,
    parse_signed_data,
)
from verifier.firmware.secureboot.certificates import CertificateFacts, certificate_facts, der_length
from verifier.firmware.secureboot.efivarfs import efivarfs_name, parse_efivarfs
from verifier.firmware.secureboot.errors import SecureBootFormatError
from verifier.firmware.secureboot.eventlog import SECURE_BOOT_PCR, VariableEvent, variable_events
from verifier.firmware.secureboot.guids import KEY_DATABASES, MODE_VARIABLES, SIGNATURE_TYPES, guid_text
from verifier.firmware.secureboot.siglist import SignatureEntry, SignatureList, parse_signature_lists
from verifier.firmware.secureboot.varstore import STORE_GUIDS, VariableStore, find_stores

MAX_INPUT = 64 * 1024 * 1024


@dataclass(frozen=True)
class KeyDatabase:
    name: str  # PK, KEK, db, dbx, dbt, dbr
    guid: str
    attributes: int | None
    lists: tuple[SignatureList, ...]
    raw: bytes = b""  # the variable's data, as stored or measured

    @property
    def entries(self) -> tuple[SignatureEntry, ...]:
        return tuple(e for lst in self.lists for e in lst.entries)

    @property
    def certificates(self) -> tuple[CertificateFacts, ...]:
        return tuple(e.certificate for e in self.entries if e.certificate is not None)


@dataclass(frozen=True)
class SecureBootState:
    """The key databases and mode variables one input shows.

    ``complete`` says whether a database missing here is missing on the platform (a store, an efivarfs directory,
    an event log), or only not part of this input (a lone signature list, update or certificate).
    """

    source: str
    kind: str  # edk2-varstore | efivarfs | tcg-eventlog | auth2 | esl | x509 | pkcs7
    databases: Mapping[str, KeyDatabase]
    modes: Mapping[str, bytes] = field(default_factory=dict)
    complete: bool = True
    update: AuthenticatedUpdate | None = None
    pkcs7: SignedData | None = None
    certificates: tuple[CertificateFacts, ...] = ()  # a lone certificate, or a PKCS#7's bag
    events: tuple[VariableEvent, ...] = ()
    ignored: tuple[str, ...] = ()  # key-database names found under a foreign GUID
    pcr7: Mapping[str, bytes] = field(default_factory=dict)  # event logs: PCR 7 replayed from the log, per bank
    deleted: int = 0  # deleted or superseded variables skipped in a store
    store_offset: int | None = None


def _database(name: str, guid: str, attributes: int | None, data: bytes, what: str,
              base: int) -> KeyDatabase:
    return KeyDatabase(name, guid, attributes, parse_signature_lists(data, f"{what} {name}", base), data)


def _from_variables(items: Sequence[tuple[str, str, int | None, bytes, int]], what: str,
                    ) -> tuple[dict[str, KeyDatabase], dict[str, bytes], list[str]]:
    databases: dict[str, KeyDatabase] = {}
    modes: dict[str, bytes] = {}
    ignored: list[str] = []
    for name, guid, attributes, data, base in items:
        if name in KEY_DATABASES:
            if KEY_DATABASES[name] != guid:
                ignored.append(f"{name}-{guid}")
            elif data:
                databases[name] = _database(name, guid, attributes, data, what, base)
        elif name in MODE_VARIABLES and MODE_VARIABLES[name] == guid:
            modes[name] = data
    return databases, modes, ignored


def read_store(name: str, data: bytes) -> SecureBootState:
    stores = find_stores(data, name)
    if not stores:
        raise SecureBootFormatError(name, 0, "no EDK2 variable store (no firmware volume holds one)")
    return _store_state(name, stores)


def _store_state(name: str, stores: tuple[VariableStore, ...]) -> SecureBootState:
    store = next((s for s in stores if s.variables), stores[0])
    items = [(v.name, v.guid, v.attributes, v.data, v.data_offset) for v in store.variables]
    databases, modes, ignored = _from_variables(items, name)
    return SecureBootState(name, "edk2-varstore", databases, modes, True, ignored=tuple(ignored),
                           deleted=len(store.deleted), store_offset=store.offset)


def read_efivarfs(files: Sequence[tuple[str, bytes]]) -> SecureBootState:
    """A set of efivarfs files (one machine's /sys/firmware/efi/efivars, or the Secure Boot part of it)."""
    items: list[tuple[str, str, int | None, bytes, int]] = []
    for file_name, data in files:
        variable = parse_efivarfs(file_name, data)
        items.append((variable.name, variable.guid, variable.attributes, variable.data, 4))
    databases: dict[str, KeyDatabase] = {}
    modes: dict[str, bytes] = {}
    ignored: list[str] = []
    for item in items:
        found, found_modes, found_ignored = _from_variables([item], f"efivarfs {item[0]}-{item[1]}")
        databases.update(found)
        modes.update(found_modes)
        ignored.extend(found_ignored)
    source = files[0][0] if len(files) == 1 else f"efivarfs ({len(files)} variables)"
    return SecureBootState(source, "efivarfs", databases, modes, True, ignored=tuple(ignored))


def read_event_log(name: str, data: bytes) -> SecureBootState:
    try:
        log = parse_event_log(data)
    except EventLogFormatError as exc:
        raise SecureBootFormatError(name, 0, f"TCG event log: {exc}") from exc
    events = variable_events(log, name)
    if not any(e.event == "EV_EFI_VARIABLE_DRIVER_CONFIG" for e in events):
        # A log without them (legacy BIOS, or bytes that merely parse as a log) says nothing about Secure Boot:
        # reading it as "no PK" would report setup mode for a platform never seen.
        raise SecureBootFormatError(name, 0, "the event log records no Secure Boot variable "
                                    "(EV_EFI_VARIABLE_DRIVER_CONFIG in PCR 7)")
    databases: dict[str, KeyDatabase] = {}
    modes: dict[str, bytes] = {}
    for event in events:
        if event.event != "EV_EFI_VARIABLE_DRIVER_CONFIG":
            continue
        if KEY_DATABASES.get(event.name) == event.guid:
            if event.lists:
                databases[event.name] = KeyDatabase(event.name, event.guid, None, event.lists, event.data)
            else:
                databases.pop(event.name, None)
        elif MODE_VARIABLES.get(event.name) == event.guid:
            modes[event.name] = event.data
    replayed = replay(log).pcrs
    pcr7 = {bank: values[SECURE_BOOT_PCR] for bank, values in replayed.items() if SECURE_BOOT_PCR in values}
    return SecureBootState(name, "tcg-eventlog", databases, modes, True, events=events, pcr7=pcr7)


def _pem_certificates(data: bytes, name: str) -> list[bytes]:
    out = []
    for match in re.finditer(rb"-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]{1,200000}?)-----END CERTIFICATE-----",
                             data):
        try:
            out.append(base64.b64decode(b"".join(match[1].split()), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise SecureBootFormatError(name, match.start(), f"PEM certificate is not base64 ({exc})") from exc
    return out


def _looks_like_event_log(data: bytes) -> bool:
    if len(data) < 32:
        return False
    if data[32:48] == SPEC_ID_SIGNATURE:
        return True
    pcr = int.from_bytes(data[0:4], "little")
    kind = int.from_bytes(data[4:8], "little")
    size = int.from_bytes(data[28:32], "little")
    return pcr <= 23 and kind in EVENT_TYPE_NAMES and 32 + size <= len(data)


def _first_tag(data: bytes) -> int:
    try:
        return der.read(data, 0).child(0).tag
    except der.DerError:
        return -1


def read_secureboot(name: str, data: bytes) -> SecureBootState:
    """The Secure Boot facts of one input file, recognised by its structure."""
    if len(data) > MAX_INPUT:
        raise SecureBootFormatError(name, 0, f"{len(data)} bytes, more than the {MAX_INPUT} read")
    base_name = name.replace("\\", "/").rsplit("/", 1)[-1]
    if efivarfs_name(base_name) is not None:
        return read_efivarfs([(base_name, data)])
    if (len(data) >= 16 and guid_text(data[:16]) in STORE_GUIDS) or b"_FVH" in data:
        stores = find_stores(data, name)
        if stores:
            return _store_state(name, stores)
    if len(data) >= 40 and data[20:24] == b"\x00\x02\xf1\x0e":
        update = parse_authenticated_update(data, name)
        variable = update.signature.variable or "update"
        database = KeyDatabase(variable, KEY_DATABASES.get(variable, ""), update.signature.attributes, update.payload,
                               update.payload_bytes)
        return SecureBootState(name, "auth2", {variable: database}, complete=False, update=update,
                               pkcs7=update.pkcs7, certificates=update.pkcs7.certificates)
    if len(data) >= 28 and guid_text(data[:16]) in SIGNATURE_TYPES:
        lists = parse_signature_lists(data, name)
        return SecureBootState(name, "esl", {"list": KeyDatabase("list", "", None, lists, data)}, complete=False)
    if data.lstrip()[:27] == b"-----BEGIN CERTIFICATE-----":
        certs = tuple(certificate_facts(der, name) for der in _pem_certificates(data, name))
        if not certs:
            raise SecureBootFormatError(name, 0, "PEM file holds no complete certificate")
        return SecureBootState(name, "x509", {}, complete=False, certificates=certs)
    if data[:1] == b"\x30":
        length = der_length(data, name, 0)
        if length != len(data):
            raise SecureBootFormatError(name, length, f"{len(data) - length} bytes after the DER structure")
        if _first_tag(data) in (0x06, 0x02):  # ContentInfo (OID first) or a bare SignedData (version first)
            signed = parse_signed_data(data, name, 0)
            return SecureBootState(name, "pkcs7", {}, complete=False, pkcs7=signed, certificates=signed.certificates)
        return SecureBootState(name, "x509", {}, complete=False, certificates=(certificate_facts(data, name),))
    if _looks_like_event_log(data):
        return read_event_log(name, data)
    raise SecureBootFormatError(name, 0, "not a variable store (nor a flash image holding one), event log, signed "
                                "update, signature list or certificate")
