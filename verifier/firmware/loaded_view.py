"""The loaded view of an executable: the byte ranges a loader maps, with the header, layout, data-object and
control-flow tables that explain them, read from an ELF or PE image (see ``loaded`` for why they are declared)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verifier.firmware.loader import Image

_ELF_NOBITS = 8
_PE_EXEC, _PE_READ, _PE_WRITE, _PE_CODE, _PE_DISCARDABLE = 0x20000000, 0x40000000, 0x80000000, 0x20, 0x02000000
PE_DIRECTORIES = ("export table", "import table", "resource table", "exception table", "certificate table",
                   "base relocation table", "debug directory", "architecture", "global pointer", "TLS directory",
                   "load config", "bound import", "import address table", "delay import table", "CLR header",
                   "reserved")
#: data directories whose content steers control flow (the rest are data)
PE_CONTROL_DIRECTORIES = {0, 1, 3, 5, 9, 10, 12, 13}
#: ELF sections that hold control-flow tables: where a changed byte redirects a call, not data
ELF_CONTROL_SECTIONS = {
    ".got": "GOT", ".got.plt": "GOT/PLT", ".plt": "PLT", ".plt.got": "PLT", ".plt.sec": "PLT", ".iplt": "PLT",
    ".init_array": "init_array", ".fini_array": "fini_array", ".preinit_array": "preinit_array",
    ".ctors": "ctors", ".dtors": "dtors", ".dynamic": "dynamic table (DT_INIT/DT_FINI...)",
    ".rela.dyn": "relocations", ".rel.dyn": "relocations", ".rela.plt": "PLT relocations (IFUNC)",
    ".rel.plt": "PLT relocations (IFUNC)", ".rela.iplt": "IFUNC relocations", ".rel.iplt": "IFUNC relocations",
    ".tbss": "TLS", ".tdata": "TLS initialisers",
}


def _flags_text(read: bool, write: bool, execute: bool) -> str:
    return ("r" if read else "-") + ("w" if write else "-") + ("x" if execute else "-")


@dataclass(frozen=True)
class Range:
    """One loaded range of an image, in the declaring image's coordinates."""

    name: str
    address: int
    offset: int
    size: int
    memory_size: int
    flags: str


@dataclass
class View:
    """How one image is loaded: its ranges, their bytes (masked), and its layout."""

    kind: str
    ranges: list[Range]
    layout: list[dict[str, Any]]
    header: dict[str, Any]
    tables: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    data: bytes
    mask: list[tuple[int, int]] = field(default_factory=list)  # file-offset spans zeroed before hashing
    segments: list[tuple[int, int, int, int]] = field(default_factory=list)  # (address, offset, filesz, memsz)
    by_name: dict[str, tuple[int, int]] = field(default_factory=dict)  # relocatable: name -> (offset, size)
    relocations: list[dict[str, Any]] = field(default_factory=list)  # relocatable: per target section

    def read(self, declared: Range, declared_mask: Sequence[tuple[int, int]]) -> bytearray | memoryview | None:
        """The bytes this image maps where ``declared`` was, masked as the declaring image masked them.

        None when the image does not map them at all. Without a mask to apply and with one segment holding the
        whole range, the file's bytes are returned as a view, not copied.
        """
        if self.kind == "elf-rel":
            where = self.by_name.get(declared.name)
            if where is None:
                return None
            found: bytearray | memoryview | None = bytearray(
                self.data[where[0] : where[0] + min(where[1], declared.size)])
            assert isinstance(found, bytearray)
            found += bytes(declared.size - len(found))
        else:
            found = _virtual_read(self.segments, self.data, declared.address, declared.size)
            if found is None:
                return None
        spans = [(max(start - declared.offset, 0), min(end - declared.offset, declared.size))
                 for start, end in declared_mask]
        spans = [(lo, hi) for lo, hi in spans if lo < hi]
        if not spans:
            return found
        content = bytearray(found)
        for lo, hi in spans:
            content[lo:hi] = bytes(hi - lo)
        return content

    def own(self, r: Range) -> bytearray:
        content = bytearray(self.data[r.offset : r.offset + r.size])
        content += bytes(r.size - len(content))
        for start, end in self.mask:
            lo, hi = max(start - r.offset, 0), min(end - r.offset, r.size)
            if lo < hi:
                content[lo:hi] = bytes(hi - lo)
        return content


def _virtual_read(segments: Sequence[tuple[int, int, int, int]], data: bytes, address: int,
                  size: int) -> bytearray | memoryview | None:
    """Bytes at ``address`` as the loader maps them: segments in order, a later one over an earlier one."""
    end = address + size
    touching = [s for s in segments if max(address, s[0]) < min(end, s[0] + max(s[3], s[2]))]
    if len(touching) == 1:
        seg_address, offset, file_size, _ = touching[0]
        if seg_address <= address and end <= seg_address + file_size:
            start = offset + address - seg_address
            return memoryview(data)[start : start + size]
    out = bytearray(size)
    covered = 0
    for seg_address, offset, file_size, memory_size in touching:
        lo, hi = max(address, seg_address), min(end, seg_address + max(memory_size, file_size))
        if lo >= hi:
            continue
        covered += hi - lo
        out[lo - address : hi - address] = bytes(hi - lo)
        file_hi = min(hi, seg_address + file_size)
        if lo < file_hi:
            start = offset + lo - seg_address
            piece = data[start : start + file_hi - lo]
            out[lo - address : lo - address + len(piece)] = piece
    if size and covered == 0:
        return None
    return out


# --- building a view ----------------------------------------------------------------------------------------------

#: more loadable ranges than any real image has: each declared range is looked up in every segment
MAX_RANGES = 512


def view_of(image: Image, predicate: Mapping[str, Any]) -> View | None:
    """None for other formats, and for an image whose headers the loader already found over budget."""
    if image.attributes.get("section_budget") is not None:
        return None
    try:
        view = _view(image, predicate)
    except (struct.error, ValueError, IndexError, OverflowError, AttributeError):
        # headers LIEF accepted but that do not describe a loadable image (cut short, out of range)
        return None
    if view is not None and len(view.ranges) > MAX_RANGES:
        return None
    return view


def _view(image: Image, predicate: Mapping[str, Any]) -> View | None:
    if image.kind == "elf":
        return _elf_view(image, predicate)
    if image.kind == "pe":
        return _pe_view(image, predicate)
    return None


def _elf_view(image: Image, predicate: Mapping[str, Any]) -> View:
    b = image.binary
    data = image.data
    header = b.header
    bits64 = data[4:5] == b"\x02"
    mask = [(0x28, 0x30), (0x3A, 0x40)] if bits64 else [(0x20, 0x24), (0x2E, 0x34)]
    relocatable = predicate.get("file_type") == "rel"
    ranges: list[Range] = []
    layout: list[dict[str, Any]] = []
    segments: list[tuple[int, int, int, int]] = []
    by_name: dict[str, tuple[int, int]] = {}
    for s in b.segments:
        flags = int(s.flags)
        text = _flags_text(bool(flags & 4), bool(flags & 2), bool(flags & 1))
        kind = getattr(s.type, "name", None) or f"{int(s.type):#x}"
        layout.append({"type": kind.lower(), "address": f"{int(s.virtual_address):#x}",
                       "memory_size": int(s.virtual_size), "file_size": int(s.physical_size), "flags": text})
        if kind == "LOAD":
            file_size = max(0, min(int(s.physical_size), len(data) - int(s.file_offset)))
            segments.append((int(s.virtual_address), int(s.file_offset), file_size, int(s.virtual_size)))
            ranges.append(Range(f"LOAD@{int(s.virtual_address):#x}", int(s.virtual_address), int(s.file_offset),
                                file_size, int(s.virtual_size), text))
    if relocatable:
        seen: dict[str, int] = {}
        for s in b.sections:
            if not int(s.flags) & 2 or int(s.type) == _ELF_NOBITS or not int(s.size):
                continue
            name = _unique(_text(s.name), seen)
            size = max(0, min(int(s.size), len(data) - int(s.offset)))
            flags = int(s.flags)
            ranges.append(Range(name, int(s.offset), int(s.offset), size, int(s.size),
                                _flags_text(True, bool(flags & 1), bool(flags & 4))))
            by_name[name] = (int(s.offset), size)
            layout.append({"type": "section", "name": name, "memory_size": int(s.size),
                           "flags": _flags_text(True, bool(flags & 1), bool(flags & 4))})
    head = {"entry_point": f"{int(header.entrypoint):#x}", "type": _enum(header.file_type),
            "machine": _enum(header.machine_type), "program_headers": int(header.numberof_segments),
            "program_header_offset": int(header.program_header_offset), "flags": int(header.processor_flag)}
    tables = []
    for s in b.sections:
        kind = ELF_CONTROL_SECTIONS.get(_text(s.name))
        if kind and int(s.size) and int(s.flags) & 2:
            address = int(s.offset) if relocatable else int(s.virtual_address)
            tables.append({"name": _text(s.name), "kind": kind, "address": f"{address:#x}", "size": int(s.size)})
    if not relocatable and segments:
        first = next((r for r in ranges if r.offset == 0), None)
        if first is not None:
            tables.append({"name": "ELF header", "kind": "ELF header (entry point)", "address": f"{first.address:#x}",
                           "size": int(header.header_size)})
            tables.append({"name": "program headers", "kind": "program headers",
                           "address": f"{first.address + int(header.program_header_offset):#x}",
                           "size": int(header.numberof_segments) * int(header.program_header_size)})
        for s in b.segments:
            if (getattr(s.type, "name", "") or "") == "DYNAMIC" and not any(t["name"] == ".dynamic" for t in tables):
                tables.append({"name": ".dynamic", "kind": ELF_CONTROL_SECTIONS[".dynamic"],
                               "address": f"{int(s.virtual_address):#x}", "size": int(s.virtual_size)})
    objects = []
    for symbol in b.symtab_symbols:
        if _enum(symbol.type) in ("object", "tls") and symbol.name and 0 < symbol.shndx < 0xFF00:
            address = int(symbol.value)
            if relocatable and symbol.shndx < len(b.sections):
                address += int(b.sections[symbol.shndx].offset)
            objects.append({"name": _text(symbol.name), "address": f"{address:#x}", "size": int(symbol.size)})
    relocations = _relocations(b, data, bits64) if relocatable else []
    return View("elf-rel" if relocatable else "elf", ranges, layout, head, _sorted(tables), _objects(objects), data,
                mask, segments, by_name, relocations)


def _relocations(b: Any, data: bytes, bits64: bool) -> list[dict[str, Any]]:
    """A relocatable object's relocations, one digest per target section, in a form strip does not change.

    The module loader applies them to the loaded sections, so they are loaded content too: retargeting the
    relocation behind ``init_module`` changes what runs without touching a loaded byte. Each entry is written as
    offset, type, addend and the symbol it resolves to (name, or section for a section symbol; its section and
    value when defined), so symbol-table reordering by strip leaves the digest as it was.
    """
    endian = ">" if data[5:6] == b"\x02" else "<"
    sections = list(b.sections)
    names = [_text(s.name) for s in sections]
    out: list[dict[str, Any]] = []
    symbol_cache: dict[int, list[str]] = {}

    def symbols(index: int) -> list[str]:
        if index in symbol_cache:
            return symbol_cache[index]
        table = sections[index]
        strings = sections[int(table.link)] if int(table.link) < len(sections) else None
        raw = data[int(table.offset) : int(table.offset) + int(table.size)]
        entry = 24 if bits64 else 16
        described = []
        for at in range(0, len(raw) - entry + 1, entry):
            if bits64:
                st_name, st_info, _, st_shndx, st_value = struct.unpack_from(endian + "IBBHQ", raw, at)
            else:
                st_name, st_value, _, st_info, _, st_shndx = struct.unpack_from(endian + "IIIBBH", raw, at)
            name = ""
            if strings is not None:
                start = int(strings.offset) + st_name
                end = data.find(b"\0", start, start + 4096)
                name = data[start:end].decode("utf-8", "replace") if end > start else ""
            home = names[st_shndx] if 0 < st_shndx < len(names) else f"shndx {st_shndx}"
            if st_info & 0xF == 3:  # STT_SECTION: known by its section
                name = home
            defined = f"{home}+{st_value:#x}" if st_shndx else "undefined"
            described.append(f"{name}@{defined}")
        symbol_cache[index] = described
        return described

    for s in sections:
        kind = int(s.type)
        if kind not in (4, 9) or not int(s.information) < len(sections):
            continue
        target = sections[int(s.information)]
        if not int(target.flags) & 2 or int(s.link) >= len(sections):
            continue
        table = symbols(int(s.link))
        raw = data[int(s.offset) : int(s.offset) + int(s.size)]
        entry = (24 if kind == 4 else 16) if bits64 else (12 if kind == 4 else 8)
        lines = []
        for at in range(0, len(raw) - entry + 1, entry):
            if bits64:
                offset, info = struct.unpack_from(endian + "QQ", raw, at)
                addend = struct.unpack_from(endian + "q", raw, at + 16)[0] if kind == 4 else 0
                symbol, rtype = info >> 32, info & 0xFFFFFFFF
            else:
                offset, info = struct.unpack_from(endian + "II", raw, at)
                addend = struct.unpack_from(endian + "i", raw, at + 8)[0] if kind == 4 else 0
                symbol, rtype = info >> 8, info & 0xFF
            resolved = table[symbol] if symbol < len(table) else f"symbol {symbol}"
            lines.append(f"{offset:#x} {rtype} {resolved} {addend}")
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        out.append({"target": _text(target.name), "section": _text(s.name), "count": len(lines), "sha256": digest})
    return sorted(out, key=lambda r: (r["target"], r["section"]))


def _pe_view(image: Image, predicate: Mapping[str, Any]) -> View:
    b = image.binary
    data = image.data
    base = int(b.optional_header.imagebase)
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    coff = lfanew + 4
    (optional_size,) = struct.unpack_from("<H", data, coff + 16)
    opt = coff + 20
    section_table = opt + optional_size
    headers_size = int(b.optional_header.sizeof_headers)
    # TimeDateStamp (coff + 4) too: binutils' strip writes the time of stripping there, so an honest stripped copy
    # made a second after the link differs in it; no loader acts on it (only import binding compares it).
    mask = [(coff + 2, coff + 16), (opt + 56, opt + 68),
            (section_table, max(section_table, headers_size))]
    characteristics_at = coff + 18
    names = coff_long_names(b, data)
    ranges = [Range("headers", base, 0, min(headers_size, len(data)), headers_size, "r--")]
    segments = [(base, 0, min(headers_size, len(data)), headers_size)]
    layout: list[dict[str, Any]] = []
    # DWARF sections are skipped only where mingw puts them: after every other section, overlapping none (a UEFI
    # loader copies sections in order, so an overlapping "debug" section would overwrite code)
    def span(s: Any) -> tuple[int, int]:
        return int(s.virtual_address), int(s.virtual_address) + max(int(s.virtual_size), int(s.sizeof_raw_data))

    counted_end = max((span(s)[1] for s in b.sections
                       if not is_pe_debug_section(names.get(_text(s.name), _text(s.name)), int(s.characteristics))),
                      default=0)
    for s in b.sections:
        chars = int(s.characteristics)
        name = names.get(_text(s.name), _text(s.name))
        if is_pe_debug_section(name, chars) and span(s)[0] >= counted_end:
            continue
        raw = int(s.sizeof_raw_data)
        virtual = int(s.virtual_size) or raw
        size = max(0, min(raw, virtual, len(data) - int(s.offset)))
        flags = _flags_text(bool(chars & _PE_READ), bool(chars & _PE_WRITE), bool(chars & (_PE_EXEC | _PE_CODE)))
        address = base + int(s.virtual_address)
        ranges.append(Range(name, address, int(s.offset), size, virtual, flags))
        segments.append((address, int(s.offset), size, virtual))
        layout.append({"type": "section", "name": name, "address": f"{address:#x}", "memory_size": virtual,
                       "flags": flags, "characteristics": f"{chars:#x}"})
    oh = b.optional_header
    directories = [[int(d.rva), int(d.size)] for d in b.data_directories]
    head = {"entry_point": f"{base + int(oh.addressof_entrypoint):#x}" if oh.addressof_entrypoint else None,
            "image_base": f"{base:#x}", "subsystem": _enum(oh.subsystem),
            "dll_characteristics": int(oh.dll_characteristics),
            "section_alignment": int(oh.section_alignment), "directories": directories,
            "characteristics": int(struct.unpack_from("<H", data, characteristics_at)[0]) & ~0x020C,
            "size_of_image": int(oh.sizeof_image)}
    mask.append((characteristics_at, characteristics_at + 2))
    tables = [{"name": "PE headers", "kind": "PE headers (entry point, data directories)", "address": f"{base:#x}",
               "size": section_table}]
    for index, (rva, size) in enumerate(directories):
        if rva and size and index in PE_CONTROL_DIRECTORIES:
            tables.append({"name": PE_DIRECTORIES[index], "kind": PE_DIRECTORIES[index],
                           "address": f"{base + rva:#x}", "size": size})
    if b.has_tls:
        callbacks = int(b.tls.addressof_callbacks)
        if callbacks:
            count = len([c for c in b.tls.callbacks]) + 1
            tables.append({"name": "TLS callbacks", "kind": "TLS callbacks", "address": f"{callbacks:#x}",
                           "size": count * (8 if predicate.get("bits") == 64 else 4)})
    objects = []
    for symbol in b.symbols:
        index = int(symbol.section_idx)
        if symbol.is_function or not 0 < index <= len(b.sections) or not symbol.name:
            continue
        section = b.sections[index - 1]
        if int(section.characteristics) & (_PE_EXEC | _PE_CODE):
            continue
        address = base + int(section.virtual_address) + int(symbol.value)
        objects.append({"name": _text(symbol.name), "address": f"{address:#x}", "size": 0})
    return View("pe", ranges, layout, head, _sorted(tables), _objects(objects), data, mask, segments)


def is_pe_debug_section(name: str, characteristics: int) -> bool:
    """A discardable, non-executable, read-only ``.debug*`` section: DWARF left in by mingw, removed by strip."""
    return (name.startswith(".debug") and bool(characteristics & _PE_DISCARDABLE)
            and not characteristics & (_PE_EXEC | _PE_CODE | _PE_WRITE))


def coff_long_names(b: Any, data: bytes) -> dict[str, str]:
    """``/4`` -> ``.debug_aranges``: section names longer than 8 bytes live in the COFF string table."""
    pointer = int(b.header.pointerto_symbol_table)
    if not pointer:
        return {}
    strings = pointer + int(b.header.numberof_symbols) * 18
    out: dict[str, str] = {}
    for s in b.sections:
        name = _text(s.name)
        if name.startswith("/") and name[1:].isdigit():
            at = strings + int(name[1:])
            end = data.find(b"\0", at, at + 256)
            if 0 <= at < len(data) and end > at:
                out[name] = data[at:end].decode("utf-8", "replace")
    return out


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _enum(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name).lower() if name else f"{int(value):#x}"


def _unique(name: str, seen: dict[str, int]) -> str:
    count = seen.get(name, 0)
    seen[name] = count + 1
    return name if count == 0 else f"{name}#{count}"


def _sorted(tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(tables, key=lambda t: (int(t["address"], 16), t["name"]))


def _objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {(o["address"], o["name"]): o for o in objects}
    return sorted(unique.values(), key=lambda o: (int(o["address"], 16), o["name"]))
