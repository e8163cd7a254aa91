"""Function discovery: where code starts, from every source a stripped binary still carries.

Sources: symbols, unwind tables (``.eh_frame`` FDEs, PE ``.pdata``), exports, constructors, the entry point,
and direct-call targets. Call targets are decoded in bulk from the fixed branch encodings (x86 ``E8 rel32``,
AArch64 ``BL``, ARM ``BL``, RISC-V ``JAL ra``, PowerPC ``bl``, MIPS ``jal``) with numpy, which is two orders of
magnitude faster than a linear sweep through capstone from Python. Nothing is executed.
"""

from __future__ import annotations

import bisect
import heapq
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Heavy, so imported inside the functions that use it: numpy (~110 ms), loaded only when code is searched for functions.


@dataclass(frozen=True)
class CodeRegion:
    """Executable bytes at a virtual address (an executable section, or a segment when sections are gone)."""

    name: str
    address: int
    data: bytes

    @property
    def end(self) -> int:
        return self.address + len(self.data)

    def contains(self, address: int) -> bool:
        return self.address <= address < self.end


@dataclass(frozen=True)
class FunctionStart:
    address: int
    source: str
    name: str = ""
    size: int = 0


class RegionIndex:
    """Which region holds an address, in O(log n): the first region, in the given order, that contains it.

    A linear scan per lookup made a hostile ELF with thousands of executable sections and as many function
    starts quadratic (found by fuzzing). Regions may overlap, so each elementary interval between region
    boundaries is labelled once with the first region covering it.
    """

    def __init__(self, regions: Sequence[CodeRegion]) -> None:
        self.regions = tuple(regions)
        opening: dict[int, list[int]] = {}
        for order, region in enumerate(self.regions):
            if region.data:
                opening.setdefault(region.address, []).append(order)
        bounds = sorted(set(opening) | {r.end for r in self.regions if r.data})
        active: list[int] = []
        self._bounds: list[int] = bounds
        self._owner: list[int | None] = []
        for bound in bounds:
            for order in opening.get(bound, ()):
                heapq.heappush(active, order)
            while active and self.regions[active[0]].end <= bound:
                heapq.heappop(active)
            self._owner.append(active[0] if active else None)

    def find(self, address: int) -> CodeRegion | None:
        at = bisect.bisect_right(self._bounds, address) - 1
        if at < 0:
            return None
        owner = self._owner[at]
        return None if owner is None else self.regions[owner]


def _index(regions: Sequence[CodeRegion] | RegionIndex) -> RegionIndex:
    return regions if isinstance(regions, RegionIndex) else RegionIndex(regions)


def call_targets(regions: Sequence[CodeRegion], arch: str, *, little_endian: bool = True) -> set[int]:
    """Direct-call targets that land in executable code, decoded in bulk with numpy."""
    return _call_targets_numpy(regions, arch, little_endian=little_endian)


# No direct-call encoding reaches further than x86's rel32 (+-2 GiB); regions further apart cannot call each other.
_CALL_REACH = 1 << 40
# Within one cluster every offset from its lowest address, plus a call displacement, fits int64.
_CLUSTER_SPAN = 1 << 62


def _clusters(regions: Sequence[CodeRegion]) -> list[list[CodeRegion]]:
    """Regions grouped so that each group spans less than ``_CLUSTER_SPAN``.

    Addresses come from the binary's headers, so a hostile image can put one section at 0 and the next near
    2**64 (or, for PE, image base plus RVA, past it); one common int64 frame cannot hold both. Sorted regions
    are split where the gap exceeds any call's reach, so no call target is lost there, and where the span would
    pass 2**62, which only a hostile layout with millions of regions reaches.
    """
    ordered = sorted(regions, key=lambda r: r.address)
    groups: list[list[CodeRegion]] = []
    reach_end = 0
    for region in ordered:
        if groups and region.address - reach_end <= _CALL_REACH \
                and region.end - groups[-1][0].address < _CLUSTER_SPAN:
            groups[-1].append(region)
            reach_end = max(reach_end, region.end)
        else:
            groups.append([region])
            reach_end = region.end
    return groups


def _call_targets_numpy(regions: Sequence[CodeRegion], arch: str, *, little_endian: bool) -> set[int]:
    found: set[int] = set()
    for cluster in _clusters(regions):
        found |= _cluster_call_targets(cluster, arch, little_endian=little_endian)
    return found


def _cluster_call_targets(regions: Sequence[CodeRegion], arch: str, *, little_endian: bool) -> set[int]:
    """Targets are computed relative to the lowest region so that kernel addresses (above 2**63) fit int64.

    Array comparisons here are written as ufuncs (``np.equal``...), not operators: atheris 3.0 leaks the array
    an instrumented ``==`` returns, which made the fuzz harness grow by megabytes per input until its 1 GB limit.
    """
    import numpy as np

    if not regions:
        return set()
    base = min(r.address for r in regions)
    found: list[Any] = []
    for region in regions:
        buf = np.frombuffer(region.data, dtype=np.uint8)
        if buf.size < 5:
            continue
        origin = region.address - base
        if arch in ("x86_64", "x86"):
            at = np.flatnonzero(np.equal(buf[:-4], 0xE8))
            rel = (buf[at + 1].astype(np.int64) | (buf[at + 2].astype(np.int64) << 8)
                   | (buf[at + 3].astype(np.int64) << 16) | (buf[at + 4].astype(np.int64) << 24))
            rel = np.where(np.greater_equal(rel, 1 << 31), rel - (1 << 32), rel)
            found.append(origin + at + 5 + rel)
            continue
        step = 2 if arch == "riscv" else 4
        words, offsets = _words(buf, step, little_endian)
        if arch == "aarch64":
            hit = np.equal(words & 0xFC000000, 0x94000000)
            imm = (words[hit] & 0x03FFFFFF).astype(np.int64)
            imm = np.where(np.greater_equal(imm, 1 << 25), imm - (1 << 26), imm)
            found.append(origin + offsets[hit] + imm * 4)
        elif arch == "arm":
            hit = np.equal(words & 0xFF000000, 0xEB000000)
            imm = (words[hit] & 0x00FFFFFF).astype(np.int64)
            imm = np.where(np.greater_equal(imm, 1 << 23), imm - (1 << 24), imm)
            found.append(origin + offsets[hit] + 8 + imm * 4)
        elif arch == "riscv":
            hit = np.equal(words & 0xFFF, 0x0EF)  # JAL with rd = ra
            w = words[hit].astype(np.int64)
            imm = (((w >> 31) & 1) << 20) | (((w >> 12) & 0xFF) << 12) | (((w >> 20) & 1) << 11) \
                | (((w >> 21) & 0x3FF) << 1)
            imm = np.where(np.greater_equal(imm, 1 << 20), imm - (1 << 21), imm)
            found.append(origin + offsets[hit] + imm)
        elif arch == "ppc":
            hit = np.equal(words & 0xFC000003, 0x48000001)
            imm = (words[hit] & 0x03FFFFFC).astype(np.int64)
            imm = np.where(np.greater_equal(imm, 1 << 25), imm - (1 << 26), imm)
            found.append(origin + offsets[hit] + imm)
        elif arch == "mips":
            hit = np.equal(words >> 26, 3)
            imm = (words[hit] & 0x03FFFFFF).astype(np.int64) << 2
            # jal keeps the top four bits of the PC: one 256 MB segment per region is assumed
            segment = (region.address + 4) & ~0x0FFFFFFF
            found.append((segment - base) + imm)
    if not found:
        return set()
    targets = np.concatenate(found)
    relative = [CodeRegion(r.name, r.address - base, r.data) for r in regions]
    keep = np.zeros(targets.shape, dtype=bool)
    for region in relative:
        keep |= np.greater_equal(targets, region.address) & np.less(targets, region.end)
    return {base + t for t in _validated(targets[keep], relative, arch)}


def _words(buf: Any, step: int, little_endian: bool) -> tuple[Any, Any]:
    import numpy as np

    data = np.asarray(buf)
    dtype = "<u4" if little_endian else ">u4"
    if step == 4:
        usable = data.size - data.size % 4
        return np.frombuffer(data[:usable].tobytes(), dtype=dtype).astype(np.uint32), np.arange(0, usable, 4)
    # 2-byte aligned 32-bit words (RISC-V with compressed instructions)
    usable = data.size - data.size % 2
    halves = np.frombuffer(data[:usable].tobytes(), dtype="<u2" if little_endian else ">u2").astype(np.uint32)
    if halves.size < 2:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64)
    words = halves[:-1] | (halves[1:] << 16)
    return words, np.arange(0, (halves.size - 1) * 2, 2)


def _validated(targets: Any, regions: Sequence[CodeRegion], arch: str) -> set[int]:
    """Keep x86 call targets that look like function starts.

    Any byte can be E8, so a target counts only when two call sites agree on it, or it follows padding or a
    return, or it starts with ENDBR. Fixed-width ISAs decode exactly and need no such filter.
    """
    import numpy as np

    t = np.asarray(targets, dtype=np.int64)
    if arch not in ("x86_64", "x86") or t.size == 0:
        return {int(x) for x in np.unique(t)}
    unique, counts = np.unique(t, return_counts=True)
    keep = np.greater_equal(counts, 2)
    for region in regions:
        inside = np.greater_equal(unique, region.address) & np.less(unique, region.end) & ~keep
        if not inside.any():
            continue
        buf = np.frombuffer(region.data, dtype=np.uint8)
        offsets = unique[inside] - region.address
        before = np.where(np.greater(offsets, 0), buf[np.maximum(offsets - 1, 0)], 0xCC)
        padded = np.isin(before, (0xC3, 0xCC, 0x90, 0x00))
        endbr = np.zeros(offsets.shape, dtype=bool)
        room = np.less_equal(offsets + 4, buf.size)
        if room.any():
            o = offsets[room]
            endbr[room] = (np.equal(buf[o], 0xF3) & np.equal(buf[o + 1], 0x0F) & np.equal(buf[o + 2], 0x1E)
                           & np.equal(buf[o + 3], 0xFA))
        idx = np.flatnonzero(inside)
        keep[idx] = padded | endbr
    return {int(x) for x in unique[keep]}


# --- unwind tables -----------------------------------------------------------------------------------------------

def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return result, pos


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    byte = 0x80
    while pos < len(data) and byte & 0x80:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
    if byte & 0x40:
        result -= 1 << shift
    return result, pos


_FIXED = {0x02: ("H", 2), 0x03: ("I", 4), 0x04: ("Q", 8), 0x0A: ("h", 2), 0x0B: ("i", 4), 0x0C: ("q", 8)}


def _read_encoded(data: bytes, pos: int, encoding: int, pointer_size: int, endian: str) -> tuple[int, int]:
    fmt = encoding & 0x0F
    if fmt == 0x00:
        fmt = 0x04 if pointer_size == 8 else 0x03
    if fmt == 0x01:
        return _uleb(data, pos)
    if fmt == 0x09:
        return _sleb(data, pos)
    code, size = _FIXED[fmt]
    (value,) = struct.unpack_from(endian + code, data, pos)
    return value, pos + size


def eh_frame_functions(data: bytes, address: int, pointer_size: int, *, little_endian: bool = True,
                       limit: int = 1_000_000) -> list[FunctionStart]:
    """FDE ranges from an ``.eh_frame`` section at ``address``; a malformed entry ends the walk, never raises."""
    endian = "<" if little_endian else ">"
    out: list[FunctionStart] = []
    cie_encodings: dict[int, int] = {}
    pos = 0
    mask = (1 << (pointer_size * 8)) - 1
    try:
        while pos + 8 <= len(data) and len(out) < limit:
            (length,) = struct.unpack_from(endian + "I", data, pos)
            if length == 0:
                break
            header = 4
            if length == 0xFFFFFFFF:
                (length,) = struct.unpack_from(endian + "Q", data, pos + 4)
                header = 12
            start = pos + header
            end = start + length
            if end > len(data):
                break
            (cie_id,) = struct.unpack_from(endian + "I", data, start)
            if cie_id == 0:
                cie_encodings[pos] = _cie_fde_encoding(data, start + 4, end, pointer_size, endian)
            else:
                cie_pos = start - cie_id
                encoding = cie_encodings.get(cie_pos)
                if encoding is None:
                    encoding = _cie_fde_encoding(data, cie_pos + 8, len(data), pointer_size, endian)
                field = start + 4
                begin, nxt = _read_encoded(data, field, encoding, pointer_size, endian)
                if encoding & 0x70 == 0x10:  # pc-relative
                    begin = (begin + address + field) & mask
                size, _ = _read_encoded(data, nxt, encoding & 0x0F, pointer_size, endian)
                if begin and size:
                    out.append(FunctionStart(begin, "fde", size=size))
            pos = end
    except (struct.error, KeyError, IndexError):
        pass
    return out


def _cie_fde_encoding(data: bytes, pos: int, end: int, pointer_size: int, endian: str) -> int:
    version = data[pos]
    pos += 1
    nul = data.index(b"\0", pos, end)
    augmentation = data[pos:nul].decode("ascii", "replace")
    pos = nul + 1
    if version >= 4:
        pos += 2
    _, pos = _uleb(data, pos)
    _, pos = _sleb(data, pos)
    if version == 1:
        pos += 1
    else:
        _, pos = _uleb(data, pos)
    encoding = 0x00
    if augmentation.startswith("z"):
        _, pos = _uleb(data, pos)
        for letter in augmentation[1:]:
            if letter == "R":
                encoding = data[pos]
                pos += 1
            elif letter == "L":
                pos += 1
            elif letter == "P":
                personality_encoding = data[pos]
                _, pos = _read_encoded(data, pos + 1, personality_encoding, pointer_size, endian)
    return encoding


def pdata_functions(data: bytes, image_base: int) -> list[FunctionStart]:
    """RUNTIME_FUNCTION entries of a PE exception directory (x64, ARM64 packed entries give starts only)."""
    out: list[FunctionStart] = []
    for offset in range(0, len(data) - 11, 12):
        begin, end, _ = struct.unpack_from("<III", data, offset)
        if begin == 0 and end == 0:
            break
        out.append(FunctionStart(image_base + begin, "pdata", size=max(end - begin, 0)))
    return out


# --- assembling the function table --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Function:
    name: str
    address: int
    size: int
    sources: tuple[str, ...]


def assemble(starts: Iterable[FunctionStart], regions: Sequence[CodeRegion] | RegionIndex) -> list[Function]:
    """One function per start in executable code.

    A sized start (symbol, FDE, pdata) keeps its size; an unsized one runs to the next start or the end of its
    region. A start inside a sized function is part of it, not a new function.
    """
    index_of = _index(regions)
    by_address: dict[int, list[FunctionStart]] = {}
    for start in starts:
        if index_of.find(start.address) is not None:
            by_address.setdefault(start.address, []).append(start)
    addresses = sorted(by_address)
    functions: list[Function] = []
    covered_until = -1
    for index, address in enumerate(addresses):
        entries = by_address[address]
        # most addresses have one start; the generic path (max, sets, sorts) made this loop a third of a scan
        single = entries[0] if len(entries) == 1 else None
        sized = single.size if single is not None else max(e.size for e in entries)
        if address < covered_until and not (single.name if single is not None else any(e.name for e in entries)):
            continue
        region = index_of.find(address)
        assert region is not None
        if sized == 0:
            nxt = addresses[index + 1] if index + 1 < len(addresses) else region.end
            sized = min(nxt, region.end) - address
        sized = min(sized, region.end - address)
        if single is not None:
            name = single.name or f"sub_{address:x}"
            sources: tuple[str, ...] = (single.source,)
        else:
            names = sorted({e.name for e in entries if e.name})
            name = names[0] if names else f"sub_{address:x}"
            sources = tuple(sorted({e.source for e in entries}))
        functions.append(Function(name, address, sized, sources))
        covered_until = max(covered_until, address + sized)
    return functions


def function_bytes(regions: Sequence[CodeRegion] | RegionIndex, address: int, size: int) -> bytes | None:
    """The bytes of a function; build a ``RegionIndex`` once when looking up many."""
    region = _index(regions).find(address)
    if region is None:
        return None
    offset = address - region.address
    if offset + size > len(region.data):
        return None
    return region.data[offset : offset + size]
