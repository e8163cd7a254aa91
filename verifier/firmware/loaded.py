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
``e_shnum``, ``e_shstrndx``; PE ``NumberOfSections``, ``TimeDateStamp`` (strip writes the time it ran), the COFF
symbol-table pointer and count, the "stripped" characteristics bits, ``SizeOfHeaders``, ``SizeOfImage``,
``CheckSum`` and the section table (compared field by field instead, without file offsets).

This module declares (``declare``: pieces and their digests); ``loaded_view`` reads the ranges and tables from an
ELF or PE image; ``loaded_compare`` judges an image by a declaration.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from verifier.firmware.loaded_view import Range, view_of
from verifier.firmware.loader import Image

CHUNK = 4096
#: hex digits kept per piece: they only locate a change; the range's full sha256 decides whether there is one
PIECE_HEX = 16


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
