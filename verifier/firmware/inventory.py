"""The firmware manifest: a deterministic inventory of one firmware file (predicate
``https://provcheck.dev/firmware-manifest/v1``, documented in docs/firmware-manifest.md).

``analyse`` turns a loaded image into an ``Analysis``: the predicate content plus the code regions that
``scan`` needs to hash declared functions in another binary. ``build_manifest`` is the public entry point.
Addresses are hex strings so that 64-bit values survive JSON readers that use doubles.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import BadInputError
from verifier.firmware import functions as fn
from verifier.firmware.authenticode import read_authenticode
from verifier.firmware.capabilities import compile_rules, string_matches
from verifier.firmware.executables import pe_directory
from verifier.firmware.limits import DEFAULT_LIMITS, Limits, range_charge
from verifier.firmware.loaded import coff_long_names, declare
from verifier.firmware.loader import Image, load_file
from verifier.firmware.raw_image import layout

FIRMWARE_MANIFEST = "https://provcheck.dev/firmware-manifest/v1"
SCHEMA_VERSION = 1
MODULE_SIGNATURE_MAGIC = b"~Module signature appended~\n"

_ELF_ARCH = {"X86_64": "x86_64", "I386": "x86", "AARCH64": "aarch64", "ARM": "arm", "RISCV": "riscv",
             "PPC": "ppc", "PPC64": "ppc", "MIPS": "mips", "MIPS_RS3_LE": "mips"}
_PE_ARCH = {"AMD64": "x86_64", "I386": "x86", "ARM64": "aarch64", "ARM": "arm", "ARMNT": "arm", "THUMB": "arm",
            "RISCV64": "riscv", "RISCV32": "riscv"}
_PE_EXEC, _PE_READ, _PE_WRITE, _PE_CODE, _PE_DISCARDABLE = 0x20000000, 0x40000000, 0x80000000, 0x20, 0x02000000
_ELF_NOBITS, _ELF_REL = 8, "REL"


def _name(value: Any) -> str:
    """The name of a LIEF enum value; LIEF hands back a bare int for values it does not know."""
    name = getattr(value, "name", None)
    return str(name) if name else f"{int(value):#x}"


def _text(value: Any) -> str:
    """A name from the binary; LIEF returns bytes for names that are not valid UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def hexaddr(value: int) -> str:
    return f"{value:#x}"


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte, rounded so that it is identical on every machine."""
    if not data:
        return 0.0
    import numpy as np

    # bincount widens to int64; 64 KiB chunks keep that copy in L2 cache (3x faster than 1 MiB, here)
    values = np.frombuffer(data, dtype=np.uint8)
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, values.size, 1 << 16):
        counts += np.bincount(values[start : start + (1 << 16)], minlength=256)
    total = len(data)
    value: float = -sum(c / total * math.log2(c / total) for c in counts.tolist() if c)
    return round(value + 0.0, 3)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _RangeDigests:
    """Content, sha256 and entropy of an image's header-declared byte ranges, within the loader's budget.

    Section and segment headers come from the file, so they may all point at the same large span, or describe
    thousands of tiny ones; each range costs ``range_charge`` of ``section_budget`` (set by the loader, which
    also records the limit event), and once it is spent no further range is read.
    """

    def __init__(self, image: Image) -> None:
        self._data = image.data
        budget = image.attributes.get("section_budget")
        self._remaining: int | None = None if budget is None else int(budget)
        self._seen: dict[tuple[int, int], tuple[bytes, str, float]] = {}

    @property
    def exhausted(self) -> bool:
        return self._remaining is not None and self._remaining <= 0

    def of(self, offset: int, size: int) -> tuple[bytes, str, float] | None:
        """(content, sha256, entropy) of ``size`` bytes at ``offset``; None once the budget is spent."""
        length = max(0, min(size, len(self._data) - offset))
        if self._remaining is not None:
            cost = range_charge(length)
            if cost > self._remaining:
                self._remaining = 0
                return None
            self._remaining -= cost
        key = (offset, length)
        if key not in self._seen:
            content = self._data[offset : offset + length]
            self._seen[key] = (content, sha256(content), entropy(content))
        return self._seen[key]


@dataclass(frozen=True)
class Analysis:
    """The predicate content for one image, and what a scan needs beyond it."""

    image: Image
    predicate: dict[str, Any]
    regions: tuple[fn.CodeRegion, ...] = ()
    children: tuple[Analysis, ...] = ()


@dataclass(frozen=True)
class FirmwareManifest:
    predicate: Mapping[str, Any] = field(default_factory=dict)

    def to_predicate(self) -> dict[str, Any]:
        return json.loads(self.canonical_bytes())  # type: ignore[no-any-return]

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.predicate)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build_manifest(path: Path, *, limits: Limits = DEFAULT_LIMITS, rules: Any = None) -> FirmwareManifest:
    """Inventory ``path``; raises BadInputError when it cannot be read or is over the size limit."""
    image = load_file(path, limits)
    if image.kind == "too-large":
        raise BadInputError(f"{path}: {image.events[0].detail}")
    return FirmwareManifest(analyse(image, rules=rules, declare_bytes=True).predicate)


def analyse(image: Image, *, rules: Any = None, top: bool = True, declare_bytes: bool = False) -> Analysis:
    """The predicate of ``image``; with ``declare_bytes`` (a manifest, a baseline) also its ``loaded`` bytes,
    which a plain scan of the image itself does not need."""
    if rules is None:
        rules = compile_rules()
    if image.kind == "elf":
        predicate, regions = _elf(image)
    elif image.kind == "pe":
        predicate, regions = _pe(image)
    elif image.kind == "macho":
        predicate, regions = _macho(image)
    elif image.kind == "te":
        predicate, regions = _te(image)
    else:
        predicate, regions = {"format": image.kind}, []
    if declare_bytes and image.kind in ("elf", "pe"):
        loaded = declare(image, predicate)
        if loaded is not None:
            predicate["loaded"] = loaded
    children = tuple(analyse(child, rules=rules, top=False, declare_bytes=declare_bytes)
                     for child in image.children)
    _attach_children(image, predicate, children)
    predicate["strings"] = [m.to_json() for m in string_matches(rules, image.data)]
    if top:
        predicate["file"] = {"size": len(image.data), "sha256": sha256(image.data)}
        predicate["schema_version"] = SCHEMA_VERSION
        predicate["limits"] = [e.to_json() for e in image.events]
        if image.kind == "elf" and predicate.get("file_type") != "rel":
            predicate["raw_image"] = layout(image.binary, image.data)  # where objcopy -O binary puts each section
    else:
        predicate["size"] = len(image.data)
        predicate["sha256"] = sha256(image.data)
    if image.kind in ("raw", "option-rom", "uefi-volume", "intel-hex", "srec"):
        predicate["entropy"] = entropy(image.data)
    return Analysis(image, predicate, tuple(regions), children)


def _attach_children(image: Image, predicate: dict[str, Any], children: tuple[Analysis, ...]) -> None:
    if image.kind == "uefi-volume":
        modules = []
        for child in children:
            attrs = child.image.attributes
            modules.append({
                "guid": attrs.get("guid", ""), "index": attrs.get("index", 0), "name": attrs.get("ui_name", ""),
                "file_type": attrs.get("file_type", ""), "section": attrs.get("section", ""),
                "sha256": attrs.get("file_sha256", ""), "image": child.predicate,
            })
        predicate["modules"] = sorted(modules, key=lambda m: (m["guid"], m["index"]))
        predicate["volume_offset"] = hexaddr(int(image.attributes.get("volume_offset", 0)))
    elif children:
        embedded = []
        for child in children:
            attrs = child.image.attributes
            entry = {"name": str(attrs.get("key", child.image.name)), "image": child.predicate}
            for key in ("offset", "address", "vendor_id", "device_id", "code_type", "compressed"):
                if key in attrs:
                    value = attrs[key]
                    entry[key] = hexaddr(value) if key in ("offset", "address") else value
            embedded.append(entry)
        predicate["embedded"] = embedded


# --- ELF ----------------------------------------------------------------------------------------------------------

def _elf(image: Image) -> tuple[dict[str, Any], list[fn.CodeRegion]]:
    import lief

    b = image.binary
    data = image.data
    header = b.header
    arch = _ELF_ARCH.get(_name(header.machine_type), _name(header.machine_type).lower())
    pointer = 8 if header.identity_class == lief.ELF.Header.CLASS.ELF64 else 4
    little = header.identity_data == lief.ELF.Header.ELF_DATA.LSB
    relocatable = _name(header.file_type) == _ELF_REL
    # In a relocatable object every section sits at address 0; use file offsets as addresses instead.
    section_address = {i: (s.offset if relocatable else s.virtual_address) for i, s in enumerate(b.sections)}

    sections: list[dict[str, Any]] = []
    regions: list[fn.CodeRegion] = []
    covered: list[tuple[int, int]] = []
    digests = _RangeDigests(image)
    for index, s in enumerate(b.sections):
        if index == 0 and not s.name and not s.size:
            continue
        flags_value = int(s.flags)
        nobits = int(s.type) == _ELF_NOBITS
        digest = None if nobits else digests.of(s.offset, s.size)
        content = digest[0] if digest else b""
        flags = [name for bit, name in ((2, "alloc"), (1, "write"), (4, "exec")) if flags_value & bit]
        sections.append({
            "name": _text(s.name), "address": hexaddr(section_address[index]), "size": s.size,
            "offset": hexaddr(s.offset), "type": _name(s.type).lower(), "flags": flags,
            "sha256": digest[1] if digest else None, "entropy": digest[2] if digest else 0.0,
        })
        if not nobits and s.size:
            covered.append((s.offset, s.offset + s.size))
            if flags_value & 4 and (flags_value & 2 or relocatable) and digest:
                regions.append(fn.CodeRegion(_text(s.name), section_address[index], content))

    segments: list[dict[str, Any]] = []
    uncovered: list[dict[str, Any]] = []
    header_end = max(header.header_size, header.program_header_offset
                     + header.numberof_segments * header.program_header_size)
    exec_stack: bool | None = None
    gaps = _Gaps(covered, header_end)
    for s in b.segments:
        flags_value = int(s.flags)
        flag_text = "".join(c if flags_value & bit else "-" for bit, c in ((4, "r"), (2, "w"), (1, "x")))
        segment_digest = digests.of(s.file_offset, s.physical_size)
        seg_type = _name(s.type)
        segments.append({
            "type": seg_type.lower(), "address": hexaddr(s.virtual_address), "memory_size": s.virtual_size,
            "file_size": s.physical_size, "offset": hexaddr(s.file_offset), "flags": flag_text,
            "sha256": segment_digest[1] if segment_digest else None,
        })
        if seg_type == "GNU_STACK":
            exec_stack = bool(flags_value & 1)
        if seg_type == "LOAD" and flags_value & 1:
            for start, end in gaps.within(s.file_offset, s.file_offset + s.physical_size):
                chunk = digests.of(start, end - start)
                if chunk is None:
                    break
                if chunk[0].strip(b"\x00\x90\xcc"):
                    uncovered.append({"offset": hexaddr(start), "address": hexaddr(s.virtual_address + start
                                                                                  - s.file_offset),
                                      "size": end - start, "sha256": chunk[1]})
    if not regions:
        for s in b.segments:
            if _name(s.type) == "LOAD" and int(s.flags) & 1:
                segment_code = digests.of(s.file_offset, s.physical_size)
                if segment_code is not None:
                    regions.append(fn.CodeRegion(f"segment@{s.virtual_address:#x}", s.virtual_address,
                                                 segment_code[0]))
    else:
        # Code that no section describes is still code: discover and hash functions there too.
        regions += [fn.CodeRegion(f"uncovered@{u['address']}", int(u["address"], 16),
                                  data[int(u["offset"], 16) : int(u["offset"], 16) + u["size"]]) for u in uncovered]

    # e_entry 0 means "none" for shared objects, but is a real entry for firmware linked at address 0.
    entry = None if relocatable else b.entrypoint
    if entry == 0 and not any(r.contains(0) for r in regions):
        entry = None
    entry_virtual = _physical_to_virtual(b, entry, regions) if entry is not None else None
    starts: list[fn.FunctionStart] = []
    for symbol in list(b.symtab_symbols) + list(b.dynamic_symbols):
        if _name(symbol.type) != "FUNC" or symbol.shndx == 0 or symbol.shndx >= 0xFF00:
            continue
        address = symbol.value
        if relocatable:
            address += section_address.get(symbol.shndx, 0)
        if arch == "arm":
            address &= ~1
        starts.append(fn.FunctionStart(address, "symbol", _text(symbol.name), symbol.size))
    exports = sorted({(_text(s.name), s.value) for s in b.dynamic_symbols
                      if s.exported and s.name and s.shndx != 0}, key=lambda e: (e[0], e[1]))
    imports = sorted({_text(s.name) for s in b.dynamic_symbols if s.shndx == 0 and s.name and s.imported}
                     | ({_text(s.name) for s in b.symtab_symbols if s.shndx == 0 and s.name} if relocatable else set()))
    starts += [fn.FunctionStart(addr, "export", name) for name, addr in exports]
    constructors = _elf_constructors(b, data, pointer, little)
    starts += [fn.FunctionStart(int(c["address"], 16), "constructor") for c in constructors]
    if entry is not None:
        starts.append(fn.FunctionStart(entry_virtual if entry_virtual is not None else entry, "entry"))
    eh = b.get_section(".eh_frame")
    if eh is not None and int(eh.type) != _ELF_NOBITS:
        starts += fn.eh_frame_functions(data[eh.offset : eh.offset + eh.size], eh.virtual_address, pointer,
                                        little_endian=little)
    starts += [fn.FunctionStart(t, "call") for t in fn.call_targets(regions, arch, little_endian=little)]

    overlay_start = max([header_end, header.section_header_offset + header.numberof_sections
                         * header.section_header_size]
                        + [end for _, end in covered]
                        + [s.file_offset + s.physical_size for s in b.segments])
    predicate: dict[str, Any] = {
        "format": "elf",
        "architecture": arch,
        "bits": pointer * 8,
        "endian": "little" if little else "big",
        "file_type": _name(header.file_type).lower(),
        "entry_point": hexaddr(entry) if entry is not None else None,
        "entry_point_virtual": hexaddr(entry_virtual) if entry_virtual is not None else None,
        "sections": sections,
        "segments": segments,
        "exports": [{"name": n, "address": hexaddr(a)} for n, a in exports],
        "imports": [{"library": "", "name": n} for n in imports],
        "libraries": sorted(_text(lib) for lib in b.libraries),
        "constructors": constructors,
        "functions": _function_table(starts, regions),
        "layout": {
            "rwx": sorted({f"segment {s['type']}@{s['address']}" for s in segments
                           if s["flags"] == "rwx" and s["type"] != "gnu_stack"}
                          | {f"section {s['name']}" for s in sections if {"write", "exec"} <= set(s["flags"])}),
            "executable_stack": exec_stack,
            "uncovered_code": uncovered,
        },
        "sbat": None,
        "module_signature": _module_signature(data),
    }
    predicate["overlay"] = _overlay(data, overlay_start, _trailers_elf(data))
    return predicate, regions


def _physical_to_virtual(b: Any, entry: int, regions: Sequence[fn.CodeRegion]) -> int | None:
    """A kernel's e_entry is a physical load address; map it through the executable LOAD segment holding it."""
    if any(r.contains(entry) for r in regions):
        return None
    for segment in b.segments:
        if _name(segment.type) == "LOAD" and int(segment.flags) & 1 \
                and segment.physical_address <= entry < segment.physical_address + segment.virtual_size:
            return int(segment.virtual_address + entry - segment.physical_address)
    return None


class _Gaps:
    """File ranges that no section covers, for any segment: the sections are merged once, then bisected.

    Subtracting every section from every executable segment was quadratic in hostile header counts.
    """

    def __init__(self, covered: Sequence[tuple[int, int]], header_end: int) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(covered):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [m[0] for m in merged]
        self._ends = [m[1] for m in merged]
        self._header_end = header_end

    def within(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        position = max(start, self._header_end) if start < self._header_end else start
        # the first merged range that ends after the position; every later one starts after it too
        index = bisect.bisect_right(self._ends, position)
        while position < end:
            if index >= len(self._starts) or self._starts[index] >= end:
                yield position, end
                return
            if self._starts[index] > position:
                yield position, self._starts[index]
            position = max(position, self._ends[index])
            index += 1


#: the array sections a loader or libc start-up walks, and the dynamic tags (array, size) that point ld.so at them
_ELF_ARRAYS = ((".preinit_array", "preinit_array", "PREINIT_ARRAY", "PREINIT_ARRAYSZ"),
               (".init_array", "init_array", "INIT_ARRAY", "INIT_ARRAYSZ"),
               (".fini_array", "fini_array", "FINI_ARRAY", "FINI_ARRAYSZ"),
               (".ctors", "ctors", None, None), (".dtors", "dtors", None, None))
#: R_*_IRELATIVE per machine: the addend is an IFUNC resolver that ld.so (or a static binary's start-up) calls
_IRELATIVE = {"X86_64": 37, "AARCH64": 1032, "RISCV": 58, "PPC64": 248}


def _elf_constructors(b: Any, data: bytes, pointer: int, little: bool) -> list[dict[str, Any]]:
    """Every entry the loader or start-up code calls besides e_entry: init/fini/preinit arrays, .ctors/.dtors,
    DT_INIT and DT_FINI, and IFUNC resolvers (symbols and IRELATIVE relocations)."""
    fmt = ("<" if little else ">") + ("Q" if pointer == 8 else "I")
    out: list[dict[str, Any]] = []
    tags = {_name(e.tag): int(e.value) for e in b.dynamic_entries}

    def table(kind: str, raw: bytes) -> None:
        for i in range(0, len(raw) - pointer + 1, pointer):
            (value,) = struct.unpack_from(fmt, raw, i)
            if value in (0, (1 << (pointer * 8)) - 1):
                continue
            out.append({"kind": kind, "index": i // pointer, "address": hexaddr(value)})

    for name, kind, array_tag, size_tag in _ELF_ARRAYS:
        section = b.get_section(name)
        if section is not None and int(section.type) != _ELF_NOBITS:
            table(kind, data[section.offset : section.offset + section.size])
        elif array_tag is not None and size_tag is not None and tags.get(array_tag):
            try:
                raw = bytes(b.get_content_from_virtual_address(tags[array_tag], min(tags.get(size_tag, 0), 4096)))
            except Exception:  # LIEF raises on unmapped addresses
                raw = b""
            table(kind, raw)
    for tag, kind in (("INIT", "dt_init"), ("FINI", "dt_fini")):
        if tags.get(tag):
            out.append({"kind": kind, "index": 0, "address": hexaddr(tags[tag])})
    resolvers = {int(s.value) for s in b.symtab_symbols if _name(s.type) == "GNU_IFUNC" and s.value}
    irelative = _IRELATIVE.get(_name(b.header.machine_type))
    if irelative is not None and pointer == 8:
        for section in b.sections:
            if int(section.type) != 4:  # SHT_RELA
                continue
            raw = data[section.offset : section.offset + section.size]
            for at in range(0, len(raw) - 23, 24):
                _, info, addend = struct.unpack_from(("<" if little else ">") + "QQq", raw, at)
                if info & 0xFFFFFFFF == irelative and addend > 0:
                    resolvers.add(addend)
    out += [{"kind": "ifunc", "index": 0, "address": hexaddr(a)} for a in sorted(resolvers)]
    return out


def _module_signature(data: bytes) -> dict[str, Any] | None:
    if not data.endswith(MODULE_SIGNATURE_MAGIC) or len(data) < 40:
        return None
    info = data[-40:-28]
    (sig_len,) = struct.unpack(">I", info[8:12])
    start = len(data) - 40 - sig_len
    if start < 0:
        return {"present": True, "valid_layout": False}
    return {"present": True, "valid_layout": True, "length": sig_len, "id_type": info[2],
            "sha256": sha256(data[start : len(data) - 40])}


def _trailers_elf(data: bytes) -> list[tuple[str, int]]:
    signature = _module_signature(data)
    if signature and signature.get("valid_layout"):
        return [("module-signature", 40 + int(signature["length"]))]
    return []


def _overlay(data: bytes, start: int, trailers: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """Bytes after the image, less known trailers at the very end (signatures, symbol tables)."""
    end = len(data)
    known: list[str] = []
    for name, size in trailers:
        if 0 < size <= end - start:
            end -= size
            known.append(name)
    unknown = data[start:end] if start < end else b""
    if unknown and len(unknown) < 512 and not unknown.strip(b"\x00"):
        known.append("zero-padding")
        unknown = b""
    return {"offset": hexaddr(min(start, len(data))), "size": len(unknown),
            "sha256": sha256(unknown) if unknown else None, "entropy": entropy(unknown), "known_trailers": known}


# --- PE -----------------------------------------------------------------------------------------------------------

def _pe(image: Image) -> tuple[dict[str, Any], list[fn.CodeRegion]]:
    b = image.binary
    data = image.data
    base = b.optional_header.imagebase
    arch = _PE_ARCH.get(_name(b.header.machine), _name(b.header.machine).lower())
    sections: list[dict[str, Any]] = []
    regions: list[fn.CodeRegion] = []
    digests = _RangeDigests(image)
    long_names = coff_long_names(b, data)
    for s in b.sections:
        chars = int(s.characteristics)
        raw_size = min(s.sizeof_raw_data, s.virtual_size) if s.virtual_size else s.sizeof_raw_data
        digest = digests.of(s.offset, raw_size)
        content = digest[0] if digest else b""
        flags = [name for bit, name in ((_PE_READ, "read"), (_PE_WRITE, "write"), (_PE_EXEC, "exec"),
                                        (_PE_CODE, "code"), (_PE_DISCARDABLE, "discardable")) if chars & bit]
        sections.append({
            "name": long_names.get(_text(s.name), _text(s.name)), "address": hexaddr(base + s.virtual_address),
            "size": s.virtual_size,
            "raw_size": s.sizeof_raw_data, "offset": hexaddr(s.offset), "flags": flags,
            "sha256": digest[1] if digest else None, "entropy": digest[2] if digest else 0.0,
        })
        if chars & (_PE_EXEC | _PE_CODE) and content:
            regions.append(fn.CodeRegion(_text(s.name), base + s.virtual_address, content))
    entry = base + b.optional_header.addressof_entrypoint if b.optional_header.addressof_entrypoint else None
    exports: list[dict[str, Any]] = []
    if b.has_exports:
        exports = sorted(({"name": _text(e.name or f"#{e.ordinal}"), "address": hexaddr(base + e.address)}
                          for e in b.get_export().entries), key=lambda e: (e["name"], e["address"]))
    imports = sorted(({"library": _text(imp.name).lower(), "name": _text(e.name or f"#{e.ordinal}")}
                      for imp in b.imports for e in imp.entries), key=lambda e: (e["library"], e["name"]))
    constructors = []
    if b.has_tls:
        constructors = [{"kind": "tls_callback", "index": i, "address": hexaddr(v)}
                        for i, v in enumerate(b.tls.callbacks) if v]
    starts: list[fn.FunctionStart] = []
    for symbol in b.symbols:
        if symbol.is_function and 0 < symbol.section_idx <= len(b.sections):
            section = b.sections[symbol.section_idx - 1]
            starts.append(fn.FunctionStart(base + section.virtual_address + symbol.value, "symbol",
                                          _text(symbol.name)))
    exception_rva, exception_size = pe_directory(b, 3)
    if exception_rva and exception_size:
        offset = b.rva_to_offset(exception_rva)
        starts += fn.pdata_functions(data[offset : offset + exception_size], base)
    starts += [fn.FunctionStart(int(str(e["address"]), 16), "export", str(e["name"])) for e in exports]
    starts += [fn.FunctionStart(int(str(c["address"]), 16), "constructor") for c in constructors]
    if entry is not None:
        starts.append(fn.FunctionStart(entry, "entry"))
    starts += [fn.FunctionStart(t, "call") for t in fn.call_targets(regions, arch)]

    authenticode = read_authenticode(data)
    trailers: list[tuple[str, int]] = []
    if authenticode.has_table and authenticode.table_offset + authenticode.table_size == len(data):
        trailers.append(("certificate-table", authenticode.table_size))
    symbol_table = b.header.pointerto_symbol_table
    if symbol_table:
        strings_at = symbol_table + b.header.numberof_symbols * 18
        if strings_at + 4 <= len(data):
            (strings_size,) = struct.unpack_from("<I", data, strings_at)
            coff_end = strings_at + strings_size
            if coff_end <= len(data) - sum(size for _, size in trailers):
                trailers.insert(0, ("coff-symbol-table", coff_end - symbol_table))
    image_end = max([b.sizeof_headers] + [s.offset + s.sizeof_raw_data for s in b.sections])
    overlay = _overlay_pe(data, image_end, trailers, authenticode)
    sbat_section = b.get_section(".sbat")
    sbat = None
    if sbat_section is not None:
        sbat = bytes(sbat_section.content).split(b"\0", 1)[0].decode("utf-8", "replace")
    predicate: dict[str, Any] = {
        "format": "pe",
        "architecture": arch,
        "bits": 64 if _name(b.optional_header.magic) == "PE32_PLUS" else 32,
        "subsystem": _name(b.optional_header.subsystem).lower(),
        "image_base": hexaddr(base),
        "entry_point": hexaddr(entry) if entry is not None else None,
        "sections": sections,
        "segments": [],
        "exports": exports,
        "imports": imports,
        "libraries": sorted({_text(imp.name).lower() for imp in b.imports}),
        "constructors": constructors,
        "functions": _function_table(starts, regions),
        "layout": {
            "rwx": sorted(f"section {s['name']}" for s in sections if {"write", "exec"} <= set(s["flags"])),
            "executable_stack": None,
            "uncovered_code": [],
        },
        "sbat": sbat,
        "authenticode": {
            "sha256": authenticode.sha256,
            "certificate_table": {"offset": hexaddr(authenticode.table_offset), "size": authenticode.table_size},
            "signers": [s.signer.to_json() for s in authenticode.signatures if s.signer is not None],
            "signatures": len(authenticode.signatures),
            "parse_errors": list(authenticode.parse_errors),
        },
        "overlay": overlay,
    }
    return predicate, regions


def _overlay_pe(data: bytes, image_end: int, trailers: list[tuple[str, int]], authenticode: Any) -> dict[str, Any]:
    # The certificate table and COFF symbols may sit anywhere after the sections; cut them out wherever they are.
    cut: list[tuple[int, int, str]] = []
    if authenticode.has_table:
        cut.append((authenticode.table_offset, authenticode.table_offset + authenticode.table_size,
                    "certificate-table"))
    rest = bytearray()
    known: list[str] = []
    pos = image_end
    for start, end, name in sorted(cut):
        if start >= pos:
            rest += data[pos:start]
            pos = max(pos, end)
            known.append(name)
    rest += data[pos:]
    coff = next((size for name, size in trailers if name == "coff-symbol-table"), 0)
    if coff and len(rest) >= coff:
        rest = rest[coff:]
        known.append("coff-symbol-table")
    blob = bytes(rest)
    if blob and len(blob) < 512 and not blob.strip(b"\x00"):
        known.append("zero-padding")
        blob = b""
    return {"offset": hexaddr(min(image_end, len(data))), "size": len(blob),
            "sha256": sha256(blob) if blob else None, "entropy": entropy(blob), "known_trailers": sorted(known)}


# --- TE (UEFI terse executables) ---------------------------------------------------------------------------------

_TE_HEADER = struct.Struct("<2sHBBHIIQ")
_TE_MACHINES = {0xAA64: "aarch64", 0x8664: "x86_64", 0x014C: "x86", 0x01C2: "arm", 0x01C4: "arm", 0x5064: "riscv"}


def _te(image: Image) -> tuple[dict[str, Any], list[fn.CodeRegion]]:
    """A TE image is a PE with most of its headers stripped; LIEF does not read it, so it is read here."""
    data = image.data
    predicate: dict[str, Any] = {"format": "te", "sections": [], "functions": [], "constructors": [],
                                 "exports": [], "imports": [], "entry_point": None}
    if len(data) < 40:
        return predicate, []
    _, machine, count, subsystem, stripped, entry, _, base = _TE_HEADER.unpack_from(data, 0)
    arch = _TE_MACHINES.get(machine, f"{machine:#06x}")
    sections: list[dict[str, Any]] = []
    regions: list[fn.CodeRegion] = []
    for index in range(min(count, 96)):
        at = 40 + index * 40
        if at + 40 > len(data):
            break
        raw_name, virtual_size, rva, raw_size, raw_pointer = struct.unpack_from("<8sIIII", data, at)
        (chars,) = struct.unpack_from("<I", data, at + 36)
        offset = raw_pointer - stripped + 40
        content = data[offset : offset + min(raw_size, virtual_size or raw_size)] if offset >= 0 else b""
        name = raw_name.rstrip(b"\0").decode("ascii", "replace")
        flags = [label for bit, label in ((_PE_READ, "read"), (_PE_WRITE, "write"), (_PE_EXEC, "exec"),
                                          (_PE_CODE, "code")) if chars & bit]
        sections.append({"name": name, "address": hexaddr(base + rva), "size": virtual_size, "raw_size": raw_size,
                         "offset": hexaddr(max(offset, 0)), "flags": flags, "sha256": sha256(content),
                         "entropy": entropy(content)})
        if chars & (_PE_EXEC | _PE_CODE) and content:
            regions.append(fn.CodeRegion(name, base + rva, content))
    entry_address = base + entry if entry else None
    starts = [fn.FunctionStart(t, "call") for t in fn.call_targets(regions, arch)]
    if entry_address is not None:
        starts.append(fn.FunctionStart(entry_address, "entry"))
    predicate.update({
        "architecture": arch, "subsystem": subsystem, "image_base": hexaddr(base),
        "entry_point": hexaddr(entry_address) if entry_address is not None else None,
        "sections": sections, "functions": _function_table(starts, regions),
        "layout": {"rwx": sorted(f"section {s['name']}" for s in sections if {"write", "exec"} <= set(s["flags"])),
                   "executable_stack": None, "uncovered_code": []},
    })
    return predicate, regions


# --- Mach-O ---------------------------------------------------------------------------------------------------------

def _macho(image: Image) -> tuple[dict[str, Any], list[fn.CodeRegion]]:
    b = image.binary
    data = image.data
    arch = {"X86_64": "x86_64", "ARM64": "aarch64", "X86": "x86", "ARM": "arm"}.get(
        _name(b.header.cpu_type), _name(b.header.cpu_type).lower())
    sections: list[dict[str, Any]] = []
    regions: list[fn.CodeRegion] = []
    digests = _RangeDigests(image)
    for s in b.sections:
        digest = digests.of(s.offset, s.size) if s.offset else (b"", sha256(b""), 0.0)
        content = digest[0] if digest else b""
        executable = s.segment_name == "__TEXT" and s.name in ("__text", "__stubs", "__stub_helper")
        sections.append({"name": f"{s.segment_name},{s.name}", "address": hexaddr(s.virtual_address),
                         "size": s.size, "offset": hexaddr(s.offset), "flags": ["exec"] if executable else [],
                         "sha256": digest[1] if digest else None, "entropy": digest[2] if digest else 0.0})
        if executable and content:
            regions.append(fn.CodeRegion(s.name, s.virtual_address, content))
    starts = [fn.FunctionStart(f.address, "symbol", f.name) for f in b.functions if f.address]
    entry = b.entrypoint or None
    if entry:
        starts.append(fn.FunctionStart(entry, "entry"))
    starts += [fn.FunctionStart(t, "call") for t in fn.call_targets(regions, arch)]
    exports = sorted(({"name": s.name, "address": hexaddr(s.value)} for s in b.exported_symbols),
                     key=lambda e: (e["name"], e["address"]))
    imports = sorted(({"library": "", "name": s.name} for s in b.imported_symbols), key=lambda e: e["name"])
    predicate: dict[str, Any] = {
        "format": "macho", "architecture": arch, "entry_point": hexaddr(entry) if entry else None,
        "sections": sections, "segments": [], "exports": exports, "imports": imports,
        "libraries": sorted(lib.name for lib in b.libraries), "constructors": [],
        "functions": _function_table(starts, regions),
        "layout": {"rwx": [], "executable_stack": None, "uncovered_code": []}, "sbat": None,
        "overlay": {"offset": hexaddr(len(data)), "size": 0, "sha256": None, "entropy": 0.0, "known_trailers": []},
    }
    return predicate, regions


# --- functions --------------------------------------------------------------------------------------------------------

def _function_table(starts: Sequence[fn.FunctionStart], regions: Sequence[fn.CodeRegion]) -> list[dict[str, Any]]:
    table = []
    index = fn.RegionIndex(regions)
    for function in fn.assemble(starts, index):
        body = fn.function_bytes(index, function.address, function.size) or b""
        table.append({"name": function.name, "address": hexaddr(function.address), "size": function.size,
                      "sha256": sha256(body), "sources": list(function.sources)})
    return table
