"""``provcheck release sign``: one signed .intoto.jsonl plus an index, verifiable alone with ``attest verify``."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_clean_error, run_cli
from tests.workflows.conftest import Workspace, load_json_lines
from verifier.workflows.demo import demo_firmware

PROVENANCE = {
    "buildDefinition": {
        "buildType": "https://provcheck.dev/test/build/v1",
        "externalParameters": {"source": "git+https://example.com/acme/rtu9@refs/tags/v1.0.0"},
        "resolvedDependencies": [
            {"uri": "git+https://example.com/acme/rtu9@refs/tags/v1.0.0", "digest": {"gitCommit": "a" * 40}}
        ],
    },
    "runDetails": {
        "builder": {"id": "https://example.com/builders/release@v1"},
        "metadata": {"invocationId": "1", "finishedOn": "2026-01-01T00:00:00Z"},
    },
}
SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "version": 1,
    "metadata": {"supplier": {"name": "Acme Industrial", "address": {"country": "DE"}}},
    "components": [
        {
            "type": "library",
            "name": "libsensor",
            "version": "2.1",
            "supplier": {"name": "Sensorix", "address": {"country": "NL"}},
        }
    ],
}


def _statements(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(base64.b64decode(str(e["payload"]))) for e in load_json_lines(bundle)]


def sign(tmp: Path, ws: Workspace, *extra: object, out: str = "release") -> Any:
    return run_cli(
        [
            "release",
            "sign",
            "--firmware",
            ws.firmware,
            "--key",
            ws.paths["vendor_key"],
            "-o",
            tmp / out,
            "--name",
            "rtu9",
            "--version",
            "1.0.0",
            *extra,
        ]
    )


def test_full_release_signs_every_statement_and_verifies_alone(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "provenance.json").write_text(json.dumps(PROVENANCE))
    (tmp_path / "sbom.json").write_text(json.dumps(SBOM))
    result = sign(
        tmp_path,
        workspace,
        "--device-manifest",
        workspace.paths["device_manifest"],
        "--provenance",
        tmp_path / "provenance.json",
        "--sbom",
        tmp_path / "sbom.json",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    release = tmp_path / "release"
    statements = _statements(release / "release.intoto.jsonl")
    types = [s["predicateType"] for s in statements]
    assert types == [
        "https://provcheck.dev/firmware-manifest/v1",
        "https://provcheck.dev/device-manifest/v1",
        "https://slsa.dev/provenance/v1",
        "https://cyclonedx.org/bom",
        "https://provcheck.dev/release-index/v1",
    ]
    digest = statements[0]["subject"][0]["digest"]["sha256"]
    assert all(s["subject"][0]["digest"]["sha256"] == digest for s in statements)
    index = json.loads((release / "index.json").read_text())
    assert index["name"] == "rtu9" and index["version"] == "1.0.0"
    assert len(index["statements"]) == 5
    assert statements[-1]["predicate"]["created"] == index["created"]
    # Verifiable on its own, with only the vendor's public key.
    verified = run_cli(
        [
            "attest",
            "verify",
            workspace.firmware,
            "--bundle",
            release / "release.intoto.jsonl",
            "--key",
            workspace.paths["vendor_pub"],
            "--builder-id",
            "https://example.com/builders/release",
        ]
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_tampered_release_or_wrong_key_fails_verification(workspace: Workspace, tmp_path: Path) -> None:
    assert sign(tmp_path, workspace).returncode == 0
    bundle = tmp_path / "release" / "release.intoto.jsonl"
    wrong = run_cli(
        ["attest", "verify", workspace.firmware, "--bundle", bundle, "--key", workspace.paths["operator_pub"]]
    )
    assert wrong.returncode == 1
    lines = load_json_lines(bundle)
    statement = json.loads(base64.b64decode(str(lines[0]["payload"])))
    statement["predicate"]["functions"][0]["size"] += 1  # an edited manifest keeps its old signature
    lines[0]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    bundle.write_text("".join(json.dumps(line) + "\n" for line in lines))
    edited = run_cli(
        ["attest", "verify", workspace.firmware, "--bundle", bundle, "--key", workspace.paths["vendor_pub"]]
    )
    assert edited.returncode == 1


def test_inventory_from_unstripped_build_subject_is_shipped_image(workspace: Workspace, tmp_path: Path) -> None:
    shipped = tmp_path / "rtu9-firmware.elf"
    shipped.write_bytes(demo_firmware(stripped=True))
    result = run_cli(
        [
            "release",
            "sign",
            "--firmware",
            shipped,
            "--build",
            workspace.firmware,
            "--key",
            workspace.paths["vendor_key"],
            "-o",
            tmp_path / "release",
        ]
    )
    assert result.returncode == 0, result.stderr
    manifest = _statements(tmp_path / "release" / "release.intoto.jsonl")[0]
    assert manifest["subject"][0]["digest"]["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    names = {f["name"] for f in manifest["predicate"]["functions"]}
    assert {"main", "read_sensor", "send_report"} <= names  # the build's symbols, not the stripped image's


def test_device_manifest_from_cyclonedx_hbom(workspace: Workspace, tmp_path: Path, vectors: Path) -> None:
    hbom = vectors / "cyclonedx-bom-examples" / "HBOM" / "PCIe-SATA-adapter-board" / "bom.json"
    result = sign(tmp_path, workspace, "--device-manifest", hbom)
    assert result.returncode == 0, result.stderr
    device = _statements(tmp_path / "release" / "release.intoto.jsonl")[1]
    assert device["predicateType"] == "https://provcheck.dev/device-manifest/v1"
    assert device["predicate"]["components"], "the HBOM's components become declared components"


def test_sigstore_bundle_provenance_is_kept_as_is(workspace: Workspace, tmp_path: Path, vectors: Path) -> None:
    bundle = vectors / "slsa-verifier" / "cli" / "slsa-verifier" / "testdata" / "bcr" / "MODULE.bazel.intoto.jsonl"
    if not bundle.is_file():
        pytest.skip("the SLSA bundle vector is absent")
    copy = tmp_path / "provenance.sigstore.json"
    shutil.copyfile(bundle, copy)
    result = sign(tmp_path, workspace, "--provenance", copy)
    assert result.returncode == 0, result.stderr
    index = json.loads((tmp_path / "release" / "index.json").read_text())
    assert index["sigstore_bundles"] == ["provenance.sigstore.json"]
    assert (tmp_path / "release" / "provenance.sigstore.json").read_bytes() == bundle.read_bytes()


def test_bad_release_inputs_are_exit_2_and_write_nothing(workspace: Workspace, tmp_path: Path) -> None:
    not_bom = tmp_path / "sbom.json"
    not_bom.write_text('{"spdxVersion": "SPDX-2.3"}')
    assert_clean_error(sign(tmp_path, workspace, "--sbom", not_bom), 2)
    assert not (tmp_path / "release").exists()
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert_clean_error(sign(tmp_path, workspace, "--provenance", broken), 2)
    assert_clean_error(sign(tmp_path, workspace, "--device-manifest", broken), 2)
    assert_clean_error(sign(tmp_path, workspace, "--build", workspace.firmware, "--build", workspace.firmware), 2)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    assert_clean_error(sign(tmp_path, workspace, out="full"), 2)
    assert (tmp_path / "full" / "keep.txt").read_text() == "x"
    assert not list(tmp_path.glob(".release.*")), "no staging directory is left behind"
