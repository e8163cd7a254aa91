"""The inventory of a Mach-O image: header, segments, sections and function starts."""

from __future__ import annotations

from typing import Any

from verifier.firmware import functions as fn
from verifier.firmware.image_facts import RangeDigests, enum_name, function_table, hexaddr, sha256
from verifier.firmware.loader import Image


def macho_predicate(image: Image) -> tuple[dict[str, Any], list[fn.CodeRegion]]:
    b = image.binary
    data = image.data
    arch = {"X86_64": "x86_64", "ARM64": "aarch64", "X86": "x86", "ARM": "arm"}.get(
        enum_name(b.header.cpu_type), enum_name(b.header.cpu_type).lower())
    sections: list[dict[str, Any]] = []
    regions: list[fn.CodeRegion] = []
    digests = RangeDigests(image)
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
        "functions": function_table(starts, regions),
        "layout": {"rwx": [], "executable_stack": None, "uncovered_code": []}, "sbat": None,
        "overlay": {"offset": hexaddr(len(data)), "size": 0, "sha256": None, "entropy": 0.0, "known_trailers": []},
    }
    return predicate, regions
