"""Judging a raw image (``objcopy -O binary``) against the layout its ELF declares, byte for byte.

The layout is a fact of the build (``verifier.firmware.raw_image``); this module says whether the shipped bytes are
that layout: each section's bytes at its offset, the fill in every gap, and nothing after the last section.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from verifier.declared.fields import JsonObject, JsonValue
from verifier.declared.firmware_manifest import json_int, json_list, json_texts
from verifier.firmware.raw_image import block_digest
from verifier.model import Finding, failed, passed, warned


def pin(raw_layout: JsonObject, data: bytes, findings: Sequence[Finding]) -> dict[str, JsonValue]:
    """The layout with the raw image's exact size, digest, gap fill and left-out sections, once ``compare``
    found that it matches the build (``findings`` are that comparison's)."""
    layout_finding = next(f for f in findings if f.check == "firmware.raw-layout")
    return {**raw_layout, "image_size": len(data), "image_sha256": hashlib.sha256(data).hexdigest(),
            "gap_fill": layout_finding.evidence["gap_fill"], "omitted": list(layout_finding.evidence["omitted"])}


def _changed_blocks(section: JsonObject, data: bytes, offset: int, block: int) -> list[int]:
    """Offsets (within the section) of the blocks whose digest differs; the part past the file counts as changed."""
    changed = []
    size = json_int(section["size"])
    for index, digest in enumerate(json_list(section.get("blocks") or [], "blocks")):
        start = index * block
        chunk = data[offset + start : offset + min(start + block, size)]
        if len(chunk) < min(block, size - start) or block_digest(chunk) != digest:
            changed.append(start)
    return changed


def _span(section: JsonObject) -> tuple[int, int]:
    offset = int(str(section["offset"]), 16)
    return offset, offset + json_int(section["size"])


def _sections(raw_layout: JsonObject) -> list[JsonObject]:
    sections = json_list(raw_layout["sections"], "raw_image.sections")
    if not all(isinstance(section, Mapping) for section in sections):
        raise TypeError("'raw_image.sections' is not a list of objects")
    return [section for section in sections if isinstance(section, Mapping)]


@dataclass
class _Sorted:
    """The declared sections, sorted by what the raw image holds where each one belongs."""

    present: list[JsonObject]
    changed: list[JsonObject]
    blank: list[JsonObject]
    beyond: list[JsonObject]
    cut: JsonObject | None
    fill: int


def _sort(raw_layout: JsonObject, data: bytes) -> _Sorted:
    sections = sorted(_sections(raw_layout), key=_span)
    present: list[JsonObject] = []
    candidates: list[JsonObject] = []
    beyond: list[JsonObject] = []
    cut: JsonObject | None = None
    for section in sections:
        start, end = _span(section)
        if start >= len(data):
            beyond.append(section)
        elif hashlib.sha256(data[start:end]).hexdigest() == section["sha256"]:
            present.append(section)
        else:
            candidates.append(section)
            if end > len(data):
                cut = cut or section
    declared = raw_layout.get("gap_fill")
    fill = json_int(declared) if declared is not None else _guess_fill(present, candidates, data)
    blank = [s for s in candidates if s is not cut and not data[slice(*_span(s))].strip(bytes([fill]))]
    changed = [s for s in candidates if not any(s is b for b in blank)]
    return _Sorted(present, changed, blank, beyond, cut, fill)


def _guess_fill(present: Sequence[JsonObject], candidates: Sequence[JsonObject], data: bytes) -> int:
    """objcopy fills gaps with zeros, or --gap-fill's byte (U-Boot: 0xff); only those two are accepted."""
    position = 0
    for section in sorted(present, key=_span):
        start, end = _span(section)
        if start > position:
            return 0xFF if data[position] == 0xFF else 0
        position = max(position, end)
    first = next((data[_span(s)[0]] for s in candidates if _span(s)[0] < len(data)), 0)
    return 0xFF if first == 0xFF else 0


def compare(raw_layout: JsonObject, data: bytes, *, label: str, subject: str) -> list[Finding]:
    """Judge a raw image against the ELF layout of its manifest: every byte is a section's, or gap fill."""
    base = int(str(raw_layout["base"]), 16)
    block = json_int(raw_layout["block_size"])
    if block <= 0:
        raise ValueError(f"raw_image block_size {block} is not positive")
    found = _sort(raw_layout, data)
    changed: list[dict[str, object]] = []
    for section in found.changed:
        start, _ = _span(section)
        blocks = _changed_blocks(section, data, start, block)
        first = blocks[0] if blocks else 0
        changed.append({"section": section["name"], "segment": section.get("segment"),
                        "raw_offset": f"{start + first:#x}", "load_address": f"{base + start + first:#x}",
                        "changed_blocks": len(blocks), "block_size": block,
                        "changed_offsets": [f"{start + b:#x}" for b in blocks[:16]]})
    gaps = _gap_bytes(found.present + found.changed, data, found.fill, base)
    out: list[Finding] = []
    if changed or gaps:
        where = ""
        if changed:
            head = changed[0]
            where = (f"section {head['section']} ({head['segment']}) differs from the {label} at raw offset "
                     f"{head['raw_offset']} (load address {head['load_address']}, first changed block of "
                     f"{block} bytes)")
        if gaps:
            where += ("; " if where else "") + (f"bytes other than the gap fill {found.fill:#04x} "
                                                f"{gaps[0]['between']} at raw offset {gaps[0]['raw_offset']}")
        out.append(failed("firmware.changed-code", f"the raw image is not the {label}'s ELF laid out by load "
                                                   f"address: {where}", subject,
                          sections=changed[:50], gaps=gaps[:50], reference=label))
    else:
        out.append(passed("firmware.changed-code", f"{len(found.present)} ELF sections match the raw image byte for "
                                                   f"byte at their load-address offsets; gaps hold only "
                                                   f"{found.fill:#04x}", subject, sections=len(found.present)))
    out.append(_judge_size(raw_layout, data, found, label, subject))
    pinned_digest = raw_layout.get("image_sha256")
    if pinned_digest and not changed and not gaps and hashlib.sha256(data).hexdigest() != pinned_digest:
        out.append(failed("firmware.changed-code", f"the raw image differs from the one the {label} was signed for",
                          subject, declared=pinned_digest))
    return out


def _gap_bytes(occupied: Sequence[JsonObject], data: bytes, fill: int, base: int) -> list[dict[str, object]]:
    """Bytes other than the fill between the sections that are there (a left-out section is gap too)."""
    gaps: list[dict[str, object]] = []
    position, previous = 0, "the start"
    for section in sorted(occupied, key=_span):
        start, end = _span(section)
        if start > position:
            chunk = data[position:start]
            rest = chunk.lstrip(bytes([fill]))
            if rest:
                at = position + len(chunk) - len(rest)
                gaps.append({"between": f"between {previous} and {section['name']}", "raw_offset": f"{at:#x}",
                             "load_address": f"{base + at:#x}", "gap_size": start - position})
        position = max(position, end)
        previous = str(section["name"])
    return gaps


def _judge_size(raw_layout: JsonObject, data: bytes, found: _Sorted, label: str, subject: str) -> Finding:
    size = len(data)
    occupied = found.present + found.changed
    last = max((_span(s)[1] for s in occupied), default=0)
    left_out = [str(s["name"]) for s in sorted(found.blank + found.beyond, key=_span)]
    evidence = {"size": size, "sections_end": f"{last:#x}", "omitted": left_out, "gap_fill": found.fill}
    pinned = raw_layout.get("image_size")
    if pinned is not None and size != json_int(pinned):
        what = "trailing bytes" if size > json_int(pinned) else "truncated"
        return failed("firmware.raw-layout", f"the raw image is {size} bytes, the {label} declares {pinned} "
                                             f"({what})", subject, declared=json_int(pinned), **evidence)
    if found.cut is not None:
        return failed("firmware.raw-layout", f"the raw image ends at {size:#x}, inside section {found.cut['name']} "
                                             f"(truncated)", subject, **evidence)
    if size > last:
        return failed("firmware.raw-layout", f"{size - last} bytes after the last section the {label} places, "
                                             f"which ends at {last:#x} (trailing bytes)", subject, **evidence)
    dropped_code = [str(s["name"]) for s in found.blank + found.beyond if "exec" in json_texts(s, "flags")]
    if dropped_code:
        return failed("firmware.raw-layout", f"executable section(s) {', '.join(dropped_code)} of the {label} are "
                                             "not in the raw image", subject, **evidence)
    if "omitted" in raw_layout:
        declared_omitted = json_texts(raw_layout, "omitted")
        if sorted(declared_omitted) != sorted(left_out):
            return failed("firmware.raw-layout", f"the raw image leaves out {', '.join(left_out) or 'nothing'}, the "
                                                 f"{label} {', '.join(declared_omitted) or 'nothing'}", subject,
                          declared_omitted=declared_omitted, **evidence)
    elif left_out:
        # Without a pinned layout, a section left out by objcopy -j and one blanked by an attacker look alike.
        return warned("firmware.raw-layout", f"not in the raw image: {', '.join(left_out)} (objcopy -j leaves "
                                             f"sections out; the {label} does not pin which)", subject, **evidence)
    kept = f"; left out as declared: {', '.join(left_out)}" if left_out else ""
    return passed("firmware.raw-layout", f"{size} bytes: the {label}'s sections by load address{kept}", subject,
                  **evidence)
