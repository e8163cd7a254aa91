"""CycloneDX read through cyclonedx-python-lib (issue 14 §4): strict JSON, then the schema, then the library.

Every BOM the tests accepted before is read to the same declarations; every BOM below that the hand-written
reader accepted, but that the schema or another CycloneDX tool reads differently, is bad input naming where.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_clean_error, run_cli
from tests.verifier.hbom_cases import SIMULATED_DEVICE, cases
from verifier.errors import BadInputError

BEFORE = Path(__file__).parent / "data" / "hbom_declarations_before_library.json"
VECTOR_HBOM = "cyclonedx-bom-examples/HBOM/PCIe-SATA-adapter-board/bom.json"
SPEC_EXAMPLES = "cyclonedx-spec/tools/src/test/resources/1.6"


def _declarations(bom: dict[str, Any]) -> dict[str, Any]:
    from verifier.checks.suppliers import parties_from_cyclonedx
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    read = {"manifest": dataclasses.asdict(manifest_from_cyclonedx(bom)),
            "parties": [dataclasses.asdict(p) for p in parties_from_cyclonedx(bom)]}
    return json.loads(json.dumps(read))  # tuples as lists, as the recorded file has them


def _bad(bom: object, match: str) -> str:
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    with pytest.raises(BadInputError, match=match) as caught:
        manifest_from_cyclonedx(bom)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 500, message
    return message


# --- what was read before is read the same ------------------------------------------------------------------


def _as_recorded(read: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """``read`` without the manifest fields added after the recording (e.g. spdm_measurements), each still empty:
    a CycloneDX BOM declares none of them, so a field appearing with a value would be a change the test reports."""
    manifest = dict(read["manifest"])
    for key in set(manifest) - set(before["manifest"]):
        assert manifest.pop(key) in ([], {}, None, ""), f"field {key} added after the recording has a value"
    return {**read, "manifest": manifest}


@pytest.mark.parametrize("name", sorted(cases()))
def test_every_bom_the_tests_accepted_is_read_to_the_same_declarations(name: str) -> None:
    before = json.loads(BEFORE.read_text())["cases"][name]
    assert _as_recorded(_declarations(cases()[name]), before) == before


@pytest.mark.vectors
def test_the_official_hbom_example_is_read_as_before(vectors: Path) -> None:
    """CycloneDX/bom-examples' HBOM is a 1.4 BOM: 1.4 is accepted (the library's validator has its schema)."""
    bom = json.loads((vectors / VECTOR_HBOM).read_text())
    assert bom["specVersion"] == "1.4"
    before = json.loads(BEFORE.read_text())["cases"]["vector:HBOM/PCIe-SATA-adapter-board"]
    assert _as_recorded(_declarations(bom), before) == before


@pytest.mark.vectors
def test_the_official_16_examples_parse(vectors: Path) -> None:
    """The spec's own valid 1.6 test resources: component types (device, firmware), identifiers, CDXA
    attestations and standards all pass the schema and the library, as a device manifest and as an SBOM."""
    from verifier.declared.device_manifest import load_device_manifest
    from verifier.declared.hbom import parties_from_bom

    examples = sorted((vectors / SPEC_EXAMPLES).glob("valid-*.json"))
    assert {p.name for p in examples} >= {"valid-attestation-1.6.json", "valid-component-types-1.6.json",
                                         "valid-component-identifiers-1.6.json", "valid-standard-1.6.json"}
    for path in examples:
        manifest = load_device_manifest(path)
        assert manifest.source == "cyclonedx"
        parties_from_bom(json.loads(path.read_text()))
    types = load_device_manifest(vectors / SPEC_EXAMPLES / "valid-component-types-1.6.json")
    assert [c.model for c in types.components] == ["device-a"]


def test_the_library_supports_the_versions_read() -> None:
    """1.4-1.6 are read; the library's validator has schemas for 1.2-1.7 (1.7 is refused until tested here)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from verifier.declared.hbom import SPEC_VERSIONS

    assert SPEC_VERSIONS == ("1.4", "1.5", "1.6")
    for version in SPEC_VERSIONS:
        minimal = json.dumps({"bomFormat": "CycloneDX", "specVersion": version})
        assert JsonStrictValidator(SchemaVersion.from_version(version)).validate_str(minimal) is None
    for version in ("1.2", "1.3", "1.7", "2.0", 1.6):
        _bad({"bomFormat": "CycloneDX", "specVersion": version}, "'specVersion' must be one of 1.4, 1.5, 1.6")
    _bad({"bomFormat": "CycloneDX"}, "'specVersion' is required")


# --- what the hand-written reader accepted wrongly ------------------------------------------------------------


def test_an_invalid_scope_is_refused_not_read_as_required() -> None:
    """"Optional" is no CycloneDX scope: the old reader made the part required, a validating tool refuses it."""
    bom = copy.deepcopy(SIMULATED_DEVICE)
    bom["components"][1]["scope"] = "Optional"
    message = _bad(bom, "not a valid CycloneDX 1.6 BOM")
    assert "$.components[1].scope" in message and "'Optional' is not one of" in message


def test_a_16_field_in_a_14_bom_is_refused() -> None:
    """A 1.4 BOM with 1.6's component manufacturer: the old reader took the manufacturer from it, a 1.4 tool
    refuses (or drops) the field. Declared as 1.6, the same BOM is read."""
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    bom = copy.deepcopy(SIMULATED_DEVICE)
    bom["specVersion"] = "1.4"
    message = _bad(bom, "not a valid CycloneDX 1.4 BOM")
    assert "'manufacturer' was unexpected" in message
    assert manifest_from_cyclonedx(SIMULATED_DEVICE).manufacturer == "Acme Industrial"


def test_a_country_outside_the_address_is_refused() -> None:
    """organizationalEntity has no "country" (it is address.country): the old supplier rules judged it."""
    from verifier.checks.suppliers import parties_from_cyclonedx

    bom = cases()["sbom-intake"]
    bom["components"][0]["supplier"] = {"name": "Sensorix", "country": "NL"}
    with pytest.raises(BadInputError, match=r"\$\.components\[0\]\.supplier.*'country' was unexpected"):
        parties_from_cyclonedx(bom)


def test_the_same_part_twice_with_properties_reordered_is_refused() -> None:
    """The schema's uniqueItems compares JSON, so two entries differing only in property order pass it; the
    library reads them as one part (sorted sets), the old reader as two. Ambiguous: refused."""
    bom = cases()["qemu-1"]
    part = bom["components"][0]
    twin = {**part, "properties": list(reversed(part["properties"]))}
    bom["components"].append(twin)
    _bad(bom, r"'components\[1\]' repeats 'components\[0\]' exactly.*cdx:device:quantity")
    # The same part under two different boards is two parts.
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    boards = {**bom, "components": [
        {"type": "device", "name": "board A", "components": [part]},
        {"type": "device", "name": "board B", "components": [twin]},
    ]}
    assert [c.model for c in manifest_from_cyclonedx(boards).components] == ["board A", "0x0018", "board B", "0x0018"]


def test_exact_json_duplicates_are_refused_by_the_schema() -> None:
    bom = cases()["qemu-1"]
    bom["components"].append(copy.deepcopy(bom["components"][0]))
    _bad(bom, r"\$\.components: .* has non-unique elements")


def test_a_read_property_with_two_values_is_refused() -> None:
    """Two quantities: the old reader took the first; the library sorts properties, other tools take the last."""
    bom = cases()["qemu-2"]
    bom["components"][0]["properties"].append({"name": "cdx:device:quantity", "value": "1"})
    _bad(bom, r"'components\[0\]' writes property cdx:device:quantity twice with different values")
    serial = copy.deepcopy(SIMULATED_DEVICE)
    serial["metadata"]["component"]["properties"].append({"name": "cdx:device:serialNumber", "value": "ACME-9"})
    _bad(serial, "'metadata.component' writes property cdx:device:serialNumber twice")
    # A property provcheck does not read may repeat (CycloneDX allows it), and one value written twice is one.
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    fine = cases()["qemu-2"]
    fine["components"][0]["properties"] += [{"name": "cdx:device:location", "value": "U1"},
                                            {"name": "cdx:device:location", "value": "U2"}]
    assert manifest_from_cyclonedx(fine).components[0].quantity == 2


def test_a_firmware_with_two_sha256_digests_is_refused() -> None:
    bom = copy.deepcopy(SIMULATED_DEVICE)
    bom["components"][2]["hashes"].append({"alg": "SHA-256", "content": "ee" * 32})
    _bad(bom, r"'components\[2\]' \('bootloader'\) declares 2 different SHA-256 hashes")
    # The same digest in another case is one digest.
    bom["components"][2]["hashes"][1]["content"] = ("5D" * 32)
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    assert manifest_from_cyclonedx(bom).firmware_regions[0].sha256 == "5d" * 32


def test_a_sha256_that_is_not_64_digits_is_refused_not_dropped() -> None:
    """The schema allows any 32/40/64/96/128-digit content; the old reader silently dropped the region,
    so the device was never compared with it."""
    bom = copy.deepcopy(SIMULATED_DEVICE)
    bom["components"][2]["hashes"] = [{"alg": "SHA-256", "content": "ab" * 20}]
    _bad(bom, "SHA-256 hash must be 64 hex digits")


def test_parts_nested_too_deep_are_refused_not_ignored() -> None:
    from verifier.declared.device_manifest import manifest_from_cyclonedx
    from verifier.declared.hbom import MAX_NESTING

    def nested(levels: int) -> dict[str, Any]:
        part: dict[str, Any] = {"type": "device", "name": "leaf"}
        for level in range(levels):
            part = {"type": "device", "name": f"level {level}", "components": [part]}
        return {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [part]}

    assert len(manifest_from_cyclonedx(nested(MAX_NESTING)).components) == MAX_NESTING + 1
    _bad(nested(MAX_NESTING + 1), f"nests components deeper than {MAX_NESTING} levels")
    _bad(nested(400), "nested too deeply|nests components deeper")


def test_a_hostile_schema_message_is_one_bounded_line() -> None:
    """The schema's message quotes the value: a long value with line breaks and escapes stays one short line."""
    bom = cases()["qemu-1"]
    bom["components"][0]["type"] = "device\n\x1b[2J" + "x" * 5000
    message = _bad(bom, r"\$\.components\[0\]\.type")
    assert "xxxxx..." in message


# --- the schema check: the library's schema, in linear time ---------------------------------------------------


def _schema_corpus() -> list[dict[str, Any]]:
    """Valid and invalid BOMs: every case, the refusals above, and what uniqueItems counts as the same."""
    corpus = list(cases().values())
    bad_scope = copy.deepcopy(SIMULATED_DEVICE)
    bad_scope["components"][1]["scope"] = "Optional"
    old_field = {**copy.deepcopy(SIMULATED_DEVICE), "specVersion": "1.4"}
    country = cases()["sbom-intake"]
    country["components"][0]["supplier"] = {"name": "Sensorix", "country": "NL"}
    twice = cases()["qemu-1"]
    twice["components"].append(copy.deepcopy(twice["components"][0]))
    reordered = cases()["qemu-1"]
    part = reordered["components"][0]
    reordered["components"].append({**part, "properties": list(reversed(part["properties"]))})
    corpus += [bad_scope, old_field, country, twice, reordered]
    # uniqueItems compares values, not texts: the same part with its keys in another order is a duplicate.
    for first, second, nested in (
        ({"type": "device", "name": "d"}, {"name": "d", "type": "device"}, False),
        ({"type": "device", "name": "d", "version": "1"}, {"type": "device", "name": "d", "version": "1.0"}, False),
        ({"type": "device", "name": "d"}, {"type": "device", "name": "d", "description": ""}, True),
    ):
        pair = [first, second]
        corpus.append({"bomFormat": "CycloneDX", "specVersion": "1.6",
                       "components": [{"type": "device", "name": "board", "components": pair}] if nested else pair})
    return corpus


def test_the_schema_check_agrees_with_the_library_validator() -> None:
    """Whatever the library's own validate_str accepts or refuses, validate_bom does (URL syntax aside)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from verifier.declared.fields import FieldReader
    from verifier.declared.hbom import validate_bom

    verdicts = []
    for bom in _schema_corpus():
        library = JsonStrictValidator(SchemaVersion.from_version(bom["specVersion"]))
        valid = library.validate_str(json.dumps(bom)) is None
        try:
            validate_bom(bom, FieldReader("corpus"))
            ours = True
        except BadInputError:
            ours = False
        assert ours == valid, bom
        verdicts.append(valid)
    assert True in verdicts and False in verdicts


def test_the_schema_check_is_linear_in_the_bom() -> None:
    """The library's validator compares every pair of components (uniqueItems) and parses each URL with an Earley
    parser (~1 ms per character): 20,000 parts or one 100 KB URL held it for many minutes; here, seconds."""
    import time

    from verifier.declared.fields import FieldReader
    from verifier.declared.hbom import validate_bom

    validate_bom({"bomFormat": "CycloneDX", "specVersion": "1.6"}, FieldReader("warm-up"))
    many = {"bomFormat": "CycloneDX", "specVersion": "1.6",
            "components": [{"type": "device", "name": f"part {i}"} for i in range(20_000)]}
    long_url = {"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": {"supplier": {
        "name": "Acme", "url": ["https://example.com/" + "a" * 100_000]}}}
    for bom in (many, long_url):
        started = time.process_time()
        validate_bom(bom, FieldReader("big"))
        assert time.process_time() - started < 30


# --- order of the readers: strict JSON first -----------------------------------------------------------------


def test_duplicate_keys_are_refused_before_the_schema(tmp_path: Path) -> None:
    """A key twice in a BOM file: the strict reader refuses it, whatever the schema would say of either value."""
    from verifier.declared.device_manifest import load_device_manifest

    path = tmp_path / "scope_twice.cdx.json"
    text = json.dumps(SIMULATED_DEVICE).replace('"scope": "optional"', '"scope": "optional", "scope": "required"')
    path.write_text(text)
    with pytest.raises(BadInputError, match="'scope' appears twice"):
        load_device_manifest(path)
    cased = json.dumps(SIMULATED_DEVICE).replace('"specVersion": "1.6"', '"specVersion": "1.6", "specversion": "9"')
    path.write_text(cased)
    with pytest.raises(BadInputError, match="differ only in case"):
        load_device_manifest(path)


def test_device_verify_with_a_malformed_hbom_is_exit_2_naming_the_path(tmp_path: Path) -> None:
    from hw.evidence import DeviceEvidence

    (tmp_path / "ev.json").write_bytes(DeviceEvidence("uboot", "loop://", {}).to_bytes())
    bom = copy.deepcopy(SIMULATED_DEVICE)
    bom["components"][0]["hashes"] = [{"alg": "SHA-256", "content": "\x1b[31mnot hex"}]
    (tmp_path / "hbom.json").write_text(json.dumps(bom))
    result = run_cli(["device", "verify", "--evidence", tmp_path / "ev.json", "--manifest", tmp_path / "hbom.json"])
    assert_clean_error(result, 2)
    assert "$.components[0].hashes[0].content" in result.stderr
    assert "\x1b" not in result.stderr


def test_library_objects_do_not_leave_the_reader() -> None:
    """What the judges get is the frozen declarations, never cyclonedx-python-lib's model."""
    from verifier.declared.device_manifest import manifest_from_cyclonedx
    from verifier.declared.hbom import parties_from_bom

    def walk(value: object) -> None:
        assert not type(value).__module__.startswith("cyclonedx"), type(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            assert type(value).__dataclass_params__.frozen  # type: ignore[attr-defined]
            for field in dataclasses.fields(value):
                walk(getattr(value, field.name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for bom in cases().values():
        walk(manifest_from_cyclonedx(bom))
        walk(parties_from_bom(bom))
