"""Judging an image by the loaded bytes its manifest declares: which ranges, pieces, header fields, layout entries
and control-flow tables changed, named by the declared function, padding, object or table that holds them."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

from verifier.declared.fields import JsonObject
from verifier.declared.firmware_manifest import json_hex, json_int, json_items, json_list, json_part, json_texts
from verifier.firmware.loaded import PIECE_HEX, Cuts, declared_ranges, piece_digests
from verifier.firmware.loaded_view import MAX_RANGES, PE_CONTROL_DIRECTORIES, PE_DIRECTORIES, Range, View, view_of
from verifier.firmware.loader import Image
from verifier.model import Finding, failed, passed, skipped

MAX_LISTED = 50
_HEADER_TABLES = {"ELF header", "program headers", "PE headers"}
BYTE_EXACT, FUNCTION_LEVEL = "byte-exact", "function-level"


class _Listed:
    def __init__(self) -> None:
        self.items: list[dict[str, object]] = []
        self.count = 0

    def add(self, item: dict[str, object]) -> None:
        self.count += 1
        if len(self.items) < MAX_LISTED:
            self.items.append(item)


class _Spans:
    """Named address spans, for 'which declared thing holds this address' in O(log n)."""

    def __init__(self, items: Iterable[JsonObject]) -> None:
        pairs = sorted((json_hex(i["address"]), json_int(i.get("size") or 0), n, i) for n, i in enumerate(items)
                       if i.get("address") is not None)
        self.starts = [p[0] for p in pairs]
        self.items = pairs

    def holding(self, address: int) -> JsonObject | None:
        i = bisect.bisect_right(self.starts, address) - 1
        # spans may nest (a table inside a section, a symbol inside a symbol): look back a little
        for j in range(i, max(i - 64, -1), -1):
            start, size, _, item = self.items[j]
            if start <= address < start + size:
                return item
        return None

    def before(self, address: int) -> JsonObject | None:
        i = bisect.bisect_right(self.starts, address) - 1
        return self.items[i][3] if i >= 0 else None

    def after(self, address: int) -> JsonObject | None:
        i = bisect.bisect_right(self.starts, address)
        return self.items[i][3] if i < len(self.items) else None


def comparison_mode(reference: JsonObject) -> str:
    """Byte-exact whenever the reference declares its loaded bytes: the image's own layout never chooses."""
    return BYTE_EXACT if isinstance(reference.get("loaded"), Mapping) else FUNCTION_LEVEL


def compare_loaded(ref: JsonObject, image: Image, predicate: JsonObject, *, label: str,
                   subject: str) -> list[Finding]:
    mode = comparison_mode(ref)
    if mode == FUNCTION_LEVEL or image.kind not in ("elf", "pe"):
        why = (f"the {label} declares functions, not loaded bytes" if mode == FUNCTION_LEVEL
               else f"a {image.kind} image is compared by its functions")
        return [passed("firmware.comparison-mode", f"function-level: {why}; bytes outside declared functions "
                       "(data, padding) are not compared", subject, mode=FUNCTION_LEVEL, reference=label),
                skipped("firmware.loaded-bytes", f"function-level comparison: {why}", subject, required=False)]
    declaration = json_part(ref, "loaded")  # an object: comparison_mode said so
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
            spans["functions"] = _Spans(json_items(ref, "functions"))
            spans["tables"] = _Spans(json_items(declaration, "tables"))
            spans["sections"] = _Spans([s for s in json_items(ref, "sections") if "alloc" in json_texts(s, "flags")
                                        or ref.get("format") == "pe"])
            spans["symbols"] = _Spans([*json_items(declaration, "objects"), *json_items(ref, "functions")])
        return spans[kind]

    changed_functions, undeclared, data, ranges = _Listed(), _Listed(), _Listed(), _Listed()
    mask = [(json_int(a), json_int(b)) for a, b in (json_list(pair, "mask") for pair in
                                                     json_list(declaration.get("mask", []), "mask"))]
    compared = 0
    hex_len = json_int(declaration.get("piece_digest_hex", PIECE_HEX))
    for declared, entry in zip(declared_ranges(declaration), json_items(declaration, "ranges"), strict=True):
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
            item: dict[str, object] = {"address": f"{address:#x}", "size": size, "range": declared.name}
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
                floor = json_hex(section["address"]) if section is not None else declared.address
                if near is not None and json_hex(near["address"]) >= floor:
                    offset = address - json_hex(near["address"])
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
        out.append(passed("firmware.loaded-bytes", f"all {len(json_items(declaration, 'ranges'))} loaded ranges "
                          f"({compared} bytes) are identical to the {label}", subject, bytes=compared))
    return out


def _executable(section: JsonObject | None, declared: Range) -> bool:
    if section is not None:
        return "exec" in json_texts(section, "flags") or "code" in json_texts(section, "flags")
    return "x" in declared.flags


def _compare_layout(declaration: JsonObject, view: View) -> tuple[_Listed, _Listed]:
    flags, layout = _Listed(), _Listed()

    def keyed(entries: Iterable[JsonObject]) -> dict[tuple[str, str], JsonObject]:
        # a repeated key (a second LOAD at the same address, a second ".text") gets an ordinal: it must not vanish
        out: dict[tuple[str, str], JsonObject] = {}
        for entry in entries:
            base = (str(entry.get("type")), str(entry.get("name") or entry.get("address")))
            key, ordinal = base, 1
            while key in out:
                key, ordinal = (base[0], f"{base[1]}#{ordinal}"), ordinal + 1
            out[key] = entry
        return out

    declared = keyed(json_items(declaration, "layout"))
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


def _compare_header(declaration: JsonObject, view: View) -> tuple[_Listed, _Listed]:
    control, layout = _Listed(), _Listed()
    declared = json_part(declaration, "header")
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
                    label = PE_DIRECTORIES[index] if index < len(PE_DIRECTORIES) else f"directory {index}"
                    target = control if index in PE_CONTROL_DIRECTORIES else layout
                    target.add({"table": f"data directory: {label}", "where": f"data directory: {label}",
                                "change": "value", "kind": label, "declared": a, "actual": b})
        else:
            layout.add({"where": f"header {name}", "change": "value", "declared": was, "actual": now})
    return control, layout


def _compare_relocations(declaration: JsonObject, view: View, control: _Listed) -> None:
    declared = {(str(r["target"]), str(r["section"])): r for r in json_items(declaration, "relocations")}
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


def _neighbours(item: Mapping[str, object]) -> str:
    """'A and B' of an undeclared range's ``between``: the declared functions before and after it (or None)."""
    before, after = json_list(item["between"], "between")
    return f"{before} and {after}"


def _findings(label: str, subject: str, *, flags: _Listed, layout: _Listed, header_layout: _Listed,
              control: _Listed, changed_functions: _Listed, undeclared: _Listed, data: _Listed) -> list[Finding]:
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
        text = ", ".join(f"{i['address']} ({i['size']} bytes, between {_neighbours(i)})" for i in undeclared.items[:3])
        out.append(failed("firmware.undeclared-code", f"{undeclared.count} changed executable range(s) outside "
                          f"every declared function: {text}", subject, regions=undeclared.items,
                          count=undeclared.count, reference=label))
    if data.count:
        text = ", ".join(f"{i['address']}" + (f" ({i['symbol']})" if "symbol" in i else "")
                         + (f" in {i['section']}" if "section" in i else "") for i in data.items[:4])
        out.append(failed("firmware.changed-data", f"{data.count} changed data range(s): {text}", subject,
                          regions=data.items, count=data.count, reference=label))
    return out
