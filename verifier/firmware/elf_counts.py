"""How many symbols parsing an ELF would materialise, read from its headers before LIEF parses it.

A narrow hand-written header reader: the count is needed before LIEF allocates, so it cannot come from LIEF.

It follows the way LIEF (1.0, ``DYNSYM_COUNT.AUTO``) decides what to read, and rounds up where a hostile file
could make the two readings differ:

* ``.symtab``: LIEF reads the first ``SHT_SYMTAB`` section, ``sh_size / sizeof(Elf_Sym)`` entries (``sh_entsize``
  is ignored), stopping at the end of the file. Counted here as the largest such section, clipped to the file.
* dynamic symbols: LIEF reads from ``DT_SYMTAB`` as many entries as the relocation tables (highest symbol index),
  the ``.dynsym`` section or the ``DT_HASH`` / ``DT_GNU_HASH`` tables claim, stopping at the end of the file.
  Counted here as the largest of those claims, clipped to the entries between ``DT_SYMTAB`` and the end of the file.
  A ``DT_HASH`` nchain of 2^31 in a 1 KB file therefore counts what the file holds, not 2^31.
* relocatable objects: ``loaded.py`` reads every table a relocation section links to, once per table, and keeps
  one relocation section's lines at a time; the sum of those tables and the largest relocation section count.

Every read is checked against the file size; tables are scanned with numpy views, never copied.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

# Heavy, so imported inside the functions that use it: numpy (~110 ms),
# loaded only when an ELF's symbol tables are counted.

_SHT_SYMTAB, _SHT_RELA, _SHT_REL, _SHT_DYNSYM = 2, 4, 9, 11
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_HASH, _DT_SYMTAB, _DT_RELA, _DT_RELASZ = 0, 4, 6, 7, 8
_DT_REL, _DT_RELSZ, _DT_PLTRELSZ, _DT_JMPREL, _DT_PLTREL = 17, 18, 2, 23, 20
_DT_GNU_HASH = 0x6FFFFEF5
_ET_REL = 1
_MACHINE_IS_64 = {62: True, 183: True, 21: True, 43: True, 50: True, 3: False, 40: False, 20: False}
_DYNAMIC_TAGS = (_DT_HASH, _DT_SYMTAB, _DT_RELA, _DT_RELASZ, _DT_REL, _DT_RELSZ, _DT_PLTRELSZ, _DT_JMPREL,
                 _DT_PLTREL, _DT_GNU_HASH)
_CHAIN_SLICE = 1 << 16


@dataclass(frozen=True)
class ElfCounts:
    """Upper bounds on what parsing would build: symbols LIEF keeps, and what ``loaded.py`` re-reads."""

    symtab_symbols: int = 0
    dynamic_symbols: int = 0
    #: relocatable objects only: symbol entries re-read for relocation digests, and the largest relocation table
    relocation_symbols: int = 0
    relocations: int = 0

    @property
    def symbols(self) -> int:
        """The symbols LIEF builds."""
        return self.symtab_symbols + self.dynamic_symbols


@dataclass(frozen=True)
class _Layout:
    bits64: bool
    endian: str

    @property
    def word(self) -> str:
        return "Q" if self.bits64 else "I"

    @property
    def symbol_size(self) -> int:
        return 24 if self.bits64 else 16


def count_elf_objects(data: bytes) -> ElfCounts:
    """The counts for ``data`` (an ELF image; anything shorter than a header counts nothing).

    LIEF takes neither EI_CLASS nor EI_DATA at its word: e_machine decides the class when the two disagree
    (x86-64, AArch64, PPC64, SPARCv9 and IA-64 are 64-bit, i386, ARM and PPC 32-bit), and the byte order too
    (an MSB header with a little-endian i386 e_machine is read little-endian). So a file is counted under both
    byte orders and every class it could be read with, and the largest count of each kind is kept. Read in the
    wrong byte order, a real file's header offsets land past its end and count nothing.
    """
    if len(data) < 0x40 or data[:4] != b"\x7fELF":
        return ElfCounts()
    layouts = {_Layout(bits64, endian) for endian in ("<", ">") for bits64 in elf_classes(data, endian)}
    counts = [_count(data, layout) for layout in layouts]
    return ElfCounts(*(max(getattr(c, name) for c in counts)
                       for name in ("symtab_symbols", "dynamic_symbols", "relocation_symbols", "relocations")))


def elf_classes(data: bytes, endian: str) -> set[bool]:
    """Whether the file may be read as 64-bit (True), 32-bit (False) or both, by EI_CLASS and by e_machine."""
    (machine,) = struct.unpack_from(endian + "H", data, 18)
    by_ident = {1: False, 2: True}.get(data[4])
    if by_ident is False and machine in (62, 183):  # x32 and arm64ilp32: LIEF reads these by EI_CLASS alone
        return {False}
    by_machine = _MACHINE_IS_64.get(machine)
    found = {c for c in (by_ident, by_machine) if c is not None}
    return found or {False, True}


def _count(data: bytes, layout: _Layout) -> ElfCounts:
    sections = _section_headers(data, layout)
    segments = _program_headers(data, layout)

    symtab = max((_entries(data, offset, size, layout.symbol_size)
                  for kind, offset, size, _, _ in sections if kind == _SHT_SYMTAB), default=0)
    dynamic = _dynamic_symbols(data, layout, sections, segments)
    relocation_symbols = relocations = 0
    (e_type,) = struct.unpack_from(layout.endian + "H", data, 16)
    if e_type == _ET_REL:
        linked = {link for kind, _, _, link, _ in sections if kind in (_SHT_REL, _SHT_RELA) and link < len(sections)}
        relocation_symbols = sum(_entries(data, sections[link][1], sections[link][2], layout.symbol_size)
                                 for link in linked)
        relocations = max((_entries(data, offset, size, entsize)
                           for kind, offset, size, _, entsize in sections if kind in (_SHT_REL, _SHT_RELA)),
                          default=0)
    return ElfCounts(symtab, dynamic, relocation_symbols, relocations)


def _entries(data: bytes, offset: int, size: int, entry: int) -> int:
    """Whole entries of ``entry`` bytes in ``[offset, offset + size)``, clipped to the file."""
    if offset >= len(data) or entry <= 0:
        return 0
    return min(size, len(data) - offset) // entry


def _section_headers(data: bytes, layout: _Layout) -> list[tuple[int, int, int, int, int]]:
    """(sh_type, sh_offset, sh_size, sh_link, standard entry size) of each section header inside the file."""
    e = layout.endian
    shoff_at, count_at = (0x28, 0x3C) if layout.bits64 else (0x20, 0x30)
    (shoff,) = struct.unpack_from(e + layout.word, data, shoff_at)
    (shnum,) = struct.unpack_from(e + "H", data, count_at)
    header = 64 if layout.bits64 else 40
    if not shoff or shoff >= len(data):
        return []
    if shnum == 0 and shoff + header <= len(data):  # extended numbering: the count is in section 0's sh_size
        # LIEF 1.0 reads no section then; counted anyway, up to what e_shnum could say, so the pass stays small
        (shnum,) = struct.unpack_from(e + layout.word, data, shoff + (32 if layout.bits64 else 20))
        shnum = min(shnum, 0xFFFF)
    shnum = min(shnum, (len(data) - shoff) // header)
    fmt = e + ("IIQQQQII" if layout.bits64 else "IIIIIIII")
    out = []
    for index in range(shnum):
        _, kind, _, _, offset, size, link, _ = struct.unpack_from(fmt, data, shoff + index * header)
        entry = {_SHT_RELA: 24 if layout.bits64 else 12, _SHT_REL: 16 if layout.bits64 else 8}.get(
            kind, layout.symbol_size)
        out.append((kind, offset, size, link, entry))
    return out


def _program_headers(data: bytes, layout: _Layout) -> list[tuple[int, int, int, int, int]]:
    """(p_type, p_offset, p_vaddr, p_filesz, p_memsz) of each program header inside the file."""
    e = layout.endian
    phoff_at, count_at = (0x20, 0x38) if layout.bits64 else (0x1C, 0x2C)
    (phoff,) = struct.unpack_from(e + layout.word, data, phoff_at)
    (phnum,) = struct.unpack_from(e + "H", data, count_at)
    header = 56 if layout.bits64 else 32
    if not phoff or phoff >= len(data):
        return []
    phnum = min(phnum, (len(data) - phoff) // header)
    out = []
    for index in range(phnum):
        at = phoff + index * header
        if layout.bits64:
            kind, _, offset, vaddr, _, filesz, memsz, _ = struct.unpack_from(e + "IIQQQQQQ", data, at)
        else:
            kind, offset, vaddr, _, filesz, memsz, _, _ = struct.unpack_from(e + "IIIIIIII", data, at)
        out.append((kind, offset, vaddr, filesz, memsz))
    return out


def _offsets(address: int, segments: list[tuple[int, int, int, int, int]]) -> list[int]:
    """The file offsets ``address`` may be read at: through the first LOAD segment that maps it (LIEF's address
    translation) and through the first segment of any kind (LIEF's segment streams). At most two, so that a
    table of 65535 overlapping segments costs one pass, not one per segment."""
    out: list[int] = []
    for wanted_load in (True, False):
        for kind, offset, vaddr, filesz, memsz in segments:
            if (kind == _PT_LOAD or not wanted_load) and vaddr <= address < vaddr + max(filesz, memsz):
                out.append(address - vaddr + offset)
                break
    return sorted(set(out))


def _wrapping_load_offset(address: int, segments: list[tuple[int, int, int, int, int]]) -> list[int]:
    """Where LIEF reads the dynamic table: through the last LOAD segment that maps its address."""
    found = [address - vaddr + offset for kind, offset, vaddr, filesz, memsz in segments
             if kind == _PT_LOAD and vaddr <= address < vaddr + max(filesz, memsz)]
    return found[-1:]


def _dynamic_tables(data: bytes, layout: _Layout,
                    segments: list[tuple[int, int, int, int, int]]) -> list[dict[int, int]]:
    """The first value of each tag this count reads, for every place a dynamic table could be read from.

    LIEF reads PT_DYNAMIC through the LOAD segment that wraps it, else at its file offset; both are read here, up
    to DT_NULL or the end of the file, with numpy (a hostile table may hold millions of entries before DT_NULL).
    """
    import numpy as np

    entry = 16 if layout.bits64 else 8
    word = np.dtype(layout.endian + ("i8" if layout.bits64 else "i4"))
    starts: set[int] = set()
    for kind, offset, vaddr, _, _ in segments:
        if kind == _PT_DYNAMIC:  # LIEF reads the first PT_DYNAMIC only
            starts.add(offset)
            starts.update(_offsets(vaddr, segments))
            starts.update(_wrapping_load_offset(vaddr, segments))
            break
    tables = []
    for start in sorted(starts):
        count = _entries(data, start, len(data), entry)
        if not count:
            continue
        table = np.frombuffer(data, dtype=word, count=2 * count, offset=start).reshape(count, 2)
        tags = table[:, 0]
        nulls = np.flatnonzero(tags == _DT_NULL)
        tags = tags[: int(nulls[0])] if len(nulls) else tags
        found: dict[int, int] = {}
        for tag in _DYNAMIC_TAGS:
            hits = np.flatnonzero(tags == tag)
            if len(hits):
                (value,) = struct.unpack_from(layout.endian + layout.word, data,
                                              start + int(hits[0]) * entry + entry // 2)
                found[tag] = value
        tables.append(found)
    return tables


def _dynamic_symbols(data: bytes, layout: _Layout, sections: list[tuple[int, int, int, int, int]],
                     segments: list[tuple[int, int, int, int, int]]) -> int:
    size = layout.symbol_size
    from_section = max((_entries(data, offset, sh_size, size)
                        for kind, offset, sh_size, _, _ in sections if kind == _SHT_DYNSYM), default=0)
    most = 0
    for tags in _dynamic_tables(data, layout, segments):
        if _DT_SYMTAB not in tags:
            continue
        available = max((_entries(data, at, len(data), size) for at in _offsets(tags[_DT_SYMTAB], segments)),
                        default=0)
        if not available:
            continue
        claimed = max(from_section, _relocation_symbols(data, layout, tags, segments),
                      _hash_symbols(data, layout, tags, segments))
        most = max(most, min(claimed, available))
    return most


def _relocation_symbols(data: bytes, layout: _Layout, tags: dict[int, int],
                        segments: list[tuple[int, int, int, int, int]]) -> int:
    """One more than the highest symbol index in the DT_RELA, DT_REL and DT_JMPREL tables (as LIEF counts)."""
    import numpy as np

    rela = 24 if layout.bits64 else 12
    rel = 16 if layout.bits64 else 8
    jmprel = rel if tags.get(_DT_PLTREL) == _DT_REL else rela
    if _DT_PLTREL not in tags and not layout.bits64:
        jmprel = rel
    highest = 0
    for address_tag, size_tag, entry in ((_DT_RELA, _DT_RELASZ, rela), (_DT_REL, _DT_RELSZ, rel),
                                         (_DT_JMPREL, _DT_PLTRELSZ, jmprel)):
        if address_tag not in tags or size_tag not in tags:
            continue
        for at in _offsets(tags[address_tag], segments):
            count = _entries(data, at, tags[size_tag], entry)
            if not count:
                continue
            word = np.dtype(layout.endian + ("u8" if layout.bits64 else "u4"))
            table = np.frombuffer(data, dtype=word, count=count * entry // word.itemsize, offset=at)
            info = table.reshape(count, entry // word.itemsize)[:, 1]
            shift = 32 if layout.bits64 else 8
            highest = max(highest, int(info.max() >> shift) + 1)
    return highest


def _hash_symbols(data: bytes, layout: _Layout, tags: dict[int, int],
                  segments: list[tuple[int, int, int, int, int]]) -> int:
    """The symbol count DT_HASH (its nchain) or DT_GNU_HASH (highest bucket, then its chain to the end) claims."""
    import numpy as np

    e = layout.endian
    if _DT_HASH in tags:
        return max((struct.unpack_from(e + "I", data, at + 4)[0]
                    for at in _offsets(tags[_DT_HASH], segments) if at + 8 <= len(data)), default=0)
    most = 0
    for at in _offsets(tags.get(_DT_GNU_HASH, -1), segments):
        if at + 16 > len(data):
            continue
        nbuckets, symoffset, maskwords, _ = struct.unpack_from(e + "IIII", data, at)
        buckets_at = at + 16 + maskwords * (8 if layout.bits64 else 4)
        buckets = min(nbuckets, max(0, (len(data) - buckets_at) // 4))
        if buckets_at >= len(data) or not buckets:
            most = max(most, symoffset)
            continue
        word = np.dtype(e + "u4")
        highest = int(np.frombuffer(data, dtype=word, count=buckets, offset=buckets_at).max())
        if highest < symoffset:
            most = max(most, symoffset)
            continue
        # The chain of the highest bucket runs until a hash value with its low bit set (or the end of the file).
        chain_at = buckets_at + nbuckets * 4 + (highest - symoffset) * 4
        most = max(most, highest + _chain_length(data, chain_at, word))
    return most


def _chain_length(data: bytes, at: int, word: Any) -> int:
    """Entries up to and including the first odd one from ``at``, read in slices so that memory stays small."""
    import numpy as np

    length = 0
    while at + 4 <= len(data):
        count = min(_CHAIN_SLICE, (len(data) - at) // 4)
        ends = np.flatnonzero(np.frombuffer(data, dtype=word, count=count, offset=at) & 1)
        if len(ends):
            return length + int(ends[0]) + 1
        length += count
        at += count * 4
    return length
