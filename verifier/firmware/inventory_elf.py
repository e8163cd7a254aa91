"""The inventory of an ELF image: header, segments, sections, symbols, constructors and function starts, the
kernel-module signature, and the overlay after the image."""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator, Sequence
from typing import Any

from verifier.firmware import functions as fn
from verifier.firmware.image_facts import RangeDigests, enum_name, function_table, hexaddr, overlay, sha256, text
from verifier.firmware.loader import Image

# Heavy, so imported inside the functions that use it: lief (~340 ms),
# already loaded by the loader when an ELF is inventoried.

_ELF_NOBITS, _ELF_REL = 8, "REL"
_MODULE_SIGNATURE_MAGIC = b"~Module signature appended~\n"
_ELF_ARCH = {"X86_64": "x86_64", "I386": "x86", "AARCH64": "aarch64", "ARM": "arm", "RISCV": "riscv",
              "PPC": "ppc", "PPC64": "ppc", "MIPS": "mips", "MIPS_RS3_LE": "mips"}


def elf_predicate(image: Image) -> tuple[dict[str, Any], list[fn.CodeRegion]]:
    import lief

    b = image.binary
    data = image.data
    header = b.header
    arch = _ELF_ARCH.get(enum_name(header.machine_type), enum_name(header.machine_type).lower())
    pointer = 8 if header.identity_class == lief.ELF.Header.CLASS.ELF64 else 4
    little = header.identity_data == lief.ELF.Header.ELF_DATA.LSB
    relocatable = enum_name(header.file_type) == _ELF_REL
    # In a relocatable object every section sits at address 0; use file offsets as addresses instead.
    section_address = {i: (s.offset if relocatable else s.virtual_address) for i, s in enumerate(b.sections)}

    sections: list[dict[str, Any]] = []
    regions: list[fn.CodeRegion] = []
    covered: list[tuple[int, int]] = []
    digests = RangeDigests(image)
    for index, s in enumerate(b.sections):
        if index == 0 and not s.name and not s.size:
            continue
        flags_value = int(s.flags)
        nobits = int(s.type) == _ELF_NOBITS
        digest = None if nobits else digests.of(s.offset, s.size)
        content = digest[0] if digest else b""
        flags = [name for bit, name in ((2, "alloc"), (1, "write"), (4, "exec")) if flags_value & bit]
        sections.append({
            "name": text(s.name), "address": hexaddr(section_address[index]), "size": s.size,
            "offset": hexaddr(s.offset), "type": enum_name(s.type).lower(), "flags": flags,
            "sha256": digest[1] if digest else None, "entropy": digest[2] if digest else 0.0,
        })
        if not nobits and s.size:
            covered.append((s.offset, s.offset + s.size))
            if flags_value & 4 and (flags_value & 2 or relocatable) and digest:
                regions.append(fn.CodeRegion(text(s.name), section_address[index], content))

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
        seg_type = enum_name(s.type)
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
            if enum_name(s.type) == "LOAD" and int(s.flags) & 1:
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
        if enum_name(symbol.type) != "FUNC" or symbol.shndx == 0 or symbol.shndx >= 0xFF00:
            continue
        address = symbol.value
        if relocatable:
            address += section_address.get(symbol.shndx, 0)
        if arch == "arm":
            address &= ~1
        starts.append(fn.FunctionStart(address, "symbol", text(symbol.name), symbol.size))
    exports = sorted({(text(s.name), s.value) for s in b.dynamic_symbols
                      if s.exported and s.name and s.shndx != 0}, key=lambda e: (e[0], e[1]))
    imports = sorted({text(s.name) for s in b.dynamic_symbols if s.shndx == 0 and s.name and s.imported}
                     | ({text(s.name) for s in b.symtab_symbols if s.shndx == 0 and s.name} if relocatable else set()))
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
        "file_type": enum_name(header.file_type).lower(),
        "entry_point": hexaddr(entry) if entry is not None else None,
        "entry_point_virtual": hexaddr(entry_virtual) if entry_virtual is not None else None,
        "sections": sections,
        "segments": segments,
        "exports": [{"name": n, "address": hexaddr(a)} for n, a in exports],
        "imports": [{"library": "", "name": n} for n in imports],
        "libraries": sorted(text(lib) for lib in b.libraries),
        "constructors": constructors,
        "functions": function_table(starts, regions),
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
    predicate["overlay"] = overlay(data, overlay_start, _trailers_elf(data))
    return predicate, regions


def _physical_to_virtual(b: Any, entry: int, regions: Sequence[fn.CodeRegion]) -> int | None:
    """A kernel's e_entry is a physical load address; map it through the executable LOAD segment holding it."""
    if any(r.contains(entry) for r in regions):
        return None
    for segment in b.segments:
        if enum_name(segment.type) == "LOAD" and int(segment.flags) & 1 \
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
    tags = {enum_name(e.tag): int(e.value) for e in b.dynamic_entries}

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
    resolvers = {int(s.value) for s in b.symtab_symbols if enum_name(s.type) == "GNU_IFUNC" and s.value}
    irelative = _IRELATIVE.get(enum_name(b.header.machine_type))
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
    if not data.endswith(_MODULE_SIGNATURE_MAGIC) or len(data) < 40:
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
