"""``provcheck device read / verify / simulate`` as a user runs them, including bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, assert_clean_error, run_cli


@pytest.fixture
def simulated_attest(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``provcheck device simulate`` in its own process, stopped by PID."""
    manifest = tmp_path / "manifest.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "device", "simulate", "--profile", "attest",
         "--write-manifest", manifest, "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/"), proc.stderr.read() if proc.stderr else ""
        yield port, manifest
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_simulate_read_verify_round_trip(simulated_attest: tuple[str, Path], tmp_path: Path) -> None:
    port, manifest = simulated_attest
    evidence = tmp_path / "ev.json"
    read = run_cli(["device", "read", "--port", port, "-o", evidence, "--timeout", "60"])
    assert read.returncode == 0, read.stderr
    assert "signed    serial" in read.stdout
    data = json.loads(evidence.read_text())
    assert data["profile"] == "attest" and data["transcript"]["sha256"]
    ok = run_cli(["device", "verify", "--evidence", evidence, "--manifest", manifest, "--require", "serial=signed",
                  "--nonce", data["nonce"], "--format", "json"])
    assert ok.returncode == 0, ok.stdout
    report = json.loads(ok.stdout)
    assert report["verdict"] == "pass"
    stale = run_cli(["device", "verify", "--evidence", evidence, "--manifest", manifest, "--nonce", "11" * 32])
    assert stale.returncode == 1
    assert "hw.nonce" in stale.stdout


def test_simulate_lists_its_knobs() -> None:
    result = run_cli(["device", "simulate", "--list"])
    assert result.returncode == 0
    for knob in ("swapped-firmware", "replayed-nonce", "fake-prompts", "flood"):
        assert knob in result.stdout


def test_reported_facts_fail_a_signed_requirement(tmp_path: Path) -> None:
    from hw.reader import read_device
    from hw.sim import Simulator
    from verifier.declared.device_manifest import manifest_from_predicate

    with Simulator("uboot") as sim:
        declared = sim.declared_manifest()
        evidence = read_device(sim.port, profile="uboot", timeout=30, read_timeout=2,
                               regions=manifest_from_predicate(declared).region_specs())
    (tmp_path / "ev.json").write_bytes(evidence.to_bytes())
    (tmp_path / "m.json").write_text(json.dumps(declared))
    args = ["device", "verify", "--evidence", tmp_path / "ev.json", "--manifest", tmp_path / "m.json"]
    assert run_cli(args).returncode == 0
    strict = run_cli([*args, "--require", "serial=signed"])
    assert strict.returncode == 1
    assert "only reported it" in strict.stdout or "only" in strict.stdout


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema": "something-else"}', "schema"),
        ('{"schema": "https://provcheck.dev/device-evidence/v1", "profile": "uboot", '
         '"identity": {"serial": {"value": "x", "strength": "trust-me"}}}', "strength"),
        ('{"schema": "https://provcheck.dev/device-evidence/v1", "profile": "uboot", "regions": "all"}', "list"),
        ("", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["truncated", "other-schema", "unknown-strength", "regions-not-a-list", "empty", "deeply-nested"],
)
def test_bad_evidence_is_exit_2(tmp_path: Path, content: str, what: str) -> None:
    (tmp_path / "ev.json").write_text(content)
    (tmp_path / "m.json").write_text('{"model": "RTU-9"}')
    result = run_cli(["device", "verify", "--evidence", tmp_path / "ev.json", "--manifest", tmp_path / "m.json"])
    assert_clean_error(result, 2)
    assert what in result.stderr


def test_bad_manifest_is_exit_2(tmp_path: Path) -> None:
    from hw.evidence import DeviceEvidence

    (tmp_path / "ev.json").write_bytes(DeviceEvidence("uboot", "loop://", {}).to_bytes())
    (tmp_path / "m.json").write_text('{"serial": {"pattern": "(["}}')
    result = run_cli(["device", "verify", "--evidence", tmp_path / "ev.json", "--manifest", tmp_path / "m.json"])
    assert_clean_error(result, 2)
    missing = run_cli(["device", "verify", "--evidence", tmp_path / "none.json", "--manifest", tmp_path / "m.json"])
    assert_clean_error(missing, 2)
    (tmp_path / "m.json").write_text("[" * 100_000 + "]" * 100_000)
    deep = run_cli(["device", "verify", "--evidence", tmp_path / "ev.json", "--manifest", tmp_path / "m.json"])
    assert_clean_error(deep, 2)
    assert "nested too deeply" in deep.stderr
    (tmp_path / "m.json").write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                                                 "metadata": {"manufacturer": {"name": 7}},
                                                 "components": [{"type": "device", "name": 5}]}))
    odd = run_cli(["device", "verify", "--evidence", tmp_path / "ev.json", "--manifest", tmp_path / "m.json"])
    # Not CycloneDX: the schema's message, naming where (tests/verifier/test_hbom_library.py has the rest).
    assert_clean_error(odd, 2)
    assert "$.metadata.manufacturer.name" in odd.stderr


def test_unreachable_port_is_exit_3(tmp_path: Path) -> None:
    result = run_cli(["device", "read", "--port", tmp_path / "no-such-tty", "--timeout", "5"])
    assert_clean_error(result, 3)
    result = run_cli(["device", "read", "--port", "rfc2217://127.0.0.1:1", "--timeout", "5"])
    assert_clean_error(result, 3)


def test_silent_port_is_exit_3() -> None:
    from hw.sim import Simulator

    with Simulator("attest", tamper=["flood"]) as sim:
        result = run_cli(["device", "read", "--port", sim.port, "--profile", "uboot", "--timeout", "4",
                          "--read-timeout", "1"])
    assert_clean_error(result, 3)


@pytest.mark.parametrize(
    "args",
    [
        ["device", "read", "--port", "loop://", "--region", "nonsense"],
        ["device", "read", "--port", "loop://", "--nonce", "abc"],
        ["device", "simulate", "--tamper", "no-such-knob", "--duration", "1"],
        ["device", "simulate", "--profile", "uboot", "--tamper", "bad-signature", "--duration", "1"],
        ["device", "verify", "--evidence", "x", "--manifest", "y", "--require", "serial=trusted"],
    ],
)
def test_usage_errors_are_exit_2(args: list[str]) -> None:
    assert_clean_error(run_cli(args), 2)
