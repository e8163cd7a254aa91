"""The inventory of a PE image (and of a UEFI terse executable, TE): headers, sections, imports, exports,
Authenticode table, function starts and the overlay after the image."""

from __future__ import annotations

import struct
from typing import Any

from verifier.firmware import functions as fn
from verifier.firmware.authenticode import read_authenticode
from verifier.firmware.executables import pe_directory
from verifier.firmware.image_facts import RangeDigests, entropy, enum_name, function_table, hexaddr, sha256, text
from verifier.firmware.loaded_view import coff_long_names
from verifier.firmware.loader import Image

_PE_EXEC, _PE_READ, _PE_WRITE, _PE_CODE, _PE_DISCARDABLE = 0x20000000, 0x40000000, 0x80000000, 0x20, 0x02000000
_PE_ARCH = {"AMD64": "x86_64", "I386": "x86", "ARM64": "aarch64", "ARM": "arm", "ARMNT": "arm", "THUMB": "arm",
             "RISCV64": "riscv", "RISCV32": "riscv"}


def pe_predicate(image: Image) -> tuple[dict[str, Any], list[fn.CodeRegion]]:
    b = image.binary
    data = image.data
    base = b.optional_header.imagebase
    arch = _PE_ARCH.get(enum_name(b.header.machine), enum_name(b.header.machine).lower())
    sections: list[dict[str, Any]] = []
    regions: list[fn.CodeRegion] = []
    digests = RangeDigests(image)
    long_names = coff_long_names(b, data)
    for s in b.sections:
        chars = int(s.characteristics)
        raw_size = min(s.sizeof_raw_data, s.virtual_size) if s.virtual_size else s.sizeof_raw_data
        digest = digests.of(s.offset, raw_size)
        content = digest[0] if digest else b""
        flags = [name for bit, name in ((_PE_READ, "read"), (_PE_WRITE, "write"), (_PE_EXEC, "exec"),
                                        (_PE_CODE, "code"), (_PE_DISCARDABLE, "discardable")) if chars & bit]
        sections.append({
            "name": long_names.get(text(s.name), text(s.name)), "address": hexaddr(base + s.virtual_address),
            "size": s.virtual_size,
            "raw_size": s.sizeof_raw_data, "offset": hexaddr(s.offset), "flags": flags,
            "sha256": digest[1] if digest else None, "entropy": digest[2] if digest else 0.0,
        })
        if chars & (_PE_EXEC | _PE_CODE) and content:
            regions.append(fn.CodeRegion(text(s.name), base + s.virtual_address, content))
    entry = base + b.optional_header.addressof_entrypoint if b.optional_header.addressof_entrypoint else None
    exports: list[dict[str, Any]] = []
    if b.has_exports:
        exports = sorted(({"name": text(e.name or f"#{e.ordinal}"), "address": hexaddr(base + e.address)}
                          for e in b.get_export().entries), key=lambda e: (e["name"], e["address"]))
    imports = sorted(({"library": text(imp.name).lower(), "name": text(e.name or f"#{e.ordinal}")}
                      for imp in b.imports for e in imp.entries), key=lambda e: (e["library"], e["name"]))
    constructors = []
    if b.has_tls:
        constructors = [{"kind": "tls_callback", "index": i, "address": hexaddr(v)}
                        for i, v in enumerate(b.tls.callbacks) if v]
    starts: list[fn.FunctionStart] = []
    for symbol in b.symbols:
        if symbol.is_function and 0 < symbol.section_idx <= len(b.sections):
            section = b.sections[symbol.section_idx - 1]
            starts.append(fn.FunctionStart(base + section.virtual_address + symbol.value, "symbol",
                                          text(symbol.name)))
    exception_rva, exception_size = pe_directory(b, 3)
    if exception_rva and exception_size:
        offset = b.rva_to_offset(exception_rva)
        starts += fn.pdata_functions(data[offset : offset + exception_size], base)
    starts += [fn.FunctionStart(int(str(e["address"]), 16), "export", str(e["name"])) for e in exports]
    starts += [fn.FunctionStart(int(str(c["address"]), 16), "constructor") for c in constructors]
    if entry is not None:
        starts.append(fn.FunctionStart(entry, "entry"))
    starts += [fn.FunctionStart(t, "call") for t in fn.call_targets(regions, arch)]

    authenticode = read_authenticode(data)
    trailers: list[tuple[str, int]] = []
    if authenticode.has_table and authenticode.table_offset + authenticode.table_size == len(data):
        trailers.append(("certificate-table", authenticode.table_size))
    symbol_table = b.header.pointerto_symbol_table
    if symbol_table:
        strings_at = symbol_table + b.header.numberof_symbols * 18
        if strings_at + 4 <= len(data):
            (strings_size,) = struct.unpack_from("<I", data, strings_at)
            coff_end = strings_at + strings_size
            if coff_end <= len(data) - sum(size for _, size in trailers):
                trailers.insert(0, ("coff-symbol-table", coff_end - symbol_table))
    image_end = max([b.sizeof_headers] + [s.offset + s.sizeof_raw_data for s in b.sections])
    overlay = _overlay_pe(data, image_end, trailers, authenticode)
    sbat_section = b.get_section(".sbat")
    sbat = None
    if sbat_section is not None:
        sbat = bytes(sbat_section.content).split(b"\0", 1)[0].decode("utf-8", "replace")
    predicate: dict[str, Any] = {
        "format": "pe",
        "architecture": arch,
        "bits": 64 if enum_name(b.optional_header.magic) == "PE32_PLUS" else 32,
        "subsystem": enum_name(b.optional_header.subsystem).lower(),
        "image_base": hexaddr(base),
        "entry_point": hexaddr(entry) if entry is not None else None,
        "sections": sections,
        "segments": [],
        "exports": exports,
        "imports": imports,
        "libraries": sorted({text(imp.name).lower() for imp in b.imports}),
        "constructors": constructors,
        "functions": function_table(starts, regions),
        "layout": {
            "rwx": sorted(f"section {s['name']}" for s in sections if {"write", "exec"} <= set(s["flags"])),
            "executable_stack": None,
            "uncovered_code": [],
        },
        "sbat": sbat,
        "authenticode": {
            "sha256": authenticode.sha256,
            "certificate_table": {"offset": hexaddr(authenticode.table_offset), "size": authenticode.table_size},
            "signers": [s.signer.to_json() for s in authenticode.signatures if s.signer is not None],
            "signatures": len(authenticode.signatures),
            "parse_errors": list(authenticode.parse_errors),
        },
        "overlay": overlay,
    }
    return predicate, regions


def _overlay_pe(data: bytes, image_end: int, trailers: list[tuple[str, int]], authenticode: Any) -> dict[str, Any]:
    # The certificate table and COFF symbols may sit anywhere after the sections; cut them out wherever they are.
    cut: list[tuple[int, int, str]] = []
    if authenticode.has_table:
        cut.append((authenticode.table_offset, authenticode.table_offset + authenticode.table_size,
                    "certificate-table"))
    rest = bytearray()
    known: list[str] = []
    pos = image_end
    for start, end, name in sorted(cut):
        if start >= pos:
            rest += data[pos:start]
            pos = max(pos, end)
            known.append(name)
    rest += data[pos:]
    coff = next((size for name, size in trailers if name == "coff-symbol-table"), 0)
    if coff and len(rest) >= coff:
        rest = rest[coff:]
        known.append("coff-symbol-table")
    blob = bytes(rest)
    if blob and len(blob) < 512 and not blob.strip(b"\x00"):
        known.append("zero-padding")
        blob = b""
    return {"offset": hexaddr(min(image_end, len(data))), "size": len(blob),
            "sha256": sha256(blob) if blob else None, "entropy": entropy(blob), "known_trailers": sorted(known)}





_TE_HEADER = struct.Struct("<2sHBBHIIQ")
_TE_MACHINES = {0xAA64: "aarch64", 0x8664: "x86_64", 0x014C: "x86", 0x01C2: "arm", 0x01C4: "arm", 0x5064: "riscv"}


def te_predicate(image: Image) -> tuple[dict[str, Any], list[fn.CodeRegion]]:
    """A TE image is a PE with most of its headers stripped; LIEF does not read it, so it is read here."""
    data = image.data
    predicate: dict[str, Any] = {"format": "te", "sections": [], "functions": [], "constructors": [],
                                 "exports": [], "imports": [], "entry_point": None}
    if len(data) < 40:
        return predicate, []
    _, machine, count, subsystem, stripped, entry, _, base = _TE_HEADER.unpack_from(data, 0)
    arch = _TE_MACHINES.get(machine, f"{machine:#06x}")
    sections: list[dict[str, Any]] = []
    regions: list[fn.CodeRegion] = []
    for index in range(min(count, 96)):
        at = 40 + index * 40
        if at + 40 > len(data):
            break
        raw_name, virtual_size, rva, raw_size, raw_pointer = struct.unpack_from("<8sIIII", data, at)
        (chars,) = struct.unpack_from("<I", data, at + 36)
        offset = raw_pointer - stripped + 40
        content = data[offset : offset + min(raw_size, virtual_size or raw_size)] if offset >= 0 else b""
        name = raw_name.rstrip(b"\0").decode("ascii", "replace")
        flags = [label for bit, label in ((_PE_READ, "read"), (_PE_WRITE, "write"), (_PE_EXEC, "exec"),
                                          (_PE_CODE, "code")) if chars & bit]
        sections.append({"name": name, "address": hexaddr(base + rva), "size": virtual_size, "raw_size": raw_size,
                         "offset": hexaddr(max(offset, 0)), "flags": flags, "sha256": sha256(content),
                         "entropy": entropy(content)})
        if chars & (_PE_EXEC | _PE_CODE) and content:
            regions.append(fn.CodeRegion(name, base + rva, content))
    entry_address = base + entry if entry else None
    starts = [fn.FunctionStart(t, "call") for t in fn.call_targets(regions, arch)]
    if entry_address is not None:
        starts.append(fn.FunctionStart(entry_address, "entry"))
    predicate.update({
        "architecture": arch, "subsystem": subsystem, "image_base": hexaddr(base),
        "entry_point": hexaddr(entry_address) if entry_address is not None else None,
        "sections": sections, "functions": function_table(starts, regions),
        "layout": {"rwx": sorted(f"section {s['name']}" for s in sections if {"write", "exec"} <= set(s["flags"])),
                   "executable_stack": None, "uncovered_code": []},
    })
    return predicate, regions
