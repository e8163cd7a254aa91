"""``intake --format cyclonedx`` and report.cdx.json: the intake result as a CycloneDX 1.6 BOM (issue 14 §4).

A passing and a failing intake through the simulator, each validated against the 1.6 schema with
cyclonedx-python-lib's validator and (with the public vectors) with plain jsonschema against the spec's own
schema file; the claims say what the findings say. A report with hostile device values shows they stay data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.workflows.conftest import Workspace
from verifier.model import Finding, Report, Status, failed, passed

SCHEMA_DIR = "cyclonedx-spec/schema"


def _library_errors(bom: dict[str, Any]) -> list[str]:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom), all_errors=True)
    return [f"{e.data.json_path}: {e.data.message}" for e in errors or []]


def _jsonschema_errors(bom: dict[str, Any], vectors: Path) -> list[str]:
    """The spec's bom-1.6.schema.json as published, with plain jsonschema (its $refs resolved from beside it)."""
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    folder = vectors / SCHEMA_DIR
    schema = json.loads((folder / "bom-1.6.schema.json").read_text())
    registry = Registry().with_resources(
        (f"http://cyclonedx.org/schema/{name}", DRAFT7.create_resource(json.loads((folder / name).read_text())))
        for name in ("spdx.schema.json", "jsf-0.82.schema.json")
    )
    validator = jsonschema.Draft7Validator(schema, registry=registry,
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(bom)]


def _intake(ws: Workspace, port: str, out: Path, firmware: Path) -> dict[str, Any]:
    result = run_cli([
        "intake", "--release", ws.release, "--policy", ws.policy, "--firmware", firmware, "--port", port,
        "--profile", "attest", "--timeout", "20", "--report-dir", out / "reports", "--no-history",
        "--format", "cyclonedx",
    ])
    assert "Traceback" not in result.stderr, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return {"code": result.returncode, "bom": json.loads(result.stdout), "dir": out / "reports",
            "stderr": result.stderr}


@pytest.fixture(scope="module")
def intakes(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """One honest intake, and one of a device reporting another serial with the tampered firmware image."""
    from hw.sim import Simulator
    from verifier.workflows.demo import _device_config, demo_firmware

    out: dict[str, dict[str, Any]] = {}
    for name, tamper, firmware in (("pass", (), workspace.firmware),
                                   ("fail", ("changed-serial",), workspace.paths["tampered_firmware"])):
        with Simulator("attest", config=_device_config(demo_firmware()), tamper=tamper) as sim:
            out[name] = _intake(workspace, sim.port, tmp_path_factory.mktemp(f"cdx-{name}"), firmware)
        out[name]["firmware"] = firmware
    yield out


def _claims(bom: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each check id's claim, with its map entry and its evidence resolved (every bom-ref must resolve)."""
    declarations = bom["declarations"]
    evidence = {e["bom-ref"]: e for e in declarations["evidence"]}
    requirements = {r["bom-ref"]: r["identifier"] for r in bom["definitions"]["standards"][0]["requirements"]}
    (attestation,) = declarations["attestations"]
    assert attestation["assessor"] == declarations["assessors"][0]["bom-ref"]
    claims = {c["bom-ref"]: c for c in declarations["claims"]}
    out = {}
    for entry in attestation["map"]:
        check = requirements[entry["requirement"]]
        if check == "policy":
            out["policy"] = {"map": entry}
            continue
        (ref,) = entry["claims"]
        claim = claims[ref]
        findings = [json.loads(evidence[r]["data"][0]["contents"]["attachment"]["content"])
                    for r in claim.get("evidence", []) + claim.get("counterEvidence", [])]
        assert {f["check"] for f in findings} == {check}
        out[check] = {"claim": claim, "map": entry, "findings": findings}
    return out


def _property(component: dict[str, Any], name: str) -> str | None:
    return next((p["value"] for p in component.get("properties", []) if p["name"] == name), None)


def test_passing_intake_is_a_valid_cyclonedx_16_bom(intakes: dict[str, dict[str, Any]]) -> None:
    run = intakes["pass"]
    assert run["code"] == 0, run["stderr"]
    bom = run["bom"]
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    assert _library_errors(bom) == []
    device = bom["metadata"]["component"]
    assert (device["type"], device["name"], device["manufacturer"]["name"]) == ("device", "RTU-9", "Acme Industrial")
    assert _property(device, "cdx:device:serialNumber") == "ACME-000123"
    assert _property(device, "provcheck:strength:serial") == "signed"
    assert _property(bom["metadata"], "provcheck:verdict") == "pass"
    parts = {c["name"]: c for c in bom["components"]}
    image = run["firmware"].read_bytes()
    firmware = next(c for c in bom["components"] if c["bom-ref"] == "firmware")
    assert firmware["name"] == run["firmware"].name
    assert {h["alg"]: h["content"] for h in firmware["hashes"]} == {
        "SHA-256": hashlib.sha256(image).hexdigest(), "SHA-384": hashlib.sha384(image).hexdigest(),
        "SHA-512": hashlib.sha512(image).hexdigest()}
    assert _property(parts["I210"], "cdx:device:function") == "nic"
    claims = _claims(bom)
    assert claims["policy"]["map"]["conformance"]["score"] == 1.0
    assert claims["policy"]["map"]["confidence"]["score"] == 1.0
    report = json.loads((run["dir"] / "report.json").read_text())
    assert set(claims) - {"policy"} == {f["check"] for f in report["findings"]}
    for check, item in claims.items():
        if check != "policy":
            assert item["map"]["conformance"]["score"] == 1.0, (check, item)
            assert item["claim"]["target"] == ("firmware" if check.startswith("firmware.") else "device")
    # The report set holds the same BOM (another serialNumber: every BOM written has its own).
    written = json.loads((run["dir"] / "report.cdx.json").read_text())
    assert _library_errors(written) == []
    assert written["declarations"] == bom["declarations"]


def test_failing_intake_claims_carry_the_failed_findings(intakes: dict[str, dict[str, Any]]) -> None:
    run = intakes["fail"]
    assert run["code"] == 1, run["stderr"]
    bom = run["bom"]
    assert _library_errors(bom) == []
    assert _property(bom["metadata"], "provcheck:verdict") == "fail"
    report = json.loads((run["dir"] / "report.json").read_text())
    failed_checks = {f["check"] for f in report["findings"] if f["status"] == "fail"}
    assert {"hw.serial-number", "firmware.hidden-function"} <= failed_checks
    claims = _claims(bom)
    overall = claims["policy"]["map"]
    assert (overall["conformance"]["score"], overall["confidence"]["score"]) == (0.0, 1.0)
    assert "hw.serial-number" in overall["conformance"]["rationale"]
    for check in failed_checks:
        item = claims[check]
        assert (item["map"]["conformance"]["score"], item["map"]["confidence"]["score"]) == (0.0, 1.0)
        assert item["claim"]["counterEvidence"], check
        assert any(f["status"] == "fail" for f in item["findings"])
    serial = claims["hw.serial-number"]
    assert serial["claim"]["target"] == "device"
    assert claims["firmware.hidden-function"]["claim"]["target"] == "firmware"
    (finding,) = [f for f in serial["findings"] if f["status"] == "fail"]
    assert finding["evidence"] == next(f for f in report["findings"]
                                       if f["check"] == "hw.serial-number" and f["status"] == "fail")["evidence"]
    # The device as seen: the serial it reported, not the one declared.
    assert _property(bom["metadata"]["component"], "cdx:device:serialNumber") != "ACME-000123"
    assert [c for c in claims if claims[c]["map"]["conformance"]["score"] == 1.0]  # what held is said too


@pytest.mark.parametrize("name", ["pass", "fail"])
def test_the_spec_schema_accepts_both(intakes: dict[str, dict[str, Any]], vectors: Path, name: str) -> None:
    assert _jsonschema_errors(intakes[name]["bom"], vectors) == []
    assert _jsonschema_errors(json.loads((intakes[name]["dir"] / "report.cdx.json").read_text()), vectors) == []


# --- hostile values from the device stay data ------------------------------------------------------------------


def _hostile_report() -> Report:
    sneaky = "device\x1b[2J\u202e\ud800"
    inventory = {
        "device": {
            "serial": {"value": "SN-1\n<script>", "strength": "reported"},
            "model": {"value": "firmware", "strength": "reported"},  # a bom-ref's name as a value
            "manufacturer": {"value": sneaky, "strength": "reported"},
            "macs": {"value": ["02:00:00:00:00:01"], "strength": "reported"},
        },
        "components": [{"class": "nic", "manufacturer": "assessor-provcheck", "model": "claim-0", "serial": None,
                        "revision": "x" * 10_000, "strength": "reported", "source": "lspci"}],
        "regions": [
            {"name": "boot", "address": 0, "size": 16, "algorithm": "sha256", "digest": "not hex " * 8,
             "method": "md.b", "strength": "measured", "weak": False},
            {"name": "env", "address": 16, "size": 16, "algorithm": "crc32", "digest": "deadbeef",
             "method": "crc32", "strength": "reported", "weak": True},
            {"name": "spl", "address": 32, "size": 16, "algorithm": "SHA-256", "digest": "AB" * 32,
             "method": "attest", "strength": "signed", "weak": False},
        ],
        "firmware": [{"name": "fw\x00.bin", "digests": {"sha256": "cd" * 32, "md5": "ef" * 16}}],
    }
    findings: tuple[Finding, ...] = (
        passed("hw.identity-key", "ok", sneaky),
        failed("hw.serial-number", f"serial {sneaky} is not declared", "device", reported=sneaky),
    )
    return Report("intake of \x1b[31mSN-1", findings, metadata={"inventory": inventory,
                                                                "generated_at": "2026-12-02T10:00:00+00:00"})


def test_device_values_are_data_only() -> None:
    from verifier.output import get_renderer

    text = get_renderer("cyclonedx").render(_hostile_report())
    assert text.isascii()  # a lone surrogate or a control character is a JSON escape, never raw
    bom = json.loads(text)
    assert _library_errors(bom) == []
    refs = sorted(c["bom-ref"] for c in bom["components"])
    assert refs == ["device-component-0", "device-region-0", "device-region-1", "device-region-2", "firmware"]
    assert bom["metadata"]["component"]["bom-ref"] == "device"
    regions = {c["name"]: c for c in bom["components"] if c["bom-ref"].startswith("device-region")}
    assert "hashes" not in regions["boot"] and "hashes" not in regions["env"]  # not a digest: a property
    assert _property(regions["env"], "provcheck:region:digest:crc32") == "deadbeef"
    assert regions["spl"]["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    firmware = next(c for c in bom["components"] if c["bom-ref"] == "firmware")
    assert [h["alg"] for h in firmware["hashes"]] == ["SHA-256"]
    (part,) = [c for c in bom["components"] if c["bom-ref"] == "device-component-0"]
    assert "version" not in part and _property(part, "provcheck:revision") == "x" * 10_000  # over 1.6's limit
    assert bom["metadata"]["component"]["manufacturer"]["name"] == "device\x1b[2J\u202e\ud800"  # exact, as data
    claims = _claims(bom)
    assert claims["hw.serial-number"]["claim"]["target"] == "device"
    assert claims["hw.serial-number"]["findings"][0]["evidence"] == {"reported": "device\x1b[2J\u202e\ud800"}


def test_cyclonedx_is_an_intake_format_only() -> None:
    help_text = run_cli(["intake", "--help"]).stdout
    assert "cyclonedx" in help_text and "report.cdx.json" in help_text
    assert "cyclonedx" not in run_cli(["firmware", "scan", "--help"]).stdout


def test_every_status_maps_to_a_conformance() -> None:
    from verifier.model import errored, skipped, warned
    from verifier.output.cyclonedx import CycloneDxRenderer

    findings = (passed("a.b", "fine"), warned("x.check", "hm"), errored("c", "lost line"),
                skipped("hw.transport", "optional", required=False))
    bom = CycloneDxRenderer().document(Report("t", findings))
    assert _library_errors(bom) == []
    scores = {check: (item["map"]["conformance"]["score"], item["map"]["confidence"]["score"])
              for check, item in _claims(bom).items()}
    assert scores == {"policy": (0.0, 0.0), "a.b": (1.0, 1.0), "x.check": (1.0, 1.0), "c": (0.0, 0.0),
                      "hw.transport": (0.0, 0.0)}
    strict = CycloneDxRenderer().document(Report("t", findings[:2], strict=True))
    assert {c: i["map"]["conformance"]["score"] for c, i in _claims(strict).items()} == {
        "policy": 0.0, "a.b": 1.0, "x.check": 0.0}
    assert Status.WARN.value in json.dumps(strict["declarations"]["evidence"])
