"""Serial benchmarks on the simulator with baud pacing (8N1: baud/10 bytes per second each way).

For each profile (uboot, linux, attest) it reads the honest simulated device, verifies the
evidence against the declared manifest, and prints:

- time-to-evidence against the lower bound measured in the same run: the bytes that had to
  cross the line divided by the line rate (11,520 B/s at 115200), plus the time the simulated
  device itself spent computing (hash/crc32);
  * attest: requests and answers alternate, so every byte is serial: bound = (sent + received) / rate;
  * uboot/linux: the device echoes what we type while we type it, so sending overlaps receiving:
    bound = received / rate (the larger direction) + device time;
- bytes on the wire per verified fact (passing checks, not counting the bookkeeping ones).

Goals (issue 4): attest <= 1.2x its bound; U-Boot overhead beyond line + device time < 10%.

Run: python bench/serial.py [--baud 115200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# This file is named serial.py: keep its folder off the path so 'import serial' finds pyserial.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

BOOKKEEPING = {"hw.evidence", "hw.self-reported"}


def run_once(profile: str, baud: int, workdir: Path) -> dict[str, float]:
    from hw.reader import read_device
    from hw.sim import DeviceConfig
    from verifier.checks.device import check_device, tpm_findings
    from verifier.declared.device_manifest import load_device_manifest
    from verifier.model import Status

    # The device runs in its own process, as a real one would: it must not share our interpreter lock.
    manifest_path = workdir / f"{profile}.json"
    device = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "device", "simulate", "--profile", profile, "--baud-pacing",
         "--baud", str(baud), "--write-manifest", str(manifest_path), "--duration", "900"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
    )
    try:
        assert device.stdout is not None
        port = device.stdout.readline().strip()
        manifest = load_device_manifest(manifest_path)
        started = time.perf_counter()
        evidence = read_device(port, profile=profile, baud=baud, timeout=600, read_timeout=10,
                               regions=manifest.region_specs())
        elapsed = time.perf_counter() - started
    finally:
        os.kill(device.pid, signal.SIGTERM)
        device.wait(timeout=10)
    # The simulated U-Boot spends size / hash_rate on each hash (the reader asks twice); the others ~0.
    hashed = sum(r.size or 0 for r in evidence.regions if r.method in ("hash sha256", "crc32"))
    device_busy = 2 * hashed / DeviceConfig().hash_rate
    findings = check_device(evidence, manifest) + tpm_findings(evidence, manifest, None)
    verified = sum(1 for f in findings if f.status is Status.PASS and f.check not in BOOKKEEPING)
    failing = [f.check for f in findings if f.status is Status.FAIL]
    if failing:
        raise SystemExit(f"{profile}: the honest device failed {failing}")
    rate = baud / 10
    sent = float(evidence.transcript["bytes_sent"])
    received = float(evidence.transcript["bytes_received"])
    line = (sent + received) / rate if profile == "attest" else max(sent, received) / rate
    return {
        "elapsed": elapsed,
        "sent": sent,
        "received": received,
        "line": line,
        "device": device_busy,
        "bound": line + device_busy,
        "verified": float(verified),
    }


def calibrate(baud: int, workdir: Path) -> float:
    """Bytes per second the paced simulator really delivers: one long md.b, timed end to end."""
    from hw.transcript import Transcript
    from hw.transport import Deadline, open_transport
    from hw.uboot import reach_prompt

    device = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "device", "simulate", "--profile", "uboot", "--baud-pacing",
         "--baud", str(baud), "--duration", "900"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
    )
    try:
        assert device.stdout is not None
        port = device.stdout.readline().strip()
        transport = open_transport(port, baud=baud, deadline=Deadline(600), transcript=Transcript())
        try:
            console = reach_prompt(transport, read_timeout=10)
            before = transport.transcript.bytes_received
            started = time.perf_counter()
            console.run("md.b 8000000 4000", timeout=300)
            elapsed = time.perf_counter() - started
            return (transport.transcript.bytes_received - before) / elapsed
        finally:
            transport.close()
    finally:
        os.kill(device.pid, signal.SIGTERM)
        device.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--repeat", type=int, default=3, help="runs per profile; the best is reported")
    parser.add_argument("--profiles", default="attest,uboot,linux")
    args = parser.parse_args()
    rate = args.baud / 10
    print(f"line: {args.baud} baud 8N1 = {rate:,.0f} B/s each way; best of {args.repeat} runs per profile")
    with tempfile.TemporaryDirectory() as tmp:
        delivered = calibrate(args.baud, Path(tmp))
    print(f"simulator pacing check: a 16 KiB md.b dump arrived at {delivered:,.0f} B/s "
          f"({delivered / rate:.3f}x nominal)")
    header = (f"{'profile':<8} {'time s':>8} {'bound s':>8} {'ratio':>6} {'overhead':>9} {'sent B':>8} {'recv B':>8} "
              f"{'device s':>9} {'facts':>6} {'B/fact':>7}")
    print(header)
    results = {}
    for profile in args.profiles.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            runs = [run_once(profile, args.baud, Path(tmp)) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["elapsed"] / r["bound"])
        results[profile] = best
        ratio = best["elapsed"] / best["bound"]
        per_fact = (best["sent"] + best["received"]) / max(best["verified"], 1)
        print(
            f"{profile:<8} {best['elapsed']:>8.2f} {best['bound']:>8.2f} {ratio:>6.3f} {100 * (ratio - 1):>8.1f}% "
            f"{best['sent']:>8.0f} {best['received']:>8.0f} {best['device']:>9.3f} {best['verified']:>6.0f} "
            f"{per_fact:>7.0f}"
        )
    if "attest" in results:
        ratio = results["attest"]["elapsed"] / results["attest"]["bound"]
        print(f"goal attest <= 1.2x its bound: {ratio:.3f}x {'met' if ratio <= 1.2 else 'NOT met'}")
    if "uboot" in results:
        overhead = results["uboot"]["elapsed"] / results["uboot"]["bound"] - 1
        print(f"goal uboot overhead beyond line + device time < 10%: {100 * overhead:.1f}% "
              f"{'met' if overhead < 0.10 else 'NOT met'}")


if __name__ == "__main__":
    main()
