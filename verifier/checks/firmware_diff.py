"""What changed between two firmware images: functions, modules, imports, exports, constructors, sections.

The diff is reported as findings: one ``warn`` per category that changed (``firmware.diff.<category>``),
``pass`` per category that did not, and a summary ``firmware.diff`` that fails when anything changed, so that
``provcheck firmware diff`` exits 1 for different images and 0 for equivalent ones, like diff(1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from verifier.declared.fields import JsonObject
from verifier.declared.firmware_manifest import json_items, json_part, json_texts
from verifier.model import Finding, failed, passed, warned

MAX_LISTED = 50


def _function_key(function: JsonObject) -> str:
    # Named functions match by name across builds; unnamed ones can only match by address.
    name = str(function.get("name", ""))
    return name if name and not name.startswith("sub_") else f"@{function.get('address')}"


def _changes(old: Iterable[JsonObject], new: Iterable[JsonObject],
             key: Callable[[JsonObject], object], digest: Callable[[JsonObject], object]) -> dict[str, list[str]]:
    before = {key(item): item for item in old}
    after = {key(item): item for item in new}
    added = sorted(str(k) for k in set(after) - set(before))
    removed = sorted(str(k) for k in set(before) - set(after))
    changed = sorted(str(k) for k in set(before) & set(after) if digest(before[k]) != digest(after[k]))
    return {"added": added, "removed": removed, "changed": changed}


def _categories(old: JsonObject, new: JsonObject) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    executables = ("elf", "pe", "macho", "te")
    if old.get("format") in executables or new.get("format") in executables:
        out["functions"] = _changes(json_items(old, "functions"), json_items(new, "functions"), _function_key,
                                    lambda f: f.get("sha256"))
        out["imports"] = _changes(json_items(old, "imports"), json_items(new, "imports"),
                                  lambda i: f"{i.get('library') or '*'}!{i.get('name')}", lambda i: 0)
        out["exports"] = _changes(json_items(old, "exports"), json_items(new, "exports"), lambda e: e.get("name"),
                                  lambda e: e.get("address"))
        out["constructors"] = _changes(json_items(old, "constructors"), json_items(new, "constructors"),
                                       lambda c: f"{c.get('kind')}[{c.get('index')}]", lambda c: c.get("address"))
        out["sections"] = _changes(json_items(old, "sections"), json_items(new, "sections"), lambda s: s.get("name"),
                                   lambda s: (s.get("sha256"), tuple(json_texts(s, "flags"))))
    if "modules" in old or "modules" in new:
        out["modules"] = _changes(json_items(old, "modules"), json_items(new, "modules"),
                                  lambda m: f"{m.get('name') or m.get('guid')}"
                                  + (f"#{m.get('index')}" if m.get("index") else ""),
                                  lambda m: m.get("sha256"))
    if "embedded" in old or "embedded" in new:
        out["embedded"] = _changes(json_items(old, "embedded"), json_items(new, "embedded"), lambda e: e.get("name"),
                                   lambda e: json_part(e, "image", falsy_is_empty=True).get("sha256"))
    return out


def diff_manifests(old: JsonObject, new: JsonObject, *, subject: str) -> list[Finding]:
    findings: list[Finding] = []
    if old.get("format") != new.get("format"):
        findings.append(warned("firmware.diff.format", f"format changed from {old.get('format')} to "
                                                       f"{new.get('format')}", subject))
    if json_part(old, "file").get("sha256") == json_part(new, "file").get("sha256"):
        return [passed("firmware.diff", "the two files are byte-identical", subject)]
    different: list[str] = []
    for category, change in _categories(old, new).items():
        counts = {k: len(v) for k, v in change.items()}
        if any(counts.values()):
            different.append(category)
            summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            examples = "; ".join(f"{k}: {', '.join(v[:4])}" for k, v in change.items() if v)
            findings.append(warned(f"firmware.diff.{category}", f"{summary} ({examples})", subject,
                                   **{k: v[:MAX_LISTED] for k, v in change.items()}, counts=counts))
        else:
            findings.append(passed(f"firmware.diff.{category}", f"no {category} changed", subject))
    if different or (findings and any(f.check == "firmware.diff.format" for f in findings)):
        findings.append(failed("firmware.diff", f"the images differ in: {', '.join(different) or 'format'}",
                               subject, categories=different))
    else:
        findings.append(passed("firmware.diff", "the images differ in bytes only, not in any inventoried item",
                               subject))
    return findings
