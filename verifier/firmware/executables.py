"""Executables inside firmware: ELF, PE and Mach-O parsed with LIEF, and what their headers declare.

LIEF is configured to skip what no check reads (relocations, resources), and an ELF's symbol tables and names are
counted from the raw headers before LIEF is let at them: a hostile table is refused (or read from its segments
alone) before anything is allocated.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Any

from verifier.errors import BadInputError
from verifier.firmware.elf_counts import count_elf_objects, elf_classes
from verifier.firmware.limits import (
    DEFAULT_LIMITS,
    MIB,
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
    # Deferred: lief takes ~0.3 s to import; --help and the containers that hold no executable never need it.
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
