"""Containers around executables: UEFI firmware volumes, PCI option ROMs, Intel HEX / S-record, raw blobs.

Each opener returns the members it found as ``Member`` records; the loader decides what each member is.
Decompression (LZMA, Tiano, EFI) goes through ``DecompressionBudget``: the size a stream declares is checked
before the C decompressor allocates it, so a bomb is refused instead of exhausting memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from verifier.errors import BadInputError
from verifier.firmware.executables import parse_executable, pe_directory
from verifier.firmware.limits import DecompressionBudget, LimitEvent, Limits

# Heavy, so imported inside the functions that use it: uefi_firmware (~20 ms) and bincopy (~55 ms),
# loaded only for their containers.

# EFI_FV_FILETYPE values that hold executable code.
_FV_FILE_TYPES = {
    0x01: "raw", 0x02: "freeform", 0x03: "security-core", 0x04: "pei-core", 0x05: "dxe-core", 0x06: "peim",
    0x07: "driver", 0x08: "combined-peim-driver", 0x09: "application", 0x0A: "mm", 0x0B: "volume-image",
    0x0C: "combined-mm-dxe", 0x0D: "mm-core", 0x0E: "mm-standalone", 0x0F: "mm-core-standalone", 0xF0: "pad",
}
_SECTION_PE32, _SECTION_PIC, _SECTION_TE, _SECTION_UI = 0x10, 0x11, 0x12, 0x15


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes
    attributes: dict[str, Any] = field(default_factory=dict)


# --- PCI option ROMs ---------------------------------------------------------------------------------------------

def option_rom_images(data: bytes, name: str, budget: DecompressionBudget,
                      events: list[LimitEvent]) -> list[Member] | None:
    """The images of a PCI expansion ROM, or None when ``data`` is not one.

    An EFI image (code type 3) yields its PE driver, decompressed when the ROM says so; a legacy x86 image
    yields its raw bytes.
    """
    if data[:2] != b"\x55\xaa" or len(data) < 0x1C:
        return None
    members: list[Member] = []
    offset = 0
    while offset + 0x1C <= len(data) and data[offset : offset + 2] == b"\x55\xaa":
        (pcir_rel,) = struct.unpack_from("<H", data, offset + 0x18)
        pcir = offset + pcir_rel
        if pcir + 0x18 > len(data) or data[pcir : pcir + 4] != b"PCIR":
            break
        vendor, device = struct.unpack_from("<HH", data, pcir + 4)
        (blocks,) = struct.unpack_from("<H", data, pcir + 0x10)
        code_type, indicator = data[pcir + 0x14], data[pcir + 0x15]
        length = blocks * 512
        if length == 0 or offset + length > len(data):
            break
        image = data[offset : offset + length]
        attrs: dict[str, Any] = {"offset": offset, "size": length, "vendor_id": f"{vendor:04x}",
                                 "device_id": f"{device:04x}", "code_type": code_type}
        label = f"{name}:rom@{offset:#x}"
        key = f"rom@{offset:#x}"
        if code_type == 3 and len(image) >= 0x18:
            _, efi_signature, subsystem, machine, compression, _, header_offset = struct.unpack_from(
                "<HIHHH8sH", image, 2)
            attrs.update({"efi_subsystem": subsystem, "efi_machine": f"{machine:04x}", "compressed": compression == 1})
            body = image[header_offset:]
            if compression == 1:
                decompressed = _efi_decompress(body, label, budget, events)
                body = decompressed if decompressed is not None else b""
            if efi_signature == 0x0EF1 and body:
                members.append(Member(f"{label}:efi", body, {**attrs, "key": f"{key}:efi"}))
        else:
            members.append(Member(f"{label}:legacy", image, {**attrs, "key": f"{key}:legacy", "opaque": True}))
        offset += length
        if indicator & 0x80:
            break
    if not members:
        return None
    return members


def _efi_decompress(body: bytes, where: str, budget: DecompressionBudget, events: list[LimitEvent]) -> bytes | None:
    from uefi_firmware import efi_compressor

    if len(body) < 8:
        return None
    (declared,) = struct.unpack_from("<I", body, 4)
    if not budget.allow(declared):
        events.append(LimitEvent("max-decompressed", where,
                                 f"EFI-compressed image declares {declared} bytes, over the remaining budget"))
        return None
    try:
        out: bytes = efi_compressor.EfiDecompress(body, len(body))
    except Exception:
        return None
    return out or None


# --- UEFI firmware volumes ---------------------------------------------------------------------------------------

def find_volume(data: bytes) -> int | None:
    """Offset of the first firmware volume header (``_FVH`` at +40, 16-byte aligned), or None."""
    start = 0
    while True:
        hit = data.find(b"_FVH", start)
        if hit < 0:
            return None
        base = hit - 40
        if base >= 0 and base % 16 == 0 and _volume_header_ok(data, base):
            return base
        start = hit + 1


def _volume_header_ok(data: bytes, base: int) -> bool:
    if base + 56 > len(data):
        return False
    length: int = struct.unpack_from("<Q", data, base + 32)[0]
    header_length: int = struct.unpack_from("<H", data, base + 48)[0]
    return 56 <= header_length <= length and length <= len(data) - base + 0x1000000


class _GuardedCompressor:
    """Stands in for uefi_firmware's ``efi_compressor`` and refuses streams that would break the budget."""

    def __init__(self, real: Any, budget: DecompressionBudget, events: list[LimitEvent], where: str) -> None:
        self._real, self._budget, self._events, self._where = real, budget, events, where

    def _guard(self, name: str, size_at: int, size_format: str) -> Callable[[bytes, int], bytes]:
        real = getattr(self._real, name)

        def decompress(buffer: bytes, length: int) -> bytes:
            if len(buffer) < size_at + struct.calcsize(size_format):
                raise ValueError("truncated compressed stream")
            (declared,) = struct.unpack_from(size_format, buffer, size_at)
            if not self._budget.allow(declared):
                self._events.append(LimitEvent(
                    "max-decompressed", self._where,
                    f"{name} stream declares {declared} bytes, over the remaining budget; section not opened"))
                raise ValueError("decompression budget exceeded")
            out: bytes = real(buffer, length)
            return out

        return decompress

    @property
    def LzmaDecompress(self) -> Callable[[bytes, int], bytes]:
        return self._guard("LzmaDecompress", 5, "<Q")

    @property
    def TianoDecompress(self) -> Callable[[bytes, int], bytes]:
        return self._guard("TianoDecompress", 4, "<I")

    @property
    def EfiDecompress(self) -> Callable[[bytes, int], bytes]:
        return self._guard("EfiDecompress", 4, "<I")


@contextlib.contextmanager
def _guarded_decompression(budget: DecompressionBudget, events: list[LimitEvent], where: str) -> Iterator[None]:
    from uefi_firmware import uefi as uefi_module

    real = uefi_module.efi_compressor
    uefi_module.efi_compressor = _GuardedCompressor(real, budget, events, where)
    try:
        yield
    finally:
        uefi_module.efi_compressor = real


def uefi_modules(data: bytes, name: str, budget: DecompressionBudget, events: list[LimitEvent],
                 limits: Limits) -> list[Member]:
    """Every file in every firmware volume of ``data``, compressed sections opened, keyed by GUID and UI name.

    A file with a PE32 or TE section yields that image; any other file yields its raw body. Files are
    numbered per GUID so that the same GUID twice (e.g. in two volumes) stays distinct.
    """
    from uefi_firmware import uefi as uefi_module

    volumes: list[Any] = []
    with _guarded_decompression(budget, events, name), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        offset = find_volume(data)
        while offset is not None and len(volumes) < limits.max_modules:
            volume = uefi_module.FirmwareVolume(data[offset:])
            if not volume.valid_header:
                break
            try:
                volume.process()
            except Exception:  # a malformed volume keeps what was parsed before the fault
                events.append(LimitEvent("malformed", f"{name}@{offset:#x}", "firmware volume could not be parsed"))
            volumes.append((offset, volume))
            step = max(int(volume.size), 16)
            nxt = find_volume(data[offset + step :])
            offset = None if nxt is None else offset + step + nxt
    members: list[Member] = []
    seen: dict[str, int] = {}
    for vol_offset, volume in volumes:
        for file_obj in _files(volume, depth=0, max_depth=limits.max_depth, events=events, where=name):
            if len(members) >= limits.max_modules:
                events.append(LimitEvent("max-modules", name, f"more than {limits.max_modules} files; rest ignored"))
                return members
            member = _module_member(file_obj, vol_offset, seen)
            if member is not None:
                members.append(member)
    return members


def _files(obj: Any, *, depth: int, max_depth: int, events: list[LimitEvent], where: str) -> Iterator[Any]:
    from uefi_firmware import uefi as uefi_module

    if obj is None:
        return
    if isinstance(obj, uefi_module.FirmwareVolume):
        depth += 1
        if depth > max_depth:
            events.append(LimitEvent("max-depth", where, f"firmware volume nested deeper than {max_depth}"))
            return
    if isinstance(obj, uefi_module.FirmwareFile):
        yield obj
    for child in list(getattr(obj, "objects", None) or []):
        yield from _files(child, depth=depth, max_depth=max_depth, events=events, where=where)


def _sections(obj: Any) -> Iterator[Any]:
    from uefi_firmware import uefi as uefi_module

    for child in list(getattr(obj, "objects", None) or []):
        if child is None or isinstance(child, uefi_module.FirmwareVolume | uefi_module.FirmwareFile):
            continue
        if isinstance(child, uefi_module.FirmwareFileSystemSection):
            yield child
        yield from _sections(child)


def _module_member(file_obj: Any, vol_offset: int, seen: dict[str, int]) -> Member | None:
    file_type = int(file_obj.type)
    if file_type == 0xF0:
        return None
    guid = _guid_text(file_obj.guid)
    if guid == "ffffffff-ffff-ffff-ffff-ffffffffffff":
        return None
    ui_name = ""
    code = b""
    code_kind = ""
    for section in _sections(file_obj):
        stype = int(section.type)
        if stype == _SECTION_UI and section.name:
            ui_name = str(section.name)
        elif stype in (_SECTION_PE32, _SECTION_TE, _SECTION_PIC) and not code:
            code = bytes(section.data)
            code_kind = {_SECTION_PE32: "pe32", _SECTION_TE: "te", _SECTION_PIC: "pic"}[stype]
    index = seen.get(guid, 0)
    seen[guid] = index + 1
    whole = bytes(file_obj._data)
    attrs: dict[str, Any] = {
        "guid": guid,
        "index": index,
        "ui_name": ui_name,
        "file_type": _FV_FILE_TYPES.get(file_type, f"{file_type:#04x}"),
        "section": code_kind or "none",
        "file_sha256": hashlib.sha256(whole).hexdigest(),
        "volume_offset": vol_offset,
    }
    label = f"{ui_name or guid}" + (f"#{index}" if index else "")
    if not code:
        attrs["opaque"] = True  # nested volumes are already walked by _files; do not open them twice
    return Member(label, code if code else whole, attrs)


def _guid_text(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=bytes(raw)))


# --- Intel HEX and S-record --------------------------------------------------------------------------------------

def hex_format(data: bytes) -> str | None:
    head = data[:64].lstrip()
    if head[:1] == b":" and all(c in b"0123456789abcdefABCDEF:\r\n" for c in head):
        return "intel-hex"
    if head[:1] == b"S" and head[1:2] in b"0123456789" and head[1:2] != b"" and \
            all(c in b"0123456789abcdefABCDEFS\r\n" for c in head):
        return "srec"
    return None


def hex_segments(data: bytes, kind: str, name: str, limits: Limits,
                 events: list[LimitEvent] | None = None) -> list[Member]:
    """Memory segments of a HEX or S-record file, each with its load address; bad records raise BadInputError.

    bincopy decodes the records; the segments are assembled here, sorted once: bincopy's own segment list
    inserts linearly, so 8000 records with gaps between them (376 KB) took 2.6 s, 30000 took 32 s.
    """
    import bincopy

    try:
        chunks = _hex_chunks(data.decode("ascii"), kind)
    except (UnicodeDecodeError, bincopy.Error, ValueError) as exc:
        raise BadInputError(f"{name}: malformed {kind} file: {' '.join(str(exc).split())}") from exc
    members: list[Member] = []
    segments = _contiguous(chunks, name, kind)
    if len(segments) > limits.max_hex_segments and events is not None:
        events.append(LimitEvent("max-hex-segments", name, f"{len(segments)} segments; only the first "
                                 f"{limits.max_hex_segments} are opened (the file digest still covers all)"))
    for address, content in segments[: limits.max_hex_segments]:
        if len(content) > limits.max_file_size:
            raise BadInputError(f"{name}: {kind} segment larger than the size limit")
        key = f"segment@{address:#x}"
        members.append(Member(f"{name}:{key}", content, {"address": address, "size": len(content), "key": key}))
    return members


def _hex_chunks(text: str, kind: str) -> list[tuple[int, bytes]]:
    """(address, data) of every data record, addressed as bincopy's add_ihex / add_srec address them."""
    import bincopy

    chunks: list[tuple[int, bytes]] = []
    segment_base = linear_base = 0
    for line in text.splitlines():
        record = line.strip()
        if not record:
            continue
        if kind == "intel-hex":
            record_type, address, _, payload = bincopy.unpack_ihex(record)
            if record_type == 0:
                chunks.append((address + segment_base + linear_base, bytes(payload)))
            elif record_type == 2:
                segment_base = int.from_bytes(payload, "big") * 16
            elif record_type == 4:
                linear_base = int.from_bytes(payload, "big") << 16
            elif record_type not in (1, 3, 5):
                raise ValueError(f"expected type 1..5 in record {record}, but got {record_type}")
        else:
            record_type, address, _, payload = bincopy.unpack_srec(record)
            if record_type in ("1", "2", "3"):
                chunks.append((address, bytes(payload)))
    return chunks


def _contiguous(chunks: list[tuple[int, bytes]], name: str, kind: str) -> list[tuple[int, bytes]]:
    segments: list[tuple[int, bytearray]] = []
    end = -1
    for address, payload in sorted(chunks, key=lambda chunk: chunk[0]):
        if not payload:
            continue
        if address < end:
            raise BadInputError(f"{name}: malformed {kind} file: records overlap at {address:#x}")
        if address == end:
            segments[-1][1].extend(payload)
        else:
            segments.append((address, bytearray(payload)))
        end = address + len(payload)
    return [(address, bytes(content)) for address, content in segments]


# --- raw blobs ---------------------------------------------------------------------------------------------------

def carve(data: bytes, name: str, limits: Limits, events: list[LimitEvent]) -> list[Member]:
    """ELF and PE images embedded in a raw blob, each cut to the extent its own headers declare."""
    found: list[Member] = []
    candidates = sorted(_magic_offsets(data, b"\x7fELF") + _magic_offsets(data, b"MZ"))
    covered_until = 0
    for offset in candidates:
        if offset < covered_until or offset == 0:
            continue
        if len(found) >= limits.max_carved:
            detail = f"more than {limits.max_carved} embedded images; rest ignored"
            events.append(LimitEvent("max-carved", name, detail))
            break
        parsed = parse_executable(data[offset:], limits=limits, events=events, name=f"{name}@{offset:#x}")
        if parsed is None:
            continue
        kind, binary = parsed
        end = offset + _extent(kind, binary, len(data) - offset)
        key = f"{kind}@{offset:#x}"
        found.append(Member(f"{name}:{key}", data[offset:end], {"offset": offset, "carved": kind, "key": key}))
        covered_until = end
    return found


def _magic_offsets(data: bytes, magic: bytes, cap: int = 4096) -> list[int]:
    out: list[int] = []
    start = 0
    while len(out) < cap:
        hit = data.find(magic, start)
        if hit < 0:
            break
        out.append(hit)
        start = hit + 1
    return out


def _extent(kind: str, binary: Any, available: int) -> int:
    ends = [0]
    if kind == "elf":
        ends += [s.file_offset + s.physical_size for s in binary.segments]
        ends += [s.offset + s.size for s in binary.sections if int(s.type) != 8]  # 8 = NOBITS
        header = binary.header
        ends.append(header.section_header_offset + header.numberof_sections * header.section_header_size)
    elif kind == "pe":
        ends += [s.offset + s.size for s in binary.sections]
        ends.append(binary.sizeof_headers)
        security_offset, security_size = pe_directory(binary, 4)
        if security_offset and security_size:
            ends.append(security_offset + security_size)
    end = max(ends)
    return min(end, available) if end > 0 else available
