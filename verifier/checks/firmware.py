"""Judging one analysed firmware image against its declared manifest and/or a baseline image.

Every check yields one finding per subject: a pass when nothing is wrong, otherwise a fail or warn whose
evidence lists the offending items (capped, with the full count). Without a reference (no manifest, no
baseline) only the checks that need none can fail; layout and capability facts then warn, because U-Boot,
OpenSBI and friends are RWX by design and only a change from what the vendor declared means something.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from verifier.checks.loaded_bytes import compare_loaded
from verifier.checks.raw_image import compare as compare_raw
from verifier.declared.fields import JsonObject
from verifier.declared.firmware_manifest import (
    json_float,
    json_hex,
    json_int,
    json_items,
    json_part,
    json_text,
    json_texts,
)
from verifier.errors import BadInputError
from verifier.firmware import functions as fn
from verifier.firmware.authenticode import read_authenticode
from verifier.firmware.capabilities import is_dangerous_import
from verifier.firmware.inventory import Analysis
from verifier.firmware.limits import LimitEvent
from verifier.model import Finding, Status, errored, failed, passed, skipped, warned

if TYPE_CHECKING:  # the certificates --trust-anchor loads (cryptography is imported where they are read)
    from cryptography.x509 import Certificate

MAX_LISTED = 50
EXECUTABLE_FORMATS = ("elf", "pe", "macho", "te")
# Entropy above which an executable section of this architecture looks packed or encrypted. Compressed RISC-V
# code and compressed kernels legitimately exceed 7.2, so the threshold only applies to a rise from the reference.
ENTROPY_THRESHOLD = {"riscv": 7.6, "arm": 7.4}
DEFAULT_ENTROPY_THRESHOLD = 7.2
ENTROPY_RISE = 0.3


def not_analysed(event: LimitEvent, subject: str) -> Finding:
    """The image was too large to analyse at all: inconclusive, never a pass."""
    return errored("firmware.limit", f"{subject} was not analysed: {event.detail}", subject, **event.to_json())


def judge_image(actual: Analysis, events: Sequence[LimitEvent], references: Sequence[tuple[str, JsonObject]],
                *, subject: str, anchors: Sequence[Certificate]) -> list[Finding]:
    """Every firmware finding for one analysed image, against each reference (``manifest``, ``baseline``) given."""
    findings: list[Finding] = [_loaded(actual, subject)]
    findings += [errored("firmware.limit", f"{event.limit} reached in {event.where}: {event.detail}", subject,
                         **event.to_json()) for event in events]
    findings += _standalone(actual, subject, anchors)
    if not references:
        findings += _unreferenced(actual, subject)
        if actual.predicate["format"] not in EXECUTABLE_FORMATS:
            findings.append(skipped("firmware.reference", f"a {actual.predicate['format']} image cannot be judged on "
                                    "its own; give --manifest or --baseline", subject))
    for label, reference in references:
        try:
            findings += compare(reference, actual, label=label, subject=subject)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # Only a hand-edited or foreign manifest gets here: our own always has every field.
            raise BadInputError(f"the {label} is not a well-formed firmware manifest ({exc.__class__.__name__}: "
                                f"{exc})") from exc
    return findings


def _loaded(actual: Analysis, subject: str) -> Finding:
    p = actual.predicate
    parts = [p["format"]]
    if p.get("architecture"):
        parts.append(str(p["architecture"]))
    if "functions" in p:
        parts.append(f"{len(p['functions'])} functions")
    if "modules" in p:
        parts.append(f"{len(p['modules'])} modules")
    if "embedded" in p:
        parts.append(f"{len(p['embedded'])} embedded images")
    return passed("firmware.load", f"parsed as {', '.join(parts)}", subject, format=p["format"])


class _Items:
    """Offending items of one check, listed up to MAX_LISTED with the full count."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self.count = 0

    def add(self, item: object) -> None:
        self.count += 1
        if len(self.items) < MAX_LISTED:
            self.items.append(item)

    def __bool__(self) -> bool:
        return self.count > 0


def _listed(items: _Items, key: str = "name") -> str:
    shown = [str(i.get(key, i)) if isinstance(i, dict) else str(i) for i in items.items[:5]]
    more = f" and {items.count - len(shown)} more" if items.count > len(shown) else ""
    return ", ".join(shown) + more


# --- checks that need no reference ------------------------------------------------------------------------------

def _standalone(actual: Analysis, subject: str, anchors: Sequence[Certificate]) -> list[Finding]:
    p = actual.predicate
    out: list[Finding] = []
    if p["format"] in EXECUTABLE_FORMATS:
        out.append(_entry_in_code(actual, subject))
    if p["format"] == "pe":
        out += _authenticode(actual, subject, anchors)
    return out


def _entry_in_code(actual: Analysis, subject: str) -> Finding:
    p, regions = actual.predicate, actual.regions
    entry = p.get("entry_point")
    if entry is None:
        return skipped("firmware.entry-point", "the image has no entry point", subject, required=False)
    virtual = p.get("entry_point_virtual")
    address = int(virtual or entry, 16)
    if any(r.contains(address) for r in regions):
        where = f" (physical; virtual {virtual})" if virtual else ""
        return passed("firmware.entry-point", f"entry point {entry}{where} is in executable code", subject)
    return failed("firmware.entry-point", f"entry point {entry} is outside every executable section", subject,
                  entry_point=entry)


def _authenticode(actual: Analysis, subject: str, anchors: Sequence[Certificate]) -> list[Finding]:
    facts = read_authenticode(actual.image.data, anchors)
    out: list[Finding] = []
    if anchors and not any(s.integrity_ok for s in facts.signatures):
        # --trust-anchor asks for a trusted signature: an unsigned or unreadable image has none.
        out.append(failed("firmware.authenticode-chain", "--trust-anchor requires a signature chaining to an "
                          "anchor, and the image has no valid signature" + ("" if facts.has_table else
                                                                            " (it is unsigned)"), subject))
    if facts.table_problems:
        out.append(failed("firmware.authenticode", "the certificate table holds more than the signatures: "
                          + facts.table_problems[0], subject, problems=list(facts.table_problems),
                          table_offset=f"{facts.table_offset:#x}", table_size=facts.table_size))
    if not facts.has_table:
        out.append(skipped("firmware.authenticode", "the PE has no certificate table (unsigned)", subject,
                           required=False, sha256=facts.sha256))
        return out
    if not facts.signatures:
        if facts.table_problems:
            return out
        # A table that is there but cannot be read is never reported as "unsigned".
        out.append(errored("firmware.authenticode",
                           "the certificate table is present but could not be parsed; signature state unknown",
                           subject, errors=list(facts.parse_errors)))
        return out
    for index, sig in enumerate(facts.signatures):
        who = sig.signer.subject if sig.signer else "unknown signer"
        evidence = {"index": index, "signer": who, "digest_algorithm": sig.digest_algorithm,
                    "signed_digest": sig.signed_digest, "image_digest": sig.image_digest}
        if sig.integrity_ok:
            out.append(passed("firmware.authenticode", f"signature {index} by {who} matches the image", subject,
                              **evidence))
        elif sig.signed_digest != sig.image_digest:
            out.append(failed("firmware.authenticode",
                              f"signature {index} by {who} does not match the image: it was modified after signing",
                              subject, **evidence))
        else:
            out.append(failed("firmware.authenticode", f"signature {index} by {who} is invalid: {sig.problem}",
                              subject, **evidence))
    if facts.parse_errors and not facts.table_problems:
        out.append(errored("firmware.authenticode", "part of the certificate table could not be parsed", subject,
                           errors=list(facts.parse_errors)))
    if not anchors:
        out.append(skipped("firmware.authenticode-chain", "no --trust-anchor given; signer trust not checked",
                           subject, required=False))
    elif any(s.integrity_ok for s in facts.signatures):
        trusted = [s for s in facts.signatures if s.trusted_by and s.integrity_ok]
        if trusted:
            out.append(passed("firmware.authenticode-chain",
                              f"signed by {trusted[0].signer.subject if trusted[0].signer else '?'}, "
                              f"which chains to trust anchor {trusted[0].trusted_by}", subject,
                              chain=list(trusted[0].chain)))
        else:
            out.append(failed("firmware.authenticode-chain", "no valid signature chains to a given trust anchor",
                              subject, chains=[list(s.chain) for s in facts.signatures]))
    return out


def _unreferenced(actual: Analysis, subject: str) -> list[Finding]:
    """Layout and capability facts without a reference: worth a look, not a verdict."""
    p = actual.predicate
    out: list[Finding] = []
    layout = p.get("layout") or {}
    if layout.get("uncovered_code"):
        out.append(failed("firmware.uncovered-code", "executable segment bytes that no section covers", subject,
                          regions=layout["uncovered_code"][:MAX_LISTED]))
    elif p["format"] == "elf":
        out.append(passed("firmware.uncovered-code", "every executable byte belongs to a section", subject))
    if layout.get("rwx"):
        out.append(warned("firmware.rwx", f"writable and executable: {', '.join(layout['rwx'][:5])} "
                                          "(no manifest or baseline to say whether that is by design)", subject,
                          regions=layout["rwx"]))
    if layout.get("executable_stack"):
        out.append(warned("firmware.exec-stack", "PT_GNU_STACK asks for an executable stack", subject))
    overlay = p.get("overlay") or {}
    if overlay.get("size"):
        out.append(warned("firmware.overlay", f"{overlay['size']} bytes of data after the image", subject,
                          **overlay))
    dangerous = sorted({i["name"] for i in p.get("imports", []) if is_dangerous_import(i["name"])})
    if dangerous:
        out.append(warned("firmware.import", f"imports {', '.join(dangerous[:8])}", subject, imports=dangerous))
    if p.get("strings"):
        rules = sorted({s["rule"] for s in p["strings"]})
        out.append(warned("firmware.capability", f"YARA matches: {', '.join(rules)}", subject,
                          matches=p["strings"][:MAX_LISTED]))
    return out


# --- comparison against a reference -------------------------------------------------------------------------------

def compare(reference: JsonObject, actual: Analysis, *, label: str, subject: str) -> list[Finding]:
    p = actual.predicate
    out: list[Finding] = []
    ref_file = json_part(reference, "file")
    act_file = p.get("file", {})
    if ref_file.get("sha256") and ref_file.get("sha256") == act_file.get("sha256"):
        out.append(passed("firmware.digest", f"identical to the {label} (sha256 {act_file['sha256'][:16]}...)",
                          subject, sha256=act_file["sha256"], reference=label))
    elif ref_file.get("sha256"):
        out.append(skipped("firmware.digest", f"bytes differ from the {label}; judged structurally below", subject,
                           required=False, declared=ref_file.get("sha256"), actual=act_file.get("sha256")))
    if p.get("format") == "raw" and reference.get("format") == "elf" and reference.get("raw_image"):
        # objcopy -O binary of the declared ELF (u-boot.bin from u-boot): judged byte for byte by load address.
        return out + compare_raw(json_part(reference, "raw_image"), actual.image.data, label=label, subject=subject)
    if reference.get("format") != p.get("format"):
        out.append(failed("firmware.format", f"the {label} declares {reference.get('format')}, "
                                             f"the image is {p.get('format')}", subject))
        return out
    out += _compare_image(reference, actual, label, subject)
    return out


def _compare_image(ref: JsonObject, actual: Analysis, label: str, subject: str) -> list[Finding]:
    fmt = actual.predicate["format"]
    if fmt in EXECUTABLE_FORMATS:
        return _compare_executable(ref, actual, label, subject)
    if fmt == "uefi-volume":
        return _compare_modules(ref, actual, label, subject)
    out: list[Finding] = []
    if "embedded" in ref or actual.children:
        out += _compare_embedded(ref, actual, label, subject)
    ref_digest = ref.get("sha256") or json_part(ref, "file").get("sha256")
    act_digest = actual.predicate.get("sha256") or actual.predicate.get("file", {}).get("sha256")
    if fmt == "raw" and ref_digest and ref_digest != act_digest and not actual.children:
        out.append(failed("firmware.changed-code", f"{fmt} image bytes differ from the {label}", subject,
                          declared=ref_digest, actual=act_digest))
    out += _compare_strings(ref, actual.predicate, label, subject)
    return out


def _compare_modules(ref: JsonObject, actual: Analysis, label: str, subject: str) -> list[Finding]:
    def key(m: JsonObject) -> tuple[str, int]:
        return (str(m.get("guid", "")), json_int(m.get("index", 0)))

    declared = {key(m): m for m in json_items(ref, "modules")}
    present: dict[tuple[str, int], tuple[JsonObject, Analysis]] = {}
    for module, child in zip(actual.predicate.get("modules", []), _sorted_children(actual), strict=False):
        present[key(module)] = (module, child)
    added, removed, changed = _Items(), _Items(), _Items()
    deeper: list[Finding] = []
    for k, (module, child) in sorted(present.items()):
        name = module.get("name") or module.get("guid")
        if k not in declared:
            added.add({"name": name, "guid": module["guid"], "sha256": module["sha256"]})
        elif declared[k].get("sha256") != module.get("sha256"):
            changed.add({"name": name, "guid": module["guid"], "declared": declared[k].get("sha256"),
                         "actual": module.get("sha256")})
            ref_image = json_part(declared[k], "image", falsy_is_empty=True)
            if ref_image.get("format") == child.predicate.get("format") in EXECUTABLE_FORMATS:
                deeper += _compare_executable(ref_image, child, label, f"{subject}:{name}")
    for k, module in sorted(declared.items()):
        if k not in present:
            removed.add({"name": module.get("name") or module.get("guid"), "guid": module.get("guid")})
    out: list[Finding] = []
    if added:
        out.append(failed("firmware.module", f"{added.count} module(s) not in the {label}: {_listed(added)}",
                          subject, added=added.items, count=added.count))
    if removed:
        out.append(failed("firmware.module", f"{removed.count} declared module(s) missing: {_listed(removed)}",
                          subject, removed=removed.items, count=removed.count))
    if changed:
        out.append(failed("firmware.module", f"{changed.count} module(s) differ from the {label}: {_listed(changed)}",
                          subject, changed=changed.items, count=changed.count))
    if not (added or removed or changed):
        out.append(passed("firmware.module", f"all {len(declared)} modules match the {label}", subject))
    return out + deeper


def _sorted_children(actual: Analysis) -> list[Analysis]:
    return sorted(actual.children, key=lambda c: (str(c.image.attributes.get("guid", "")),
                                                  int(c.image.attributes.get("index", 0))))


def _compare_embedded(ref: JsonObject, actual: Analysis, label: str, subject: str) -> list[Finding]:
    declared = {e.get("name"): e for e in json_items(ref, "embedded")}
    present = {e.get("name"): (e, child) for e, child in zip(actual.predicate.get("embedded", []),
                                                              actual.children, strict=False)}
    out: list[Finding] = []
    added = sorted(set(present) - set(declared), key=str)
    removed = sorted(set(declared) - set(present), key=str)
    if added:
        out.append(failed("firmware.embedded", f"embedded image(s) not in the {label}: {', '.join(map(str, added))}",
                          subject, added=added))
    if removed:
        out.append(failed("firmware.embedded", f"declared embedded image(s) missing: {', '.join(map(str, removed))}",
                          subject, removed=removed))
    same = 0
    for name in sorted(set(present) & set(declared), key=str):
        _, child = present[name]
        ref_image = json_part(declared[name], "image", falsy_is_empty=True)
        if ref_image.get("sha256") == child.predicate.get("sha256"):
            same += 1
            continue
        if ref_image.get("format") != child.predicate.get("format"):
            out.append(failed("firmware.embedded", f"embedded {name} was {ref_image.get('format')}, "
                                                   f"is {child.predicate.get('format')}", subject))
            continue
        out += _compare_image(ref_image, child, label, f"{subject}:{name}")
    if not added and not removed and same == len(declared):
        out.append(passed("firmware.embedded", f"all {same} embedded images match the {label}", subject))
    return out


def _declared_intervals(functions: Iterable[JsonObject]) -> tuple[list[int], list[int]]:
    pairs = sorted((json_hex(f["address"]), json_int(f["size"])) for f in functions)
    starts = [a for a, _ in pairs]
    ends: list[int] = []
    running = 0
    for a, size in pairs:
        running = max(running, a + max(size, 1))
        ends.append(running)
    return starts, ends


def _covered(address: int, starts: list[int], ends: list[int]) -> bool:
    i = bisect.bisect_right(starts, address) - 1
    return i >= 0 and address < ends[i]


def _compare_executable(ref: JsonObject, actual: Analysis, label: str, subject: str) -> list[Finding]:
    p = actual.predicate
    out: list[Finding] = []
    loaded = compare_loaded(ref, actual.image, p, label=label, subject=subject)
    # Every loaded byte identical: declared functions cannot differ, so they are not hashed one by one again.
    identical = any(f.check == "firmware.loaded-bytes" and f.status is Status.PASS for f in loaded)
    out += _compare_functions(ref, actual, label, subject, bytes_identical=identical)
    reported = {str(item["name"]) for f in out if f.check == "firmware.changed-function"
                for item in f.evidence.get("functions", [])}
    out += [_without_functions(f, reported) if f.check == "firmware.changed-function" else f for f in loaded]
    out = [f for f in out if f.check != "firmware.changed-function" or f.evidence.get("functions")]
    out += _compare_layout(ref, p, label, subject)
    out += _compare_entry(ref, p, label, subject)
    out += _compare_constructors(ref, p, label, subject)
    out += _compare_exports(ref, p, label, subject)
    out += _compare_imports(ref, p, label, subject)
    out += _compare_strings(ref, p, label, subject)
    out += _compare_sections(ref, p, label, subject)
    out += _compare_signatures(ref, p, label, subject)
    return out


def _without_functions(finding: Finding, reported: set[str]) -> Finding:
    """The byte-level changed-function finding, less the functions the function-level check already named."""
    items = [i for i in finding.evidence.get("functions", []) if str(i.get("name")) not in reported]
    if len(items) == len(finding.evidence.get("functions", [])):
        return finding
    return failed(finding.check, f"{len(items)} more changed byte range(s) inside declared functions: "
                  f"{', '.join(str(i['name']) for i in items[:5])}", finding.subject,
                  **{**finding.evidence, "functions": items, "count": len(items)})


def _compare_functions(ref: JsonObject, actual: Analysis, label: str, subject: str, *,
                       bytes_identical: bool = False) -> list[Finding]:
    declared = json_items(ref, "functions")
    changed, missing, hidden = _Items(), _Items(), _Items()
    regions = fn.RegionIndex(actual.regions)
    for function in [] if bytes_identical else declared:
        address, size = json_hex(function["address"]), json_int(function["size"])
        body = fn.function_bytes(regions, address, size)
        if body is None:
            missing.add({"name": function["name"], "address": function["address"]})
        elif hashlib.sha256(body).hexdigest() != function["sha256"]:
            changed.add({"name": function["name"], "address": function["address"], "size": size})
    starts, ends = _declared_intervals(declared)
    for function in actual.predicate.get("functions", []):
        if not _covered(int(function["address"], 16), starts, ends):
            hidden.add({"name": function["name"], "address": function["address"], "size": function["size"],
                        "sources": function["sources"]})
    out: list[Finding] = []
    if changed:
        out.append(failed("firmware.changed-function",
                          f"{changed.count} declared function(s) have different bytes: {_listed(changed)}", subject,
                          functions=changed.items, count=changed.count, reference=label))
    if missing:
        out.append(failed("firmware.missing-function",
                          f"{missing.count} declared function(s) are not in the image: {_listed(missing)}", subject,
                          functions=missing.items, count=missing.count, reference=label))
    if hidden:
        out.append(failed("firmware.hidden-function",
                          f"{hidden.count} function(s) found that the {label} does not declare: "
                          f"{_listed(hidden, 'address')}", subject, functions=hidden.items, count=hidden.count,
                          reference=label))
    if not (changed or missing or hidden):
        out.append(passed("firmware.functions",
                          f"{len(declared)} declared functions unchanged; every discovered function is declared",
                          subject, declared=len(declared), discovered=len(actual.predicate.get("functions", []))))
    return out


def _compare_layout(ref: JsonObject, p: JsonObject, label: str, subject: str) -> list[Finding]:
    out: list[Finding] = []
    ref_layout = json_part(ref, "layout", falsy_is_empty=True)
    layout = json_part(p, "layout", falsy_is_empty=True)
    declared_code = {u.get("sha256") for u in json_items(ref_layout, "uncovered_code")}
    new_code = [u for u in json_items(layout, "uncovered_code") if u.get("sha256") not in declared_code]
    if new_code:
        out.append(failed("firmware.uncovered-code",
                          f"{len(new_code)} executable region(s) outside every section, not in the {label}", subject,
                          regions=new_code[:MAX_LISTED]))
    else:
        out.append(passed("firmware.uncovered-code", f"no executable bytes outside sections beyond the {label}",
                          subject))
    new_rwx = sorted(set(json_texts(layout, "rwx")) - set(json_texts(ref_layout, "rwx")))
    if new_rwx:
        out.append(failed("firmware.rwx", f"writable and executable, unlike the {label}: {', '.join(new_rwx[:5])}",
                          subject, regions=new_rwx))
    else:
        by_design = json_texts(layout, "rwx")
        out.append(passed("firmware.rwx", f"no RWX region beyond the {label}"
                          + (f" ({len(by_design)} declared by design)" if by_design else ""), subject))
    if layout.get("executable_stack") and not ref_layout.get("executable_stack"):
        out.append(failed("firmware.exec-stack", f"the stack became executable (not in the {label})", subject))
    overlay = json_part(p, "overlay", falsy_is_empty=True)
    ref_overlay = json_part(ref, "overlay", falsy_is_empty=True)
    if overlay.get("size") and overlay.get("sha256") != ref_overlay.get("sha256"):
        out.append(failed("firmware.overlay", f"{overlay['size']} bytes appended after the image that the {label} "
                                              "does not have", subject, **overlay))
    else:
        out.append(passed("firmware.overlay", f"no data after the image beyond the {label}", subject))
    return out


def _section_of(sections: Iterable[JsonObject], address: int) -> str | None:
    for s in sections:
        start = json_hex(s["address"])
        if start <= address < start + json_int(s["size"]) and "exec" in json_texts(s, "flags"):
            return str(s["name"])
    return None


def _compare_entry(ref: JsonObject, p: JsonObject, label: str, subject: str) -> list[Finding]:
    entry, declared = p.get("entry_point"), ref.get("entry_point")
    if entry == declared:
        text = f"entry point {entry}" if entry else "no entry point"
        return [passed("firmware.entry-point", f"{text}, as in the {label}", subject)]
    where = _section_of(json_items(p, "sections"), json_hex(entry)) if entry else None
    declared_where = _section_of(json_items(ref, "sections"), json_hex(declared)) if declared else None
    message = f"entry point moved from {declared} ({declared_where}) to {entry} ({where})"
    return [failed("firmware.entry-point", message, subject, declared=declared, actual=entry,
                   declared_section=declared_where, actual_section=where)]


def _compare_constructors(ref: JsonObject, p: JsonObject, label: str, subject: str) -> list[Finding]:
    declared = {(c["kind"], c["address"]) for c in json_items(ref, "constructors")}
    new = [c for c in json_items(p, "constructors") if (c["kind"], c["address"]) not in declared]
    if new:
        kinds = ", ".join(f"{c['kind']} {c['address']}" for c in new[:5])
        return [failed("firmware.constructor", f"{len(new)} entry point(s) (init/fini/preinit arrays, DT_INIT/DT_FINI, "
                                               f"IFUNC resolvers, TLS callbacks) the {label} does not declare: {kinds}",
                       subject, constructors=new)]
    count = len(json_items(p, "constructors"))
    return [passed("firmware.constructor", f"{count} init/fini/IFUNC/TLS entries, all declared", subject)]


def _compare_exports(ref: JsonObject, p: JsonObject, label: str, subject: str) -> list[Finding]:
    declared = {e["name"] for e in json_items(ref, "exports")}
    new = sorted(name for name in {json_text(e["name"]) for e in json_items(p, "exports")} if name not in declared)
    if new:
        return [failed("firmware.export", f"{len(new)} export(s) not in the {label}: {', '.join(new[:8])}", subject,
                       exports=new[:MAX_LISTED])]
    return [passed("firmware.export", f"{len(json_items(p, 'exports'))} exports, all declared", subject)]


def _compare_imports(ref: JsonObject, p: JsonObject, label: str, subject: str) -> list[Finding]:
    declared = {(i.get("library", ""), i["name"]) for i in json_items(ref, "imports")}
    present = {(json_text(i.get("library", "")), json_text(i["name"])) for i in json_items(p, "imports")}
    new = sorted(pair for pair in present if pair not in declared)
    dangerous = [name for _, name in new if is_dangerous_import(name)]
    out: list[Finding] = []
    if dangerous:
        out.append(failed("firmware.import", f"new import(s) of dangerous APIs: {', '.join(dangerous[:8])}", subject,
                          imports=dangerous))
    elif new:
        out.append(warned("firmware.import", f"{len(new)} new import(s): {', '.join(n for _, n in new[:8])}", subject,
                          imports=[n for _, n in new[:MAX_LISTED]]))
    else:
        out.append(passed("firmware.import", f"no imports beyond the {label}", subject))
    return out


def _compare_strings(ref: JsonObject, p: JsonObject, label: str, subject: str) -> list[Finding]:
    declared = {(s["rule"], s["value"]) for s in json_items(ref, "strings")}
    new = [s for s in json_items(p, "strings") if (s["rule"], s["value"]) not in declared]
    if new:
        text = ", ".join(f"{s['rule']} {s['value']!r}" for s in new[:4])
        return [failed("firmware.capability", f"capabilities not in the {label}: {text}", subject,
                       matches=new[:MAX_LISTED])]
    return [passed("firmware.capability", f"no YARA match beyond the {label}", subject)]


def _compare_sections(ref: JsonObject, p: JsonObject, label: str, subject: str) -> list[Finding]:
    def loaded(sections: Iterable[JsonObject]) -> dict[str, JsonObject]:
        # Non-allocated ELF sections (.symtab, .debug_*, .comment) and mingw's discardable PE .debug_* sections go
        # away with strip; they are not code.
        return {str(s["name"]): s for s in sections
                if ("alloc" in json_texts(s, "flags") if p["format"] == "elf" else not _pe_debug(s))}

    declared, present = loaded(json_items(ref, "sections")), loaded(json_items(p, "sections"))
    out: list[Finding] = []
    added = sorted(set(present) - set(declared))
    removed = sorted(set(declared) - set(present))
    reflagged = sorted(n for n in set(present) & set(declared) if present[n]["flags"] != declared[n]["flags"])
    if added or removed or reflagged:
        out.append(failed("firmware.section", f"sections differ from the {label}: "
                                              f"added {added or '-'}, removed {removed or '-'}, "
                                              f"flags changed {reflagged or '-'}", subject,
                          added=added, removed=removed, flags_changed=reflagged))
    else:
        out.append(passed("firmware.section", f"{len(present)} loaded sections as in the {label}", subject))
    threshold = ENTROPY_THRESHOLD.get(str(p.get("architecture")), DEFAULT_ENTROPY_THRESHOLD)
    risen: list[dict[str, object]] = []
    for name in sorted(set(present) & set(declared)):
        now, before = json_float(present[name].get("entropy", 0)), json_float(declared[name].get("entropy", 0))
        if "exec" in json_texts(present[name], "flags") and now > threshold and now - before > ENTROPY_RISE:
            risen.append({"name": name, "entropy": now, "declared": before})
    if risen:
        out.append(warned("firmware.entropy", f"executable section entropy rose above {threshold}: "
                                              f"{', '.join(str(r['name']) for r in risen)}", subject, sections=risen))
    return out


def _pe_debug(section: JsonObject) -> bool:
    flags = set(json_texts(section, "flags"))
    return str(section.get("name")).startswith(".debug") and "discardable" in flags \
        and not flags & {"exec", "code", "write"}


def _compare_signatures(ref: JsonObject, p: JsonObject, label: str, subject: str) -> list[Finding]:
    out: list[Finding] = []
    ref_auth, auth = ref.get("authenticode"), p.get("authenticode")
    if ref_auth and auth:
        out += _compare_authenticode(json_part(ref, "authenticode"), json_part(p, "authenticode"), label, subject)
    if ref.get("sbat") != p.get("sbat") and (ref.get("sbat") or p.get("sbat")):
        out.append(failed("firmware.sbat", f".sbat differs from the {label}", subject,
                          declared=ref.get("sbat"), actual=p.get("sbat")))
    ref_sig, sig = ref.get("module_signature"), p.get("module_signature")
    if ref_sig and not sig:
        out.append(failed("firmware.module-signature", f"the {label} has a module signature, the image has none",
                          subject))
    return out


def _compare_authenticode(ref_auth: JsonObject, auth: JsonObject, label: str,
                          subject: str) -> list[Finding]:
    """Signers and certificate-table size against a signed reference; an unsigned reference declares neither."""
    out: list[Finding] = []
    declared = {json_text(s["certificate_sha256"]) for s in json_items(ref_auth, "signers")}
    present = {json_text(s["certificate_sha256"]) for s in json_items(auth, "signers")}
    if ref_auth.get("sha256") == auth.get("sha256"):
        out.append(passed("firmware.authenticode-hash", f"Authenticode hash equals the {label}'s", subject,
                          sha256=auth.get("sha256")))
    declared_size = json_int(json_part(ref_auth, "certificate_table", falsy_is_empty=True).get("size") or 0)
    size = json_int(json_part(auth, "certificate_table", falsy_is_empty=True).get("size") or 0)
    if declared_size and size and declared_size != size:
        out.append(failed("firmware.authenticode-table", f"the certificate table is {size} bytes, the {label} "
                                                         f"declares {declared_size}", subject,
                          declared=declared_size, actual=size))
    elif declared_size and size:
        out.append(passed("firmware.authenticode-table", f"certificate table of {size} bytes, as in the {label}",
                          subject))
    if declared and not present and not auth.get("parse_errors"):
        out.append(failed("firmware.authenticode-signer", f"the {label} is signed, the image is not", subject))
    elif declared and present and declared != present:
        out.append(failed("firmware.authenticode-signer", f"signed by other certificates than the {label}: "
                                                          f"{len(present - declared)} added, "
                                                          f"{len(declared - present)} missing", subject,
                          declared=sorted(declared), actual=sorted(present),
                          added=sorted(present - declared), missing=sorted(declared - present)))
    elif declared and present:
        out.append(passed("firmware.authenticode-signer", f"signed by the {len(present)} certificate(s) the "
                                                          f"{label} declares", subject))
    return out
