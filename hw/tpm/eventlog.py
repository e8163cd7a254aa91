"""The TCG PC Client binary event log (TCG PC Client Platform Firmware Profile, 10).

The first event is in the SHA-1 format; when it is the "Spec ID Event03"
EV_NO_ACTION the rest of the log is crypto-agile (one digest per bank listed
in that header). Otherwise the whole log is the legacy SHA-1 format.

Parsing is bounded: the log size, event count, digests per event and event
data size are all limited and checked against what remains before anything is
sliced, so a truncated or hostile log raises ``EventLogFormatError`` and never
allocates more than its own size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hw.tpm import uefi
from hw.tpm.algorithms import SHA1, HashAlgorithm, known_hash_id
from hw.tpm.binary import Reader
from hw.tpm.errors import EventLogFormatError

MAX_LOG_SIZE = 16 * 1024 * 1024
MAX_EVENTS = 100_000
MAX_EVENT_DATA = 1024 * 1024
MAX_PCR_INDEX = 31
NO_PCR = 0xFFFFFFFF
SPEC_ID_SIGNATURE = b"Spec ID Event03\x00"
STARTUP_LOCALITY_SIGNATURE = b"StartupLocality\x00"

EV_NO_ACTION = 0x3
EV_SEPARATOR = 0x4
EV_ACTION = 0x5
EV_POST_CODE = 0x1
EV_S_CRTM_VERSION = 0x8
EV_IPL = 0xD
EV_EFI_BASE = 0x80000000
EV_EFI_VARIABLE_DRIVER_CONFIG = EV_EFI_BASE + 0x1
EV_EFI_VARIABLE_BOOT = EV_EFI_BASE + 0x2
EV_EFI_BOOT_SERVICES_APPLICATION = EV_EFI_BASE + 0x3
EV_EFI_BOOT_SERVICES_DRIVER = EV_EFI_BASE + 0x4
EV_EFI_RUNTIME_SERVICES_DRIVER = EV_EFI_BASE + 0x5
EV_EFI_GPT_EVENT = EV_EFI_BASE + 0x6
EV_EFI_ACTION = EV_EFI_BASE + 0x7
EV_EFI_PLATFORM_FIRMWARE_BLOB = EV_EFI_BASE + 0x8
EV_EFI_HANDOFF_TABLES = EV_EFI_BASE + 0x9
EV_EFI_PLATFORM_FIRMWARE_BLOB2 = EV_EFI_BASE + 0xA
EV_EFI_HANDOFF_TABLES2 = EV_EFI_BASE + 0xB
EV_EFI_VARIABLE_BOOT2 = EV_EFI_BASE + 0xC
EV_EFI_GPT_EVENT2 = EV_EFI_BASE + 0xD
EV_EFI_VARIABLE_AUTHORITY = EV_EFI_BASE + 0xE0

EVENT_TYPE_NAMES: dict[int, str] = {
    0x0: "EV_PREBOOT_CERT", 0x1: "EV_POST_CODE", 0x2: "EV_UNUSED", 0x3: "EV_NO_ACTION", 0x4: "EV_SEPARATOR",
    0x5: "EV_ACTION", 0x6: "EV_EVENT_TAG", 0x7: "EV_S_CRTM_CONTENTS", 0x8: "EV_S_CRTM_VERSION",
    0x9: "EV_CPU_MICROCODE", 0xA: "EV_PLATFORM_CONFIG_FLAGS", 0xB: "EV_TABLE_OF_DEVICES", 0xC: "EV_COMPACT_HASH",
    0xD: "EV_IPL", 0xE: "EV_IPL_PARTITION_DATA", 0xF: "EV_NONHOST_CODE", 0x10: "EV_NONHOST_CONFIG",
    0x11: "EV_NONHOST_INFO", 0x12: "EV_OMIT_BOOT_DEVICE_EVENTS", 0x13: "EV_POST_CODE2",
    EV_EFI_VARIABLE_DRIVER_CONFIG: "EV_EFI_VARIABLE_DRIVER_CONFIG", EV_EFI_VARIABLE_BOOT: "EV_EFI_VARIABLE_BOOT",
    EV_EFI_BOOT_SERVICES_APPLICATION: "EV_EFI_BOOT_SERVICES_APPLICATION",
    EV_EFI_BOOT_SERVICES_DRIVER: "EV_EFI_BOOT_SERVICES_DRIVER",
    EV_EFI_RUNTIME_SERVICES_DRIVER: "EV_EFI_RUNTIME_SERVICES_DRIVER", EV_EFI_GPT_EVENT: "EV_EFI_GPT_EVENT",
    EV_EFI_ACTION: "EV_EFI_ACTION", EV_EFI_PLATFORM_FIRMWARE_BLOB: "EV_EFI_PLATFORM_FIRMWARE_BLOB",
    EV_EFI_HANDOFF_TABLES: "EV_EFI_HANDOFF_TABLES", EV_EFI_PLATFORM_FIRMWARE_BLOB2: "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
    EV_EFI_HANDOFF_TABLES2: "EV_EFI_HANDOFF_TABLES2", EV_EFI_VARIABLE_BOOT2: "EV_EFI_VARIABLE_BOOT2",
    EV_EFI_GPT_EVENT2: "EV_EFI_GPT_EVENT2", EV_EFI_BASE + 0x10: "EV_EFI_HCRTM_EVENT",
    EV_EFI_VARIABLE_AUTHORITY: "EV_EFI_VARIABLE_AUTHORITY", EV_EFI_BASE + 0xE1: "EV_EFI_SPDM_FIRMWARE_BLOB",
    EV_EFI_BASE + 0xE2: "EV_EFI_SPDM_FIRMWARE_CONFIG",
}
IMAGE_EVENTS = frozenset(
    {EV_EFI_BOOT_SERVICES_APPLICATION, EV_EFI_BOOT_SERVICES_DRIVER, EV_EFI_RUNTIME_SERVICES_DRIVER}
)
VARIABLE_EVENTS = frozenset(
    {EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_BOOT2, EV_EFI_VARIABLE_AUTHORITY}
)
GRUB_IPL_PREFIXES = (b"grub_cmd: ", b"kernel_cmdline: ", b"module_cmdline: ", b"grub_kernel_cmdline ")


def event_type_name(kind: int) -> str:
    return EVENT_TYPE_NAMES.get(kind, f"0x{kind:08x}")


@dataclass(frozen=True)
class Event:
    number: int  # position in the log, 0 for the header event
    pcr: int
    type: int
    digests: Mapping[str, bytes]
    data: bytes
    decoded: Mapping[str, Any] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        return event_type_name(self.type)

    @property
    def extends(self) -> bool:
        return self.type != EV_NO_ACTION

    def label(self) -> str:
        detail = self.decoded.get("device_path") or self.decoded.get("name") or self.decoded.get("text") or ""
        tail = f" {detail}" if detail else ""
        return f"event #{self.number} (PCR {self.pcr} {self.type_name}{tail})"

    def data_matches_digest(self) -> bool | None:
        """Whether the digests are hashes of the event data, for the event types where they must be.

        ``None`` when the digest covers something outside the log (an image, a
        firmware volume) so the data cannot be checked against it.
        """
        candidates = _digest_preimages(self)
        if candidates is None:
            return None
        for bank, digest in self.digests.items():
            alg = _ALG_BY_NAME.get(bank)
            if alg is None:
                continue
            if not any(alg.digest(c) == digest for c in candidates):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "pcr": self.pcr,
            "type": self.type_name,
            "digests": {bank: d.hex() for bank, d in self.digests.items()},
            "data_size": len(self.data),
            "decoded": _jsonable(dict(self.decoded)),
            "data_matches_digest": self.data_matches_digest(),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"size": len(value), "sha256": hashlib.sha256(value).hexdigest(), "hex": value[:64].hex()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _digest_preimages(event: Event) -> list[bytes] | None:
    kind, data = event.type, event.data
    if kind in (EV_SEPARATOR, EV_EFI_ACTION, EV_ACTION, EV_EFI_GPT_EVENT, EV_EFI_VARIABLE_DRIVER_CONFIG):
        return [data]
    if kind in (EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_BOOT2, EV_EFI_VARIABLE_AUTHORITY):
        # edk2 hashes only VariableData for boot variables; the spec (and shim) hash the whole structure.
        var = event.decoded.get("data")
        return [data] + ([var] if isinstance(var, bytes) else [])
    if kind == EV_IPL and data.startswith(GRUB_IPL_PREFIXES):
        # GRUB logs "prefix: text\0" but extends the hash of the text alone.
        text = data.rstrip(b"\x00")
        return [data, text, text.split(b": ", 1)[-1] if b": " in text else text]
    return None


_ALG_BY_NAME = {a.name: a for a in (known_hash_id(i) for i in (0x0004, 0x000B, 0x000C, 0x000D, 0x0012)) if a}


@dataclass(frozen=True)
class EventLog:
    format: str  # "crypto-agile" | "sha1"
    algorithms: tuple[HashAlgorithm, ...]
    spec_id: Mapping[str, Any]
    events: tuple[Event, ...]
    startup_locality: int | None

    @property
    def banks(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.algorithms)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "banks": list(self.banks),
            "spec_id": dict(self.spec_id),
            "startup_locality": self.startup_locality,
            "events": [e.to_json() for e in self.events],
        }


def _decode(kind: int, data: bytes) -> dict[str, Any]:
    if kind in VARIABLE_EVENTS:
        return uefi.decode_variable(data)
    if kind in IMAGE_EVENTS:
        return uefi.decode_image_load(data)
    if kind in (EV_EFI_GPT_EVENT, EV_EFI_GPT_EVENT2):
        return uefi.decode_gpt(data)
    if kind == EV_EFI_PLATFORM_FIRMWARE_BLOB:
        return uefi.decode_firmware_blob(data, with_description=False)
    if kind == EV_EFI_PLATFORM_FIRMWARE_BLOB2:
        return uefi.decode_firmware_blob(data, with_description=True)
    if kind == EV_EFI_HANDOFF_TABLES:
        return uefi.decode_handoff_tables(data)
    if kind == EV_SEPARATOR:
        value = int.from_bytes(data[:4], "little") if len(data) == 4 else None
        return {"value": value, "error": value == 1}
    if kind in (EV_EFI_ACTION, EV_ACTION, EV_IPL, EV_POST_CODE):
        text = data.rstrip(b"\x00")
        if text and all(32 <= b < 127 or b in (9, 10, 13) for b in text):
            return {"text": text.decode("ascii")}
        if kind == EV_POST_CODE and len(data) == 16:
            return uefi.decode_firmware_blob(data, with_description=False)
        return {}
    if kind == EV_S_CRTM_VERSION:
        return {"text": uefi.utf16(data)}
    if kind == EV_NO_ACTION and data.startswith(STARTUP_LOCALITY_SIGNATURE) and len(data) == 17:
        return {"startup_locality": data[16]}
    return {}


def _parse_spec_id(data: bytes) -> tuple[dict[str, Any], tuple[HashAlgorithm, ...]]:
    r = Reader(data, what="Spec ID event", byteorder="little", error=EventLogFormatError)
    r.take(16, "signature")
    platform_class = r.u32("platformClass")
    minor, major = r.u8("specVersionMinor"), r.u8("specVersionMajor")
    errata, uintn = r.u8("specErrata"), r.u8("uintnSize")
    count = r.u32("numberOfAlgorithms")
    if not 1 <= count <= 16:
        raise r.fail(f"numberOfAlgorithms is {count}; expected 1 to 16")
    algs: list[HashAlgorithm] = []
    for _ in range(count):
        alg_id, size = r.u16("algorithmId"), r.u16("digestSize")
        alg = known_hash_id(alg_id)
        if alg is None:
            raise r.fail(f"the log uses hash algorithm 0x{alg_id:04x}, which provcheck does not know")
        if alg.digest_size != size:
            raise r.fail(f"{alg.name} digest size is declared as {size}, not {alg.digest_size}")
        algs.append(alg)
    vendor = r.sized("vendorInfo", length_size=1)
    spec = {"platform_class": platform_class, "spec_version": f"{major}.{minor}", "errata": errata,
            "uintn_size": uintn, "algorithms": [a.name for a in algs], "vendor_info": vendor.hex()}
    return spec, tuple(algs)


def _event(number: int, pcr: int, kind: int, digests: dict[str, bytes], data: bytes, r: Reader) -> Event:
    # Windows logs EV_NO_ACTION trust-point events with PCRIndex 0xFFFFFFFF (go-attestation's option_rom_eventlog):
    # they extend nothing, so they are kept; any other PCR beyond 31 is malformed.
    if pcr > MAX_PCR_INDEX and not (kind == EV_NO_ACTION and pcr == NO_PCR):
        raise r.fail(f"event #{number} targets PCR {pcr}")
    try:
        decoded = _decode(kind, data)
    except EventLogFormatError as exc:
        raise EventLogFormatError(f"event #{number} ({event_type_name(kind)}): {exc}") from exc
    return Event(number, pcr, kind, digests, data, decoded)


def _is_padding(rest: bytes) -> bool:
    return rest.count(0) == len(rest) or rest.count(0xFF) == len(rest)


def parse_event_log(data: bytes) -> EventLog:
    """Parse a binary event log (``/sys/kernel/security/tpm0/binary_bios_measurements``)."""
    if len(data) > MAX_LOG_SIZE:
        raise EventLogFormatError(f"event log is {len(data)} bytes, more than the {MAX_LOG_SIZE} allowed")
    if len(data) < 32:
        raise EventLogFormatError(f"event log is only {len(data)} bytes: not a TCG event log")
    r = Reader(data, what="event log", byteorder="little", error=EventLogFormatError)
    pcr, kind = r.u32("PCRIndex"), r.u32("EventType")
    sha1_digest = r.take(20, "SHA-1 digest")
    first_data = r.sized("event data", length_size=4, limit=MAX_EVENT_DATA)
    events: list[Event] = []
    if kind == EV_NO_ACTION and first_data.startswith(SPEC_ID_SIGNATURE):
        spec, algs = _parse_spec_id(first_data)
        fmt = "crypto-agile"
        events.append(Event(0, pcr, kind, {"sha1": sha1_digest}, first_data, {"spec_id": spec}))
    else:
        spec, algs, fmt = {}, (SHA1,), "sha1"
        events.append(_event(0, pcr, kind, {"sha1": sha1_digest}, first_data, r))
    sizes = {a.alg_id: a for a in algs}
    locality: int | None = None
    while r.remaining:
        head = data[r.offset : r.offset + 8]
        if head in (b"\x00" * len(head), b"\xff" * len(head)) and _is_padding(data[r.offset :]):
            break
        number = len(events)
        if number >= MAX_EVENTS:
            raise r.fail(f"more than {MAX_EVENTS} events")
        pcr, kind = r.u32("PCRIndex"), r.u32("EventType")
        digests: dict[str, bytes] = {}
        if fmt == "crypto-agile":
            count = r.u32("digest count")
            if count > len(algs):
                raise r.fail(f"event #{number} carries {count} digests but the header lists {len(algs)} banks")
            for _ in range(count):
                alg_id = r.u16("digest algorithm")
                alg = sizes.get(alg_id)
                if alg is None:
                    raise r.fail(f"event #{number} has a digest for algorithm 0x{alg_id:04x}, not in the header")
                if alg.name in digests:
                    raise r.fail(f"event #{number} has two {alg.name} digests")
                digests[alg.name] = r.take(alg.digest_size, f"{alg.name} digest")
        else:
            digests["sha1"] = r.take(20, "SHA-1 digest")
        event_data = r.sized(f"event #{number} data", length_size=4, limit=MAX_EVENT_DATA)
        event = _event(number, pcr, kind, digests, event_data, r)
        if "startup_locality" in event.decoded and pcr == 0:
            if locality is not None:
                raise r.fail("two StartupLocality events")
            locality = int(event.decoded["startup_locality"])
        events.append(event)
    return EventLog(fmt, algs, spec, tuple(events), locality)
