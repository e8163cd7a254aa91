"""``provcheck intake`` with an SPDM responder: live over the simulated responder's pty, and again offline from the
evidence it wrote (``--evidence``), where every strength is derived from the recorded exchange, never read."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from attestations.keys import load_signer
from tests.helpers import run_cli
from tests.workflows.conftest import Workspace, policy_text
from verifier.workflows.release import ReleaseRequest, sign_release

SPDM_POLICY = (
    ('required_fields = ["manufacturer", "model", "serial"]', "required_fields = []"),
    ('serial = "signed"\nfirmware_regions = "signed"', 'identity_key = "signed"'),
    ("[suppliers]", '[spdm]\nmin_version = "1.2"\nallowed_algorithms = ["ECDSA-P384", "SHA-384"]\n\n[suppliers]'),
)


def _release(workspace: Workspace, sim: Any, tmp_path: Path) -> Path:
    from verifier.workflows.demo import declared_device_manifest

    (tmp_path / "device.json").write_text(json.dumps(declared_device_manifest(sim)))
    release = tmp_path / "release"
    sign_release(
        ReleaseRequest(firmware=[workspace.firmware], device_manifest=tmp_path / "device.json"),
        [load_signer(workspace.paths["vendor_key"])],
        release,
    )
    return release


def _intake(workspace: Workspace, release: Path, policy: Path, *source: object) -> tuple[int, dict[str, Any]]:
    result = run_cli(["intake", "--release", release, "--policy", policy, "--firmware", workspace.firmware, *source,
                      "--timeout", "30", "--no-history", "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def _status(report: dict[str, Any]) -> dict[str, str]:
    return {f["check"]: f["status"] for f in report["findings"]}


def test_spdm_intake_live_then_offline_then_tampered(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    sim = simulator(profile="spdm")
    release = _release(workspace, sim, tmp_path)
    policy = workspace.write_policy("spdm.toml", policy_text(*SPDM_POLICY))
    code, report = _intake(workspace, release, policy, "--port", sim.port, "--profile", "spdm",
                           "--report-dir", tmp_path / "reports")
    status = _status(report)
    assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "skip")]
    for check in ("spdm.signature", "spdm.chain", "spdm.version", "spdm.algorithm", "spdm.measurement-mismatch",
                  "spdm.measurement-missing"):
        assert status[check] == "pass", check
    evidence = tmp_path / "reports" / "evidence.json"
    offline = workspace.write_policy("spdm-offline.toml", policy_text(
        *SPDM_POLICY, ("require_nonce = true", "require_nonce = false")))
    code, report = _intake(workspace, release, offline, "--evidence", evidence)
    assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "skip")]
    # A byte of a measurement changed in the file, its own verdict left saying "verified": fail.
    data = json.loads(evidence.read_text())
    messages = data["spdm"]["messages_b64"]
    last = bytearray(base64.b64decode(messages[-1]))
    last[20] ^= 0x01
    messages[-1] = base64.b64encode(bytes(last)).decode()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    code, report = _intake(workspace, release, offline, "--evidence", edited)
    assert code == 1
    assert _status(report)["spdm.signature"] == "fail"


@pytest.mark.parametrize(("knob", "check"), [("weak-algorithms", "spdm.algorithm"),
                                             ("wrong-device-key", "spdm.chain"),
                                             ("swapped-firmware", "spdm.measurement-mismatch")])
def test_spdm_intake_fails_a_tampered_responder(
    workspace: Workspace, simulator: Any, tmp_path: Path, knob: str, check: str
) -> None:
    honest = simulator(profile="spdm")
    release = _release(workspace, honest, tmp_path)
    policy = workspace.write_policy(f"spdm-{knob}.toml", policy_text(*SPDM_POLICY))
    code, report = _intake(workspace, release, policy, "--port", simulator(knob, profile="spdm").port,
                           "--profile", "spdm")
    assert code == 1
    assert _status(report)[check] == "fail"
