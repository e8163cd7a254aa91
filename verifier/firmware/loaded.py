"""Every loaded byte: what the manifest declares about the bytes a loader maps, and how an image is judged by them.

Function discovery only sees code that something reaches; code planted in alignment padding and reached through a
data pointer, a GOT slot or a ``.fini_array`` entry, or a data-only change (a swapped handler pointer, a rewritten
boot command), leaves every discovered function intact. So the manifest also declares the *loaded* bytes:

- ELF executables and shared objects: every ``PT_LOAD`` segment's file bytes, judged by the program headers, which
  are what the loader uses (section headers only explain);
- ELF relocatable objects (kernel modules): every ``SHF_ALLOC`` section, by name;
- PE: the headers and every section inside ``SizeOfImage``, except the discardable ``.debug*`` sections mingw
  leaves in unstripped builds.

Each range is cut into *pieces* at the declared structure: section, function, data-object and control-flow-table
boundaries and every 4 KiB. The manifest stores a short digest per piece and a sha256 over the pieces' full
digests per range; a scan hashes each loaded byte once, compares the range digests and, where one differs, names
each changed piece: a declared function, the padding between functions, data with its nearest declared symbol, or a
control-flow table. Piece boundaries are computed from the manifest itself, never from the scanned image.

Fields that stripping rewrites and no loader reads are masked before hashing: ELF ``e_shoff``, ``e_shentsize``,
``e_shnum``, ``e_shstrndx``; PE ``NumberOfSections``, the COFF symbol-table pointer and count, the "stripped"
characteristics bits, ``SizeOfHeaders``, ``SizeOfImage``, ``CheckSum`` and the section table (compared field by field
instead, without file offsets).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verifier.firmware.loader import Image
from verifier.model import failed, passed, skipped

CHUNK = 4096
#: hex digits kept per piece: they only locate a change; the range's full sha256 decides whether there is one
PIECE_HEX = 16
_ELF_NOBITS = 8
_PE_EXEC, _PE_READ, _PE_WRITE, _PE_CODE, _PE_DISCARDABLE = 0x20000000, 0x40000000, 0x80000000, 0x20, 0x02000000
_PE_DIRECTORIES = ("export table", "import table", "resource table", "exception table", "certificate table",
                   "base relocation table", "debug directory", "architecture", "global pointer", "TLS directory",
                   "load config", "bound import", "import address table", "delay import table", "CLR header",
                   "reserved")
#: data directories whose content steers control flow (the rest are data)
_PE_CONTROL_DIRECTORIES = {0, 1, 3, 5, 9, 10, 12, 13}
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
    mask = [(coff + 2, coff + 4), (coff + 8, coff + 16), (opt + 56, opt + 68),
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
        if rva and size and index in _PE_CONTROL_DIRECTORIES:
            tables.append({"name": _PE_DIRECTORIES[index], "kind": _PE_DIRECTORIES[index],
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


# --- pieces and digests -----------------------------------------------------------------------------------------

class Cuts:
    """Piece boundaries: every declared section, function, object and table edge, and every CHUNK multiple."""

    def __init__(self, declaration: Mapping[str, Any], predicate: Mapping[str, Any]) -> None:
        self.chunk = max(64, int(declaration.get("chunk", CHUNK)))
        spans = [*predicate.get("functions", []), *declaration.get("objects", []), *declaration.get("tables", []),
                 *(s for s in predicate.get("sections", []) if s.get("address") is not None)]
        starts = [int(item["address"], 16) for item in spans]
        ends = [start + int(item.get("size") or 0) for start, item in zip(starts, spans, strict=True)]
        self.points = sorted(set(starts) | set(ends))

    def of(self, r: Range) -> list[int]:
        """Piece start offsets within ``r`` (relative), always starting with 0."""
        end = r.address + r.size
        lo = bisect.bisect_right(self.points, r.address)
        hi = bisect.bisect_left(self.points, end)
        marks = {0} | {p - r.address for p in self.points[lo:hi]}
        first_chunk = (r.address // self.chunk + 1) * self.chunk
        marks.update(range(first_chunk - r.address, r.size, self.chunk))
        return sorted(m for m in marks if 0 <= m < r.size) or [0]


def piece_digests(content: bytes | bytearray | memoryview, starts: Sequence[int]) -> tuple[str, list[bytes]]:
    """(sha256 over the pieces' digests, each piece's full digest) for ``content`` cut at ``starts``."""
    view = memoryview(content)
    sha = hashlib.sha256
    full = [sha(view[a:b]).digest() for a, b in itertools.pairwise([*starts, len(content)])]
    return sha(b"".join(full)).hexdigest(), full


def declare(image: Image, predicate: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manifest's ``loaded`` object for ``image``, whose predicate (functions, sections) is already built."""
    view = view_of(image, predicate)
    if view is None:
        return None
    declaration: dict[str, Any] = {"objects": view.objects, "tables": view.tables}
    cuts = Cuts(declaration, predicate)
    ranges = []
    for r in view.ranges:
        root, pieces = piece_digests(view.own(r), cuts.of(r))
        ranges.append({"name": r.name, "address": f"{r.address:#x}", "offset": f"{r.offset:#x}", "size": r.size,
                       "memory_size": r.memory_size, "flags": r.flags, "sha256": root,
                       "pieces": "".join(d.hex()[:PIECE_HEX] for d in pieces)})
    mask = [[start, end] for start, end in view.mask]
    if view.kind == "elf-rel":
        declaration["relocations"] = view.relocations
    return {"chunk": CHUNK, "piece_digest_hex": PIECE_HEX, "kind": view.kind, "ranges": ranges,
            "layout": view.layout, "header": view.header, "mask": mask, **declaration}


def declared_ranges(declaration: Mapping[str, Any]) -> list[Range]:
    return [Range(str(r["name"]), int(r["address"], 16), int(r["offset"], 16), int(r["size"]),
                  int(r["memory_size"]), str(r["flags"])) for r in declaration.get("ranges", [])]


# --- judging an image by the declared bytes ----------------------------------------------------------------------

MAX_LISTED = 50
_HEADER_TABLES = {"ELF header", "program headers", "PE headers"}
BYTE_EXACT, FUNCTION_LEVEL = "byte-exact", "function-level"


class _Listed:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, item: dict[str, Any]) -> None:
        self.count += 1
        if len(self.items) < MAX_LISTED:
            self.items.append(item)


class _Spans:
    """Named address spans, for 'which declared thing holds this address' in O(log n)."""

    def __init__(self, items: Iterable[Mapping[str, Any]]) -> None:
        pairs = sorted((int(i["address"], 16), int(i.get("size") or 0), n, i) for n, i in enumerate(items)
                       if i.get("address") is not None)
        self.starts = [p[0] for p in pairs]
        self.items = pairs

    def holding(self, address: int) -> Mapping[str, Any] | None:
        i = bisect.bisect_right(self.starts, address) - 1
        # spans may nest (a table inside a section, a symbol inside a symbol): look back a little
        for j in range(i, max(i - 64, -1), -1):
            start, size, _, item = self.items[j]
            if start <= address < start + size:
                return item
        return None

    def before(self, address: int) -> Mapping[str, Any] | None:
        i = bisect.bisect_right(self.starts, address) - 1
        return self.items[i][3] if i >= 0 else None

    def after(self, address: int) -> Mapping[str, Any] | None:
        i = bisect.bisect_right(self.starts, address)
        return self.items[i][3] if i < len(self.items) else None


def comparison_mode(reference: Mapping[str, Any]) -> str:
    """Byte-exact whenever the reference declares its loaded bytes: the image's own layout never chooses."""
    return BYTE_EXACT if isinstance(reference.get("loaded"), Mapping) else FUNCTION_LEVEL


def compare_loaded(ref: Mapping[str, Any], image: Image, predicate: Mapping[str, Any], *, label: str,
                   subject: str) -> list[Any]:
    mode = comparison_mode(ref)
    if mode == FUNCTION_LEVEL or image.kind not in ("elf", "pe"):
        why = (f"the {label} declares functions, not loaded bytes" if mode == FUNCTION_LEVEL
               else f"a {image.kind} image is compared by its functions")
        return [passed("firmware.comparison-mode", f"function-level: {why}; bytes outside declared functions "
                       "(data, padding) are not compared", subject, mode=FUNCTION_LEVEL, reference=label),
                skipped("firmware.loaded-bytes", f"function-level comparison: {why}", subject, required=False)]
    declaration: Mapping[str, Any] = ref["loaded"]
    view = view_of(image, predicate)
    if view is None:
        return [skipped("firmware.loaded-bytes", f"the image's headers describe more than {MAX_RANGES} ranges or "
                        "more bytes than the limits allow; its loaded bytes were not compared", subject)]
    out = [passed("firmware.comparison-mode", f"byte-exact: every loaded byte is compared with the {label}",
                  subject, mode=BYTE_EXACT, reference=label)]
    flags, layout = _compare_layout(declaration, view)
    control, header_layout = _compare_header(declaration, view)
    if view.kind == "elf-rel":
        _compare_relocations(declaration, view, control)
    layout_changed = bool(flags.count or layout.count or header_layout.count)
    cuts = Cuts(declaration, ref)
    spans: dict[str, _Spans] = {}

    def lookup(kind: str) -> _Spans:
        # built on the first changed piece only: a clean image never needs them
        if kind not in spans:
            spans["functions"] = _Spans(ref.get("functions", []))
            spans["tables"] = _Spans(declaration.get("tables", []))
            spans["sections"] = _Spans([s for s in ref.get("sections", []) if "alloc" in s.get("flags", [])
                                        or ref.get("format") == "pe"])
            spans["symbols"] = _Spans([*declaration.get("objects", []), *ref.get("functions", [])])
        return spans[kind]

    changed_functions, undeclared, data, ranges = _Listed(), _Listed(), _Listed(), _Listed()
    mask = [(int(a), int(b)) for a, b in declaration.get("mask", [])]
    compared = 0
    hex_len = int(declaration.get("piece_digest_hex", PIECE_HEX))
    for declared, entry in zip(declared_ranges(declaration), declaration.get("ranges", []), strict=True):
        # a range longer than the whole image cannot be in it (and is not allocated to find that out)
        content = view.read(declared, mask) if 0 <= declared.size <= len(view.data) else None
        if content is None:
            layout.add({"where": f"range {declared.name}", "address": f"{declared.address:#x}", "change": "not loaded"})
            ranges.add({"range": declared.name, "address": f"{declared.address:#x}", "size": declared.size})
            continue
        compared += declared.size
        starts = cuts.of(declared)
        root, pieces = piece_digests(content, starts)
        if root == entry["sha256"]:
            continue
        ranges.add({"range": declared.name, "address": f"{declared.address:#x}", "size": declared.size})
        stored = str(entry.get("pieces", ""))
        bounds = [*starts, declared.size]
        for index, digest in enumerate(pieces):
            if stored[index * hex_len : (index + 1) * hex_len] == digest.hex()[:hex_len]:
                continue
            address = declared.address + bounds[index]
            size = bounds[index + 1] - bounds[index]
            item: dict[str, Any] = {"address": f"{address:#x}", "size": size, "range": declared.name}
            functions, symbols = lookup("functions"), lookup("symbols")
            table = lookup("tables").holding(address)
            function = functions.holding(address)
            section = lookup("sections").holding(address)
            if section is not None:
                item["section"] = section["name"]
            if table is not None:
                if table["name"] in _HEADER_TABLES and (layout_changed or control.count):
                    continue  # the header's fields were compared one by one above and name the change better
                control.add({**item, "table": table["name"], "kind": table["kind"]})
            elif function is not None:
                changed_functions.add({**item, "name": function["name"], "function": function["address"]})
            elif _executable(section, declared):
                before, after = functions.before(address), functions.after(address)
                item["between"] = [before["name"] if before else None, after["name"] if after else None]
                item["bytes"] = bytes(content[bounds[index] : bounds[index] + min(size, 32)]).hex()
                undeclared.add(item)
            else:
                near = symbols.before(address)
                floor = int(section["address"], 16) if section is not None else declared.address
                if near is not None and int(near["address"], 16) >= floor:
                    offset = address - int(near["address"], 16)
                    item["symbol"] = f"{near['name']}+{offset:#x}" if offset else str(near["name"])
                elif section is not None:  # no declared symbol in this section before it (a stripped vendor file)
                    item["symbol"] = f"{section['name']}+{address - floor:#x}"
                data.add(item)
    out += _findings(label, subject, flags=flags, layout=layout, header_layout=header_layout, control=control,
                     changed_functions=changed_functions, undeclared=undeclared, data=data)
    if ranges.count:
        names = ", ".join(str(r["range"]) for r in ranges.items[:5])
        out.append(failed("firmware.loaded-bytes", f"{ranges.count} loaded range(s) differ from the {label}: {names}",
                          subject, ranges=ranges.items, count=ranges.count, reference=label))
    elif not (flags.count or layout.count or header_layout.count or control.count):
        out.append(passed("firmware.loaded-bytes", f"all {len(declaration.get('ranges', []))} loaded ranges "
                          f"({compared} bytes) are identical to the {label}", subject, bytes=compared))
    return out


def _executable(section: Mapping[str, Any] | None, declared: Range) -> bool:
    if section is not None:
        return "exec" in section.get("flags", []) or "code" in section.get("flags", [])
    return "x" in declared.flags


def _compare_layout(declaration: Mapping[str, Any], view: View) -> tuple[_Listed, _Listed]:
    flags, layout = _Listed(), _Listed()

    def keyed(entries: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
        # a repeated key (a second LOAD at the same address, a second ".text") gets an ordinal: it must not vanish
        out: dict[tuple[str, str], Mapping[str, Any]] = {}
        for entry in entries:
            base = (str(entry.get("type")), str(entry.get("name") or entry.get("address")))
            key, ordinal = base, 1
            while key in out:
                key, ordinal = (base[0], f"{base[1]}#{ordinal}"), ordinal + 1
            out[key] = entry
        return out

    declared = keyed(declaration.get("layout", []))
    present = keyed(view.layout)
    for k in sorted(set(declared) | set(present)):
        was, now = declared.get(k), present.get(k)
        where = f"{k[0]} {k[1]}"
        if was is None or now is None:
            layout.add({"where": where, "change": "added" if was is None else "removed"})
            continue
        if was.get("flags") != now.get("flags") or was.get("characteristics") != now.get("characteristics"):
            flags.add({"where": where, "declared": was.get("flags"), "actual": now.get("flags"),
                       **({"characteristics": now.get("characteristics")} if now.get("characteristics") else {})})
        for size in ("memory_size", "file_size"):
            if was.get(size) != now.get(size):
                layout.add({"where": where, "change": size, "declared": was.get(size), "actual": now.get(size)})
    return flags, layout


def _compare_header(declaration: Mapping[str, Any], view: View) -> tuple[_Listed, _Listed]:
    control, layout = _Listed(), _Listed()
    declared = declaration.get("header", {})
    for name in sorted(set(declared) | set(view.header)):
        was, now = declared.get(name), view.header.get(name)
        if was == now:
            continue
        if name == "size_of_image" and isinstance(was, int) and isinstance(now, int) and now < was \
                and now >= _end_of_sections(view):
            continue  # strip removed trailing .debug* sections; what is left still fits
        if name == "entry_point":
            control.add({"table": "entry point", "kind": "entry point", "declared": was, "actual": now})
        elif name == "directories" and isinstance(was, list) and isinstance(now, list):
            for index in range(max(len(was), len(now))):
                a = was[index] if index < len(was) else None
                b = now[index] if index < len(now) else None
                if a != b and index != 4:  # the certificate table is outside the image; Authenticode judges it
                    label = _PE_DIRECTORIES[index] if index < len(_PE_DIRECTORIES) else f"directory {index}"
                    target = control if index in _PE_CONTROL_DIRECTORIES else layout
                    target.add({"table": f"data directory: {label}", "where": f"data directory: {label}",
                                "change": "value", "kind": label, "declared": a, "actual": b})
        else:
            layout.add({"where": f"header {name}", "change": "value", "declared": was, "actual": now})
    return control, layout


def _compare_relocations(declaration: Mapping[str, Any], view: View, control: _Listed) -> None:
    declared = {(str(r["target"]), str(r["section"])): r for r in declaration.get("relocations", [])}
    present = {(str(r["target"]), str(r["section"])): r for r in view.relocations}
    for key in sorted(set(declared) | set(present)):
        was, now = declared.get(key), present.get(key)
        if was is None or now is None or was.get("sha256") != now.get("sha256"):
            control.add({"table": f"relocations of {key[0]} ({key[1]})", "kind": "relocations",
                         "declared": None if was is None else was.get("count"),
                         "actual": None if now is None else now.get("count"),
                         "change": "added" if was is None else "removed" if now is None else "changed"})


def _end_of_sections(view: View) -> int:
    alignment = int(view.header.get("section_alignment") or 1) or 1
    base = int(str(view.header.get("image_base", "0x0")), 16)
    end = max((r.address + r.memory_size - base for r in view.ranges), default=0)
    return (end + alignment - 1) // alignment * alignment


def _findings(label: str, subject: str, *, flags: _Listed, layout: _Listed, header_layout: _Listed,
              control: _Listed, changed_functions: _Listed, undeclared: _Listed, data: _Listed) -> list[Any]:
    out = []
    if flags.count:
        text = ", ".join(f"{i['where']} {i['declared']} -> {i['actual']}" for i in flags.items[:4])
        out.append(failed("firmware.segment-flags", f"{flags.count} segment/section permission change(s) from the "
                          f"{label}: {text}", subject, changes=flags.items, count=flags.count, reference=label))
    else:
        out.append(passed("firmware.segment-flags", f"segment and section permissions as in the {label}", subject))
    moved = _Listed()
    for item in [*layout.items, *header_layout.items]:
        moved.add(item)
    moved.count = layout.count + header_layout.count
    if moved.count:
        text = ", ".join(f"{i['where']} ({i['change']})" for i in moved.items[:4])
        out.append(failed("firmware.loaded-layout", f"{moved.count} change(s) to what is loaded where: {text}",
                          subject, changes=moved.items, count=moved.count, reference=label))
    if control.count:
        text = ", ".join(f"{i['table']}" + (f" at {i['address']}" if "address" in i else "")
                         for i in control.items[:4])
        out.append(failed("firmware.changed-control-flow", f"{control.count} control-flow table change(s): {text}",
                          subject, changes=control.items, count=control.count, reference=label))
    if changed_functions.count:
        text = ", ".join(str(i["name"]) for i in changed_functions.items[:5])
        out.append(failed("firmware.changed-function", f"{changed_functions.count} changed byte range(s) inside "
                          f"declared functions: {text}", subject, functions=changed_functions.items,
                          count=changed_functions.count, reference=label))
    if undeclared.count:
        text = ", ".join(f"{i['address']} ({i['size']} bytes, between {i['between'][0]} and {i['between'][1]})"
                         for i in undeclared.items[:3])
        out.append(failed("firmware.undeclared-code", f"{undeclared.count} changed executable range(s) outside "
                          f"every declared function: {text}", subject, regions=undeclared.items,
                          count=undeclared.count, reference=label))
    if data.count:
        text = ", ".join(f"{i['address']}" + (f" ({i['symbol']})" if "symbol" in i else "")
                         + (f" in {i['section']}" if "section" in i else "") for i in data.items[:4])
        out.append(failed("firmware.changed-data", f"{data.count} changed data range(s): {text}", subject,
                          regions=data.items, count=data.count, reference=label))
    return out
