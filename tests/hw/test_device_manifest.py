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
from verifier.declared.device_manifest import DEVICE_MANIFEST_TYPE, load_device_manifest, manifest_from_predicate
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
    assert manifest.components[0].supplier == {"name": "Intel", "country": "US"}
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
    ],
)
def test_malformed_predicate_is_bad_input(mutation: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        manifest_from_predicate({**PREDICATE, **mutation})


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
            *({"type": "device", "name": c["model"], "version": c["revision"],
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
