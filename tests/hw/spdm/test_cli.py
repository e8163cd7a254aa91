"""``provcheck device simulate --profile spdm`` and ``device read --profile spdm`` as a user runs them, honest and
tampered, and ``device verify`` re-verifying the evidence offline."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, Run, run_cli

Simulate = Callable[..., tuple[str, Path, Path]]


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[Simulate]:
    """Start ``provcheck device simulate --profile spdm [--tamper K]...`` in its own process; stopped by PID."""
    procs: list[subprocess.Popen[str]] = []

    def start(*tampers: str, listen: str | None = None) -> tuple[str, Path, Path]:
        folder = tmp_path / f"sim{len(procs)}"
        folder.mkdir()
        manifest, anchor = folder / "manifest.json", folder / "ca.pem"
        args = [sys.executable, "-m", "verifier.cli", "device", "simulate", "--profile", "spdm", "--write-manifest",
                str(manifest), "--write-trust-anchor", str(anchor), "--duration", "120"]
        for knob in tampers:
            args += ["--tamper", knob]
        if listen:
            args += ["--listen", listen]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        procs.append(proc)
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port, proc.stderr.read() if proc.stderr else ""
        return port, manifest, anchor

    yield start
    for proc in procs:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def _read(port: str, anchor: Path, *extra: object, evidence: Path | None = None) -> Run:
    args: list[object] = ["device", "read", "--profile", "spdm", "--port", port, "--trust-anchor", anchor,
                          "--timeout", "30", "--read-timeout", "2", *extra]
    if evidence is not None:
        args += ["-o", evidence]
    return run_cli(args)


def test_honest_read_prints_identity_version_algorithms_blocks(simulate: Simulate, tmp_path: Path) -> None:
    port, manifest, anchor = simulate()
    evidence = tmp_path / "ev.json"
    read = _read(port, anchor, evidence=evidence)
    assert read.returncode == 0, read.stdout + read.stderr
    assert "CN=DMTF libspdm ECP384 responder cert" in read.stdout
    assert "SPDM 1.3: ECDSA-P384, SHA-384, measurements SHA-384" in read.stdout
    assert "signed    measurement   1 immutable ROM" in read.stdout
    assert "measurement 254 debug and device mode" in read.stdout
    data = json.loads(evidence.read_text())
    ok = run_cli(["device", "verify", "--evidence", evidence, "--manifest", manifest, "--nonce", data["nonce"],
                  "--format", "json"])
    assert ok.returncode == 0, ok.stdout
    checks = {f["check"]: f["status"] for f in json.loads(ok.stdout)["findings"]}
    assert checks["spdm.signature"] == checks["spdm.chain"] == checks["spdm.measurement-mismatch"] == "pass"
    stale = run_cli(["device", "verify", "--evidence", evidence, "--manifest", manifest, "--nonce", "11" * 32])
    assert stale.returncode == 1 and "spdm.signature" in stale.stdout


def test_evidence_is_re_verified_not_believed(simulate: Simulate, tmp_path: Path) -> None:
    """A byte changed in a recorded MEASUREMENTS fails; labels and the summary the file writes count for nothing."""
    port, manifest, anchor = simulate()
    evidence = tmp_path / "ev.json"
    assert _read(port, anchor, evidence=evidence).returncode == 0
    data = json.loads(evidence.read_text())
    messages = data["spdm"]["messages_b64"]
    last = bytearray(base64.b64decode(messages[-1]))
    last[20] ^= 0x01  # inside measurement block 1's digest
    messages[-1] = base64.b64encode(bytes(last)).decode()
    data["spdm"]["summary"]["measurements_signature_verified"] = True
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    bad = run_cli(["device", "verify", "--evidence", edited, "--manifest", manifest, "--format", "json"])
    assert bad.returncode == 1
    failing = {f["check"] for f in json.loads(bad.stdout)["findings"] if f["status"] == "fail"}
    assert "spdm.signature" in failing
    # Another trust anchor (slot 1's root: the same name, another key) fails the chain.
    from hw.sim.spdm import root_pem

    other = json.loads(manifest.read_text())
    other["identity"]["ca_pem"] = root_pem(1)
    other_manifest = tmp_path / "other.json"
    other_manifest.write_text(json.dumps(other))
    wrong = run_cli(["device", "verify", "--evidence", evidence, "--manifest", other_manifest, "--format", "json"])
    assert wrong.returncode == 1
    assert "spdm.chain" in {f["check"] for f in json.loads(wrong.stdout)["findings"] if f["status"] == "fail"}


@pytest.mark.parametrize(
    ("knob", "check"),
    [
        ("flipped-measurement", "spdm.signature"),
        ("replayed-nonce", "spdm.signature"),
        ("wrong-device-key", "spdm.chain"),
        ("other-key", "spdm.signature"),
    ],
)
def test_tampered_responder_fails(simulate: Simulate, knob: str, check: str) -> None:
    port, _, anchor = simulate(knob)
    read = _read(port, anchor, "--format", "text")
    assert read.returncode == 1, read.stdout + read.stderr
    assert check in read.stdout and "FAIL" in read.stdout.upper()


def test_forbidden_algorithms_fail(simulate: Simulate) -> None:
    port, _, anchor = simulate("weak-algorithms")
    read = _read(port, anchor, "--spdm-allow", "ECDSA-P384", "--spdm-allow", "SHA-384")
    assert read.returncode == 1, read.stdout + read.stderr
    assert "spdm.algorithm" in read.stdout and "SHA-256" in read.stdout
    port, _, anchor = simulate()
    assert _read(port, anchor, "--spdm-allow", "ECDSA-P384", "--spdm-allow", "SHA-384").returncode == 0
    assert _read(port, anchor, "--spdm-min-version", "1.3").returncode == 0


@pytest.mark.parametrize("knob", ["silent", "truncated"])
def test_silence_and_truncation_are_inconclusive_within_the_timeout(simulate: Simulate, knob: str) -> None:
    port, _, anchor = simulate(knob)
    started = time.monotonic()
    read = _read(port, anchor)
    assert read.returncode == 3, read.stdout + read.stderr
    assert "Traceback" not in read.stderr and "GET_MEASUREMENTS" in read.stderr
    assert time.monotonic() - started < 15


def test_bad_trust_anchor_and_algorithm_names_are_bad_input(simulate: Simulate, tmp_path: Path) -> None:
    port, _, anchor = simulate()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    bad = _read(port, junk)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    unknown = _read(port, anchor, "--spdm-allow", "MD5")
    assert unknown.returncode == 2 and "MD5" in unknown.stderr
