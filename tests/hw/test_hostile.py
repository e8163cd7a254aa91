"""A hostile device never hangs the reader past its deadline, never grows its memory without bound,
and never makes the verifier execute anything."""

from __future__ import annotations

import os
import subprocess
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from hw.errors import HardwareError, TransportError
from hw.reader import read_device
from hw.sim import DeviceConfig, Simulator
from tests.hw.hostile import PtyDevice
from verifier.checks.device import check_device
from verifier.declared.device_manifest import manifest_from_predicate
from verifier.model import Status

Write = Callable[[bytes], None]
Read = Callable[[float], bytes]


def trickle(write: Write, read: Read, stop: threading.Event) -> None:
    """One byte every 50 ms, forever: no read ever times out, no prompt ever comes."""
    while not stop.wait(0.05):
        write(b".")


def endless_line(write: Write, read: Read, stop: threading.Event) -> None:
    """Answers anything with an unending line that contains prompts but never a marker."""
    junk = b"=> # login: " * 300
    while not stop.is_set():
        read(0)
        write(junk)


def frame_flood(write: Write, read: Read, stop: threading.Event) -> None:
    """Bytes that never contain a frame delimiter."""
    junk = b"\x01" * 8192
    while not stop.is_set():
        write(junk)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("profile", ["auto", "uboot", "linux", "attest"])
def test_trickling_device_stops_at_the_deadline(profile: str) -> None:
    with PtyDevice(trickle) as device, pytest.raises(HardwareError) as caught:
        read_device(device.port, profile=profile, timeout=3, read_timeout=1)
    assert caught.value.exit_code == 3


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("behaviour", "profile"), [(endless_line, "uboot"), (endless_line, "linux"),
                                                    (frame_flood, "attest")])
def test_flood_is_bounded_in_memory(behaviour: Callable[[Write, Read, threading.Event], None], profile: str) -> None:
    cap = 1 << 20
    tracemalloc.start()
    try:
        with PtyDevice(behaviour) as device, pytest.raises(TransportError):
            read_device(device.port, profile=profile, timeout=10, read_timeout=0.5, max_output=cap,
                        transcript_cap=cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert device.sent > cap  # the device sent more than the caps allow to be kept
    assert peak < 12 * cap, peak


def test_default_output_cap_stops_a_flood() -> None:
    with Simulator("uboot", tamper=["flood"]) as sim, pytest.raises(TransportError, match=r"more than|deadline"):
        read_device(sim.port, profile="uboot", timeout=30, read_timeout=2, max_output=4 << 20)


def test_hostile_strings_are_never_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planted = tmp_path / "pwned"
    config = DeviceConfig(
        serial=f"$(touch {planted}) `touch {planted}` ; touch {planted}",
        model="RTU-9'; touch " + str(planted) + "; echo '",
    )
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("the reader tried to run a program")

    for name in ("Popen", "run", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, refuse)
    monkeypatch.setattr(os, "system", refuse)
    monkeypatch.setattr(os, "execv", refuse)
    monkeypatch.setattr(os, "execvp", refuse)
    for profile in ("uboot", "linux", "attest"):
        with Simulator(profile, config=config) as sim:
            manifest = manifest_from_predicate({**sim.declared_manifest(), "serial": {"exact": ["ACME-000123"]}})
            evidence = read_device(sim.port, profile=profile, timeout=30, read_timeout=2,
                                   regions=manifest.region_specs())
        serial = evidence.fact("serial")
        assert serial is not None and serial.value == config.serial  # kept as text, verbatim
        findings = check_device(evidence, manifest)
        assert {f.check for f in findings if f.status is Status.FAIL} == {"hw.serial-number"}
    assert not planted.exists()
    assert calls == []
