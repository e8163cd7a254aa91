"""Raw images made from an ELF (``objcopy -O binary``): U-Boot's ``u-boot.bin``, bare-metal ``.bin`` files.

objcopy writes every allocated section that has contents at its load address (LMA) minus the lowest one, and
fills the gaps between them with zeros. ``layout`` records that placement from the ELF, for the firmware
manifest; ``verifier.checks.raw_image`` then judges a raw image against it byte for byte: each section's bytes
at its offset, zeros in every gap, and nothing after the last section. U-Boot keeps only some sections
(``objcopy -j``), always a prefix in load order, so a raw image may end at a section boundary before the
ELF's last section unless the manifest pins its size (``release sign`` does, after checking the shipped image
against its build).

Sections and their hashes come from the ELF; digests of fixed-size blocks let a mismatch be located to a
block (section, raw offset and load address) without shipping the bytes. Block digests are truncated: they
only locate a difference, the section's full SHA-256 decides it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

MIN_BLOCK = 256
MAX_BLOCKS = 4096
BLOCK_DIGEST_CHARS = 16
# objcopy would write a file this large; an ELF whose load addresses span more is not a raw-image build.
MAX_EXTENT = 1 << 30
MAX_SECTIONS = 4096
_ALLOC, _EXEC, _WRITE, _NOBITS = 0x2, 0x4, 0x1, 8
_PT_LOAD = 1


@dataclass(frozen=True)
class Placed:
    """One ELF section (or PT_LOAD segment, for an ELF without sections) and where objcopy puts it."""

    name: str
    segment: str
    address: int
    load_address: int
    file_offset: int
    size: int
    flags: tuple[str, ...]


def _placements(binary: Any, file_size: int) -> list[Placed]:
    loads = [(index, s) for index, s in enumerate(binary.segments) if int(s.type) == _PT_LOAD and s.physical_size]
    placed: list[Placed] = []
    for s in binary.sections:
        flags = int(s.flags)
        if not flags & _ALLOC or int(s.type) == _NOBITS or not s.size or s.offset + s.size > file_size:
            continue
        # BFD gives a section inside a PT_LOAD the segment's physical address plus its offset in the segment.
        host = next(((i, g) for i, g in loads
                     if g.file_offset <= s.offset and s.offset + s.size <= g.file_offset + g.physical_size), None)
        load_address = s.virtual_address if host is None else host[1].physical_address + s.offset - host[1].file_offset
        segment = "-" if host is None else f"PT_LOAD[{host[0]}]@{host[1].virtual_address:#x}"
        name = s.name if isinstance(s.name, str) else bytes(s.name).decode("utf-8", "replace")
        placed.append(Placed(name, segment, int(s.virtual_address), int(load_address), int(s.offset), int(s.size),
                             tuple(n for bit, n in ((_WRITE, "write"), (_EXEC, "exec")) if flags & bit)))
    if not placed:
        for index, g in loads:
            if g.file_offset + g.physical_size <= file_size:
                flags = int(g.flags)  # PF_X 1, PF_W 2
                placed.append(Placed(f"PT_LOAD[{index}]", f"PT_LOAD[{index}]@{g.virtual_address:#x}",
                                     int(g.virtual_address), int(g.physical_address), int(g.file_offset),
                                     int(g.physical_size),
                                     tuple(n for bit, n in ((2, "write"), (1, "exec")) if flags & bit)))
    return sorted(placed, key=lambda p: (p.load_address, p.name))


def block_digest(chunk: bytes) -> str:
    return hashlib.sha256(chunk).hexdigest()[:BLOCK_DIGEST_CHARS]


def layout(binary: Any, data: bytes) -> dict[str, Any] | None:
    """The ``raw_image`` manifest field of an ELF: where ``objcopy -O binary`` puts each section, and digests.

    None when the ELF has nothing to lay out, when its load addresses span more than MAX_EXTENT, or when
    its section headers ask for more hashing than a few times the file (hostile headers).
    """
    placed = _placements(binary, len(data))
    if not placed or len(placed) > MAX_SECTIONS or sum(p.size for p in placed) > 4 * len(data) + (1 << 20):
        return None
    base = placed[0].load_address
    extent = max(p.load_address + p.size for p in placed) - base
    if extent > MAX_EXTENT:
        return None
    block = MIN_BLOCK
    while extent // block > MAX_BLOCKS:
        block *= 2
    sections = []
    for p in placed:
        content = data[p.file_offset : p.file_offset + p.size]
        sections.append({
            "name": p.name, "segment": p.segment, "address": f"{p.address:#x}", "load_address": f"{p.load_address:#x}",
            "offset": f"{p.load_address - base:#x}", "size": p.size, "flags": list(p.flags),
            "sha256": hashlib.sha256(content).hexdigest(),
            "blocks": [block_digest(content[i : i + block]) for i in range(0, len(content), block)],
        })
    return {"base": f"{base:#x}", "size": extent, "block_size": block, "sections": sections}


