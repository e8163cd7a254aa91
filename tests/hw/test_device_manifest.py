"""Device manifests: the project's predicate, a Statement, a DSSE envelope, .intoto.jsonl, CycloneDX HBOMs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from hw.reader import read_device
from hw.sim import Simulator
from verifier.checks.device import check_device
from verifier.declared.device_manifest import (
    DEVICE_MANIFEST_TYPE,
    DeclaredParty,
    load_device_manifest,
    manifest_from_predicate,
)
from verifier.errors import BadInputError
from verifier.model import Status, Verdict, judge

PREDICATE: dict[str, Any] = {
    "manufacturer": "Acme Industrial",
    "model": "RTU-9",
    "board_revision": "B2",
    "serial": {"exact": ["ACME-000123"], "pattern": "^ACME-[0-9]{6}$"},
    "components": [{"class": "nic", "manufacturer": "Intel", "model": "I210", "serial": None, "revision": "3",
                    "required": True, "supplier": {"name": "Intel", "country": "US"}}],
    "firmware_regions": [{"name": "bootloader", "address": 0, "size": 1048576, "sha256": "ab" * 32}],
    "identity": {"ca_pem": None, "public_key_pem": None, "fingerprint_sha256": "cd" * 32},
    "supplier": {"name": "Acme Industrial", "country": "DE"},
}


def statement(predicate: dict[str, Any]) -> dict[str, Any]:
    return {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "fw.bin", "digest": {"sha256": "00"}}],
            "predicateType": DEVICE_MANIFEST_TYPE, "predicate": predicate}


def test_predicate_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(PREDICATE))
    manifest = load_device_manifest(path)
    assert manifest.source == "predicate"
    assert manifest.serial is not None and manifest.serial.pattern == "^ACME-[0-9]{6}$"
    assert manifest.components[0].supplier == DeclaredParty("Intel", "US")
    assert manifest_from_predicate(manifest.to_predicate()) == manifest


@pytest.mark.parametrize("wrap", ["statement", "dsse", "jsonl"])
def test_wrapped_predicate(tmp_path: Path, wrap: str) -> None:
    body = statement(PREDICATE)
    if wrap == "statement":
        text = json.dumps(body)
    else:
        envelope = {"payloadType": "application/vnd.in-toto+json",
                    "payload": base64.b64encode(json.dumps(body).encode()).decode(), "signatures": []}
        other = {"payloadType": "application/vnd.in-toto+json",
                 "payload": base64.b64encode(json.dumps({**body, "predicateType": "x"}).encode()).decode(),
                 "signatures": []}
        text = json.dumps(envelope) if wrap == "dsse" else json.dumps(other) + "\n" + json.dumps(envelope) + "\n"
    path = tmp_path / "m.json"
    path.write_text(text)
    manifest = load_device_manifest(path)
    assert manifest.model == "RTU-9"
    assert manifest.identity is not None and manifest.identity.fingerprint_sha256 == "cd" * 32


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ({"serial": {"pattern": "(["}}, "regular expression"),
        ({"components": [{"manufacturer": "x"}]}, "class"),
        ({"firmware_regions": [{"name": "a", "sha256": "zz"}]}, "64 hex"),
        ({"firmware_regions": [{"name": "a", "size": -1}]}, "non-negative"),
        ({"components": "nic"}, "list"),
        # Fields the supplier rules and the TPM checks read are parsed here too, once, and as strictly.
        ({"supplier": {"country": "DE"}}, r"'supplier.name' is required"),
        ({"supplier": 7}, "'supplier' must be a name or an object"),
        ({"supplier": {"name": "Acme", "country": 49}}, "'supplier.country' must be a string"),
        ({"subcontractors": "Board Assembly"}, "'subcontractors' must be a list"),
        ({"components": [{"class": "nic", "supplier": {"name": " "}}]}, r"'components\[0\].supplier.name'"),
        ({"boot_measurements": {"secure_boot": "yes"}}, "secure_boot must be true or false"),
        ({"boot_measurements": {"pcrs": {"sha256": {"32": "00"}}}}, "not a PCR index"),
        ({"boot_measurements": {"pcrs": {"sha256": {"\u00b2": "00"}}}}, "not a PCR index"),
        ({"boot_measurements": {"pcrs": ["00"]}}, "pcrs must be an object"),
        ({"boot_measurements": {"allowed_event_digests": {"sha256": ["zz"]}}}, "is not hex"),
    ],
)
def test_malformed_predicate_is_bad_input(mutation: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        manifest_from_predicate({**PREDICATE, **mutation})


def test_subcontractors_nested_without_end_are_bad_input() -> None:
    """A supplier chain is bounded: a manifest is not a recursion bomb for the supplier rules."""
    party: dict[str, Any] = {"name": "last"}
    for level in range(40):
        party = {"name": f"level {level}", "subcontractors": [party]}
    with pytest.raises(BadInputError, match="deeper than"):
        manifest_from_predicate({**PREDICATE, "supplier": party})


def test_keys_that_differ_only_in_case_are_bad_input(tmp_path: Path) -> None:
    """Go's encoding/json reads "Model" and "model" as one key: a manifest holding both is read two ways."""
    path = tmp_path / "model_twice_up_to_case.json"
    path.write_text(json.dumps(PREDICATE).replace('"model": "RTU-9"', '"model": "RTU-9", "Model": "RTU-1"'))
    with pytest.raises(BadInputError, match="differ only in case"):
        load_device_manifest(path)


def test_a_key_written_twice_is_bad_input(tmp_path: Path) -> None:
    """Two values for one field: provcheck would judge the last, another reader (the signer's) the first."""
    path = tmp_path / "twice.json"
    text = json.dumps(PREDICATE)
    path.write_text(text.replace('"model": "RTU-9"', '"model": "RTU-9", "model": "RTU-1"'))
    with pytest.raises(BadInputError, match="'model' appears twice"):
        load_device_manifest(path)
    path.write_text(json.dumps(statement(PREDICATE)).replace('"model": "RTU-9"', '"model": "RTU-9", "model": "X"')
                    + "\n")
    with pytest.raises(BadInputError, match="appears twice"):
        load_device_manifest(path)


def test_cyclonedx_serial_pattern_and_region_binding_are_checked_like_the_predicate() -> None:
    """An HBOM's serial pattern must compile and a region's address must be an integer: ignoring either
    (as the HBOM reader once did) left the serial check to crash, or the region bound to no address."""
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    def bom(top_props: list[dict[str, str]], region_props: list[dict[str, str]]) -> dict[str, Any]:
        return {"bomFormat": "CycloneDX", "specVersion": "1.6",
                "metadata": {"component": {"type": "device", "name": "RTU-9", "properties": top_props}},
                "components": [{"type": "firmware", "name": "boot", "properties": region_props,
                                "hashes": [{"alg": "SHA-256", "content": "ab" * 32}]}]}

    good = manifest_from_cyclonedx(bom([], [{"name": "provcheck:region:address", "value": "0x1000"}]))
    assert good.firmware_regions[0].address == 0x1000
    with pytest.raises(BadInputError, match="not a valid regular expression"):
        manifest_from_cyclonedx(bom([{"name": "provcheck:serial:pattern", "value": "(["}], []))
    with pytest.raises(BadInputError, match="must be an integer"):
        manifest_from_cyclonedx(bom([], [{"name": "provcheck:region:address", "value": "0xZZ"}]))
    with pytest.raises(BadInputError, match="must not be negative"):
        manifest_from_cyclonedx(bom([], [{"name": "provcheck:region:size", "value": "-16"}]))


def test_the_manifest_says_what_it_declares_not_where_it_came_from() -> None:
    """A predicate cannot label its own source (or anything the parser decides): those fields are ignored."""
    manifest = manifest_from_predicate({**PREDICATE, "source": "cyclonedx", "boot": {"secure_boot": False}})
    assert manifest.source == "predicate"
    assert manifest.boot.secure_boot is None


def test_not_a_manifest(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(BadInputError, match="not a device manifest"):
        load_device_manifest(path)
    path.write_text('{"truncated": ')
    with pytest.raises(BadInputError, match="not valid JSON"):
        load_device_manifest(path)


@pytest.mark.vectors
def test_cyclonedx_hbom_vector(vectors: Path) -> None:
    manifest = load_device_manifest(vectors / "cyclonedx-bom-examples/HBOM/PCIe-SATA-adapter-board/bom.json")
    assert manifest.source == "cyclonedx"
    assert manifest.model == "pcie-sata-adaptor-board"
    assert manifest.board_revision == "rev-1"
    assert manifest.manufacturer == "uk.ac.cam.cl"  # the group: the vector names no manufacturer
    assert len(manifest.components) == 6
    first = manifest.components[0]
    assert (first.cls, first.manufacturer, first.model, first.revision) == (
        "connector", "Samtec", "PCIE-098-02-F-D-EMS2", "2.9.10")
    assert {c.cls for c in manifest.components} == {"connector", "jumper"}
    assert [c.quantity for c in manifest.components] == [1, 8, 1, 1, 2, 2]


@pytest.mark.vectors
def test_device_does_not_match_the_vector_hbom(vectors: Path) -> None:
    manifest = load_device_manifest(vectors / "cyclonedx-bom-examples/HBOM/PCIe-SATA-adapter-board/bom.json")
    with Simulator("attest") as sim:
        evidence = read_device(sim.port, profile="attest", timeout=30, read_timeout=2)
    findings = check_device(evidence, manifest)
    components = [f for f in findings if f.check == "hw.components"]
    assert [f.status for f in components] == [Status.FAIL]
    assert {c["model"] for c in components[0].evidence["diff"]["removed"]} >= {"PCIE-098-02-F-D-EMS2"}


def test_cyclonedx_16_hbom_of_the_simulated_device(tmp_path: Path) -> None:
    with Simulator("attest") as sim:
        declared = sim.declared_manifest()
        evidence = read_device(sim.port, profile="attest", timeout=30, read_timeout=2)
    region = declared["firmware_regions"][0]
    bom = {
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"component": {
            "type": "device", "name": "RTU-9", "version": "B2", "manufacturer": {"name": "Acme Industrial"},
            "properties": [{"name": "cdx:device:serialNumber", "value": "ACME-000123"}]}},
        "components": [
            *({"type": "device", "name": c["model"], **({"version": c["revision"]} if c["revision"] else {}),
               "manufacturer": {"name": c["manufacturer"]},
               **({"scope": "optional"} if not c["required"] else {}),
               "properties": [{"name": "cdx:device:function", "value": c["class"]}]
               + ([{"name": "cdx:device:serialNumber", "value": c["serial"]}] if c["serial"] else [])}
              for c in declared["components"]),
            {"type": "firmware", "name": region["name"], "hashes": [{"alg": "SHA-256", "content": region["sha256"]}],
             "properties": [{"name": "provcheck:region:size", "value": str(region["size"])}]},
        ],
    }
    path = tmp_path / "hbom.cdx.json"
    path.write_text(json.dumps(bom))
    manifest = load_device_manifest(path)
    assert judge(check_device(evidence, manifest)) is Verdict.PASS
    bom["metadata"]["component"]["properties"][0]["value"] = "ACME-000124"  # type: ignore[index]
    path.write_text(json.dumps(bom))
    findings = check_device(evidence, load_device_manifest(path))
    assert {f.check for f in findings if f.status is Status.FAIL} == {"hw.serial-number"}
