"""A hand-edited or foreign firmware manifest is bad input (exit 2) naming the field, read once at the boundary.

Before the manifest was typed, some malformed fields were caught only when a judge tripped over them
(``KeyError``/``TypeError`` wrapped into bad input), and some were not caught at all: a non-string
``file.sha256`` made the digest check skip and the structural comparison decide; a ``loaded`` that is
not an object quietly downgraded the byte-exact comparison to function level; a non-string ``format``
was a format mismatch (exit 1). Each is now bad input, and the message names the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.firmware.conftest import ElfBuild
from tests.helpers import assert_clean_error, run_cli
from verifier.declared.firmware_manifest import DeclaredFile, DeclaredManifest
from verifier.errors import BadInputError
from verifier.workflows.firmware_scan import scan_firmware

GOOD = {"format": "elf", "schema_version": 1, "architecture": "x86_64",
        "file": {"sha256": "ab" * 32, "size": 10}, "functions": [{"name": "main"}], "loaded": {"ranges": []}}

MALFORMED = [
    ("format", 7, "'format' must be a string"),
    ("format", "", "'format' must be a non-empty string"),
    ("architecture", ["x86_64"], "'architecture' must be a string"),
    ("file", ["ab"], "'file' must be an object"),
    ("file", {"sha256": 5}, "'file.sha256' must be a string"),
    ("file", {"sha256": "not-a-digest"}, "'file.sha256' must be 64 hex digits"),
    ("file", {"size": -1}, "'file.size' must be a non-negative integer"),
    ("file", {"size": True}, "'file.size' must be a non-negative integer"),
    ("functions", {"main": {}}, "'functions' must be a list of objects"),
    ("functions", "main", "'functions' must be a list of objects"),
    ("sections", [".text"], "'sections' must be a list of objects"),
    ("imports", [None], "'imports' must be a list of objects"),
    ("exports", {}, "'exports' must be a list of objects"),
    ("constructors", [1], "'constructors' must be a list of objects"),
    ("modules", [[]], "'modules' must be a list of objects"),
    ("embedded", "x", "'embedded' must be a list of objects"),
    ("strings", ["rule"], "'strings' must be a list of objects"),
    ("loaded", [], "'loaded' must be an object"),
    ("raw_image", "u-boot.bin", "'raw_image' must be an object"),
    ("layout", [], "'layout' must be an object"),
    ("overlay", 0, "'overlay' must be an object"),
    ("authenticode", [], "'authenticode' must be an object"),
]


def test_a_well_formed_manifest_is_read_into_its_typed_fields() -> None:
    manifest = DeclaredManifest.from_predicate(GOOD, "m.json")
    assert (manifest.format, manifest.schema_version, manifest.architecture) == ("elf", 1, "x86_64")
    assert manifest.file == DeclaredFile("ab" * 32, 10)
    assert manifest.document is GOOD
    assert DeclaredManifest.from_predicate({"format": "raw", "schema_version": 1}, "m").file == DeclaredFile()


@pytest.mark.parametrize(("field", "value", "message"), MALFORMED, ids=[f"{m[0]}-{i}" for i, m in enumerate(MALFORMED)])
def test_malformed_manifest_field_is_bad_input_naming_it(field: str, value: object, message: str) -> None:
    with pytest.raises(BadInputError) as caught:
        DeclaredManifest.from_predicate({**GOOD, field: value}, "m.json")
    assert str(caught.value) == f"m.json: {message}"


@pytest.mark.parametrize("document", [None, [], "elf", {"schema_version": 1}, {"format": "elf"},
                                      {"format": "elf", "schema_version": 2}, {"format": "elf", "schema_version": "1"}])
def test_not_a_manifest_or_another_schema_is_bad_input(document: object) -> None:
    with pytest.raises(BadInputError, match=r"m\.json"):
        DeclaredManifest.from_predicate(document, "m.json")


def test_a_predicate_given_to_the_scan_is_read_as_strictly(elf_build: ElfBuild) -> None:
    """Intake hands the scan the verified statement's predicate: it goes through the same reader."""
    predicate = json.loads(elf_build.manifest.read_bytes())
    with pytest.raises(BadInputError, match="'loaded' must be an object"):
        scan_firmware(elf_build.stripped, manifest={**predicate, "loaded": []})
    with pytest.raises(BadInputError, match=r"'file\.sha256' must be a string"):
        scan_firmware(elf_build.stripped, manifest={**predicate, "file": {"sha256": 0}})


def test_hand_edited_digest_type_is_exit_2_on_the_command_line(elf_build: ElfBuild, tmp_path: Path) -> None:
    predicate = json.loads(elf_build.manifest.read_bytes())
    edited = tmp_path / "digest_as_number.json"
    edited.write_text(json.dumps({**predicate, "file": {"sha256": 12345, "size": 1}}))
    result = run_cli(["firmware", "scan", elf_build.stripped, "--manifest", edited])
    assert_clean_error(result, 2)
    assert "file.sha256" in result.stderr


def test_plain_manifest_with_a_key_written_twice_is_exit_2(elf_build: ElfBuild, tmp_path: Path) -> None:
    """json.loads keeps the last of two keys, another parser the first: a plain manifest declaring its functions
    twice (the honest list last, an empty one first) could be read two ways, so it is refused, like statements."""
    body = elf_build.manifest.read_text().strip()
    assert body.startswith("{")
    twice = tmp_path / "functions_written_twice.json"
    twice.write_text('{"functions": [],' + body[1:])
    result = run_cli(["firmware", "scan", elf_build.stripped, "--manifest", twice])
    assert_clean_error(result, 2)
    assert "ambiguous JSON" in result.stderr and "functions" in result.stderr


def _edited(predicate: dict[str, object], part: str, index: int, field: str, value: object) -> dict[str, object]:
    items = list(predicate[part])  # type: ignore[call-overload]
    items[index] = {**items[index], field: value}
    return {**predicate, part: items}


NESTED = [("functions", "address", 5), ("functions", "address", None), ("functions", "size", None),
          ("sections", "flags", None)]


@pytest.mark.parametrize(("part", "field", "value"), NESTED, ids=[f"{p}.{f}-{i}" for i, (p, f, _) in enumerate(NESTED)])
def test_malformed_inventory_item_stays_bad_input(elf_build: ElfBuild, part: str, field: str, value: object) -> None:
    """An item of the open-ended inventory is read where it is judged: a malformed one is still bad input there."""
    predicate = json.loads(elf_build.manifest.read_bytes())
    if not predicate.get(part):
        pytest.skip(f"the test build declares no {part}")
    with pytest.raises(BadInputError, match="not a well-formed firmware manifest"):
        scan_firmware(elf_build.stripped, manifest=_edited(predicate, part, 0, field, value))


def test_malformed_layout_list_stays_bad_input(elf_build: ElfBuild) -> None:
    predicate = json.loads(elf_build.manifest.read_bytes())
    for edit in ({"rwx": None}, {"uncovered_code": None}, {"uncovered_code": ["x"]}):
        with pytest.raises(BadInputError, match="not a well-formed firmware manifest"):
            scan_firmware(elf_build.stripped, manifest={**predicate, "layout": {**predicate["layout"], **edit}})
