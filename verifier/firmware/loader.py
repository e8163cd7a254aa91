"""Turn a firmware file into a tree of images: executables LIEF can parse, and the containers around them.

Containers LIEF does not understand (UEFI firmware volumes, PCI option ROMs, Intel HEX / S-record files,
raw blobs with executables inside) are opened here and their members become child images, down to
``Limits.max_depth``. Every limit that is reached is recorded as a ``LimitEvent`` on the image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import BadInputError
from verifier.firmware.limits import (
    DEFAULT_LIMITS,
    MIB,
    DecompressionBudget,
    LimitEvent,
    Limits,
    SymbolMemoryBudget,
    range_charge,
    section_budget,
    symbol_memory_budget,
    symbol_memory_cost,
)

EXECUTABLE_KINDS = ("elf", "pe", "macho")
_MACHO_MAGICS = (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xfe\xed\xfa\xce",
                 b"\xca\xfe\xba\xbe")


@dataclass(frozen=True)
class Image:
    """One image: its bytes, the LIEF binary when it is an executable, and what it contains."""

    name: str
    kind: str
    data: bytes
    binary: Any = None
    children: tuple[Image, ...] = ()
    events: tuple[LimitEvent, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)

    def walk(self) -> list[Image]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass
class _Context:
    limits: Limits
    budget: DecompressionBudget
    symbol_memory: SymbolMemoryBudget
    events: list[LimitEvent] = field(default_factory=list)


def load_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> Image:
    """Load ``path``; raises ``BadInputError`` for what is not a firmware file at all.

    A file over ``max_file_size`` is not read: it comes back as kind ``too-large`` with a limit event,
    so that a scan can report it as a finding.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise BadInputError(f"{path} is not a regular file")
    if size == 0:
        raise BadInputError(f"{path} is empty (zero bytes): not a firmware image")
    if size > limits.max_file_size:
        event = LimitEvent(
            "max-file-size", str(path), f"{size} bytes is over the limit of {limits.max_file_size}; not analysed"
        )
        return Image(path.name, "too-large", b"", events=(event,), attributes={"size": size})
    data = path.read_bytes()
    ctx = _Context(limits, DecompressionBudget(limits.max_decompressed_total),
                   SymbolMemoryBudget(symbol_memory_budget(limits, len(data))))
    image = _load(path.name, data, ctx, depth=0, path=path)
    return Image(image.name, image.kind, image.data, image.binary, image.children,
                 tuple(dict.fromkeys(ctx.events)), image.attributes)


def load_bytes(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Image:
    ctx = _Context(limits, DecompressionBudget(limits.max_decompressed_total),
                   SymbolMemoryBudget(symbol_memory_budget(limits, len(data))))
    image = _load(name, data, ctx, depth=0)
    return Image(image.name, image.kind, image.data, image.binary, image.children,
                 tuple(dict.fromkeys(ctx.events)), image.attributes)


def _load(name: str, data: bytes, ctx: _Context, *, depth: int, path: Path | None = None,
          attributes: dict[str, Any] | None = None) -> Image:
    attrs = dict(attributes or {})
    executable = parse_executable(data, path, limits=ctx.limits, events=ctx.events, name=name,
                                  symbol_memory=ctx.symbol_memory)
    if executable is not None:
        kind, binary = executable
        declared = declared_section_bytes(kind, binary, len(data))
        budget = section_budget(ctx.limits, len(data))
        if declared > budget:
            ctx.events.append(LimitEvent(
                "max-section-bytes", name, f"section and segment headers cover {declared} bytes of a "
                f"{len(data)}-byte image; those past {budget} bytes are not hashed or searched for code"))
            attrs["section_budget"] = budget
        return Image(name, kind, data, binary, attributes=attrs)
    if data[:2] == b"VZ":
        return Image(name, "te", data, attributes=attrs)
    if attrs.pop("opaque", False):
        return Image(name, "raw", data, attributes=attrs)
    if depth >= ctx.limits.max_depth:
        ctx.events.append(LimitEvent("max-depth", name, f"nesting deeper than {ctx.limits.max_depth}; not opened"))
        return Image(name, "raw", data, attributes=attrs)

    from verifier.firmware import containers

    rom = containers.option_rom_images(data, name, ctx.budget, ctx.events)
    if rom is not None:
        children = tuple(_load(child.name, child.data, ctx, depth=depth + 1, attributes=child.attributes)
                         for child in rom)
        return Image(name, "option-rom", data, children=children, attributes=attrs)
    volume_offset = containers.find_volume(data)
    if volume_offset is not None:
        modules = containers.uefi_modules(data, name, ctx.budget, ctx.events, ctx.limits)
        children = tuple(_load(m.name, m.data, ctx, depth=depth + 1, attributes=m.attributes) for m in modules)
        attrs["volume_offset"] = volume_offset
        return Image(name, "uefi-volume", data, children=children, attributes=attrs)
    hex_kind = containers.hex_format(data)
    if hex_kind is not None:
        segments = containers.hex_segments(data, hex_kind, name, ctx.limits, ctx.events)
        children = tuple(_load(s.name, s.data, ctx, depth=depth + 1, attributes=s.attributes) for s in segments)
        return Image(name, hex_kind, data, children=children, attributes=attrs)
    carved = containers.carve(data, name, ctx.limits, ctx.events)
    children = tuple(_load(c.name, c.data, ctx, depth=depth + 1, attributes=c.attributes) for c in carved)
    return Image(name, "raw", data, children=children, attributes=attrs)


def parse_executable(data: bytes, path: Path | None = None, *, limits: Limits = DEFAULT_LIMITS,
                     events: list[LimitEvent] | None = None, name: str = "",
                     symbol_memory: SymbolMemoryBudget | None = None) -> tuple[str, Any] | None:
    """Parse ELF, PE or Mach-O with LIEF, configured to skip what no check reads (relocations, resources).

    An ELF is charged to ``symbol_memory`` (a budget of its own size when not given) before LIEF parses it;
    ``BadInputError`` when its symbols would not fit.
    """
    magic = data[:4]
    if magic == b"\x7fELF":
        if symbol_memory is None:
            symbol_memory = SymbolMemoryBudget(symbol_memory_budget(limits, len(data)))
        return _parse_elf(data, path, limits, events if events is not None else [], name, symbol_memory)
    if data[:2] == b"MZ" and _pe_signature_ok(data):
        return _parse_pe(data, path)
    if magic in _MACHO_MAGICS:
        return _parse_macho(data, path)
    return None


def _quiet_lief() -> Any:
    import warnings

    import lief

    lief.logging.disable()
    # LIEF warns for every enum value it does not know; hostile headers are full of them.
    warnings.filterwarnings("ignore", message=r".* is not a valid ", category=RuntimeWarning)
    return lief


def _parse_elf(data: bytes, path: Path | None, limits: Limits, events: list[LimitEvent],
               name: str, symbol_memory: SymbolMemoryBudget) -> tuple[str, Any] | None:
    lief = _quiet_lief()
    config = lief.ELF.ParserConfig()
    config.parse_relocations = False
    config.parse_symbol_versions = False
    config.parse_notes = False
    config.parse_overlay = False
    _check_symbol_memory(data, limits, name, symbol_memory)
    budget = section_budget(limits, len(data))
    if elf_name_bytes(data, budget) > budget:
        # LIEF copies every section and symbol name up to its NUL: thousands of headers naming the same long
        # run of bytes took it many seconds and gigabytes. Such an image is read from its segments alone.
        events.append(LimitEvent("max-name-bytes", name or "image", f"section and symbol names would take over "
                                 f"{budget} bytes; sections and symbols not read, only segments"))
        data, path = _without_section_table(data), None
        config.parse_dyn_symbols = False
        config.parse_symtab_symbols = False
    binary = lief.ELF.parse(str(path), config) if path is not None else lief.ELF.parse(data, config)
    if binary is None or binary.header.machine_type == lief.ELF.ARCH.NONE:
        return None
    if not len(binary.segments) and not len(binary.sections):
        return None
    return "elf", binary


def _check_symbol_memory(data: bytes, limits: Limits, name: str, symbol_memory: SymbolMemoryBudget) -> None:
    """Refuse (bad input, exit 2) an ELF whose symbol tables would cost more memory than its size allows.

    LIEF builds every symbol a table or a hash/relocation count claims, ~20x the bytes they occupy; counted first
    from the headers, so a hostile table is refused before anything is allocated.
    """
    from verifier.firmware.elf_counts import count_elf_objects

    counts = count_elf_objects(data)
    cost = symbol_memory_cost(counts.symbols, counts.relocation_symbols, counts.relocations)
    if not symbol_memory.allow(cost):
        left = "" if symbol_memory.remaining == symbol_memory.total else f"the {symbol_memory.remaining // MIB} " \
            "MiB left of "
        raise BadInputError(
            f"{name or 'image'}: limit max-symbol-memory reached: its ELF symbol tables claim "
            f"{counts.symbols + counts.relocation_symbols} symbols and {counts.relocations} relocations, "
            f"~{cost // MIB} MiB to parse, over {left}the budget of {symbol_memory.total // MIB} MiB "
            f"({limits.symbol_memory_ratio}x the file's bytes + {limits.symbol_memory_floor // MIB} MiB); "
            "not analysed")


def _pe_signature_ok(data: bytes) -> bool:
    if len(data) < 0x40:
        return False
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    return lfanew + 4 <= len(data) and data[lfanew : lfanew + 4] == b"PE\0\0"


def _parse_pe(data: bytes, path: Path | None) -> tuple[str, Any] | None:
    lief = _quiet_lief()
    config = lief.PE.ParserConfig()
    config.parse_reloc = False
    config.parse_rsrc = False
    config.parse_exceptions = False
    binary = lief.PE.parse(str(path), config) if path is not None else lief.PE.parse(data, config)
    if binary is None:
        return None
    return "pe", binary


def _parse_macho(data: bytes, path: Path | None) -> tuple[str, Any] | None:
    lief = _quiet_lief()
    fat = lief.MachO.parse(str(path)) if path is not None else lief.MachO.parse(list(data))
    if fat is None or fat.size == 0:
        return None
    return "macho", fat.at(0)


def pe_directory(binary: Any, index: int) -> tuple[int, int]:
    """(rva, size) of data directory ``index``, or (0, 0) when the header declares fewer directories.

    A hostile optional header can declare any NumberOfRvaAndSizes; found by fuzzing.
    """
    directories = binary.data_directories
    if index >= len(directories):
        return 0, 0
    directory = directories[index]
    return int(directory.rva), int(directory.size)


def declared_section_bytes(kind: str, binary: Any, available: int) -> int:
    """An upper bound on the budget the inventory charges for this image's header-declared byte ranges.

    Overlaps count every time. An executable LOAD segment is read up to three times (its digest, its bytes
    not covered by sections, and as a code region when there are no sections), in up to one piece per section.
    """
    def clipped(offset: int, size: int) -> int:
        return max(0, min(size, available - offset))

    total = 0
    if kind == "elf":
        hashed = [s for s in binary.sections if int(s.type) != 8]  # 8 = NOBITS
        for section in hashed:
            total += range_charge(clipped(int(section.offset), int(section.size)))
        for segment in binary.segments:
            size = clipped(int(segment.file_offset), int(segment.physical_size))
            total += range_charge(size)
            if int(segment.type) == 1 and int(segment.flags) & 1:  # PT_LOAD, PF_X
                total += 2 * size + range_charge(0) * (len(hashed) + 2)
    elif kind == "pe":
        for section in binary.sections:
            total += range_charge(clipped(int(section.offset), int(section.sizeof_raw_data)))
    elif kind == "macho":
        for section in binary.sections:
            if int(section.offset):
                total += range_charge(clipped(int(section.offset), int(section.size)))
    return total


_ELF_LAYOUT = {1: ("I", 0x20, 0x2E, 40, "I", 16, 20, 24, 16), 2: ("Q", 0x28, 0x3A, 64, "Q", 24, 32, 40, 24)}
_SHT_SYMTAB, _SHT_DYNSYM = 2, 11


def elf_name_bytes(data: bytes, cap: int) -> int:
    """A bound on the bytes LIEF would copy for section and symbol names, counting each entry at 64 more.

    Read from the raw section headers the way LIEF reads them (standard entry sizes, names up to the next NUL
    anywhere in the file). Stops counting past ``cap``.
    """
    # LIEF trusts e_machine over EI_CLASS and guesses an invalid EI_CLASS or EI_DATA: every reading is counted.
    return max((_name_bytes(data, cap, _ELF_LAYOUT[2 if bits64 else 1], endian)
                for bits64, endian in _elf_readings(data)), default=0)


def _elf_readings(data: bytes) -> set[tuple[bool, str]]:
    """(64-bit, byte order) of every way LIEF could read this ELF header."""
    from verifier.firmware.elf_counts import elf_classes

    if len(data) <= 0x40:
        return set()
    return {(bits64, endian) for endian in ("<", ">") for bits64 in elf_classes(data, endian)}


def _name_bytes(data: bytes, cap: int, layout: tuple[Any, ...], endian: str) -> int:
    offset_fmt, shoff_at, shentsize_at, entry, word, off_at, size_at, link_at, sym_entry = layout
    (shoff,) = struct.unpack_from(endian + offset_fmt, data, shoff_at)
    _, shnum, shstrndx = struct.unpack_from(endian + "HHH", data, shentsize_at)
    if not shoff or shoff >= len(data):
        return 0
    if shnum == 0 and shoff + entry <= len(data):  # extended numbering: the count is in section 0
        (shnum,) = struct.unpack_from(endian + word, data, shoff + size_at)
    shnum = min(shnum, (len(data) - shoff) // entry)
    total = 0

    def name_length(at: int) -> int:
        # Never scans further than the budget left, so counting is linear in the cap, not in names x file.
        room = cap - total + 1
        if at >= len(data) or room <= 0:
            return 0
        nul = data.find(b"\0", at, at + room)
        return (nul if nul >= 0 else min(len(data), at + room)) - at

    def section(index: int) -> tuple[int, int, int, int, int]:
        at = shoff + index * entry
        (sh_name, sh_type) = struct.unpack_from(endian + "II", data, at)
        (sh_offset,) = struct.unpack_from(endian + word, data, at + off_at)
        (sh_size,) = struct.unpack_from(endian + word, data, at + size_at)
        (sh_link,) = struct.unpack_from(endian + "I", data, at + link_at)
        return sh_name, sh_type, sh_offset, sh_size, sh_link

    strings_at = section(shstrndx)[2] if shstrndx < shnum else 0
    for index in range(shnum):
        sh_name, sh_type, sh_offset, sh_size, sh_link = section(index)
        total += 64 + name_length(strings_at + sh_name)
        if sh_type in (_SHT_SYMTAB, _SHT_DYNSYM) and sh_link < shnum and sh_offset < len(data):
            symbol_strings = section(sh_link)[2]
            for at in range(sh_offset, min(sh_offset + sh_size, len(data) - 4), sym_entry):
                (st_name,) = struct.unpack_from(endian + "I", data, at)
                total += 64 + name_length(symbol_strings + st_name)
                if total > cap:
                    return total
        if total > cap:
            return total
    return total


def _without_section_table(data: bytes) -> bytes:
    """The ELF with its section header table unlinked (e_shoff, e_shnum, e_shstrndx zeroed)."""
    patched = bytearray(data)
    for bits64, endian in _elf_readings(data):  # a hostile ident may be read more than one way: unlink each
        layout = _ELF_LAYOUT[2 if bits64 else 1]
        struct.pack_into(endian + layout[0], patched, layout[1], 0)
        struct.pack_into(endian + "HHH", patched, layout[2], 0, 0, 0)
    return bytes(patched)
