"""SPDM benchmarks (issue 15), each a ratio measured in one run.

1. A full attestation (GET_VERSION to signed MEASUREMENTS, then the judge) of the simulated responder over a pty
   paced at the line rate (8N1: baud/10 bytes per second), against the wire bound of the same bytes: requests and
   answers alternate, so every byte is serial and the bound is (sent + received) / rate. Aim: <= 1.2x.
2. Verifying a recorded exchange offline (decode every message, rebuild both transcripts, verify both signatures;
   the spdm-emu pcap when ../shared is there, else one recorded from the simulator) against the two raw ECDSA
   verifications it contains, with the key already parsed. Aim: <= 1.5x.

Run: python bench/spdm.py [--baud 115200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# bench/ holds a serial.py: keep the folder off the path so 'import serial' finds pyserial.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))


def timed(func: Callable[[], object], repeat: int) -> float:
    """The best wall time of ``repeat`` runs (as bench/_timing.py: the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best

VECTORS = Path(os.environ.get("PROVCHECK_VECTORS", REPO.parent / "shared" / "vectors"))


def attestation(baud: int, workdir: Path) -> tuple[float, float, int]:
    from hw.reader import read_device
    from verifier.checks.spdm import SpdmRules
    from verifier.workflows.spdm_read import judge_read, load_anchors

    anchor = workdir / "ca.pem"
    device = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "device", "simulate", "--profile", "spdm", "--baud-pacing",
         "--baud", str(baud), "--write-trust-anchor", str(anchor), "--duration", "900"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
    )
    try:
        assert device.stdout is not None
        port = device.stdout.readline().strip()
        anchors = load_anchors([anchor])
        started = time.perf_counter()
        evidence = read_device(port, profile="spdm", baud=baud, timeout=600, read_timeout=10)
        report, verdict = judge_read(evidence, anchors, SpdmRules())
        elapsed = time.perf_counter() - started
    finally:
        os.kill(device.pid, signal.SIGTERM)
        device.wait(timeout=10)
    assert verdict.signature_ok and verdict.chain_ok, report
    wire = int(evidence.transcript["bytes_sent"]) + int(evidence.transcript["bytes_received"])
    return elapsed, wire / (baud / 10), wire


def recorded_messages() -> tuple[list[bytes], str]:
    pcap = VECTORS / "spdm-emu" / "spdm13-mctp-ecp384-sha384.pcap"
    if pcap.is_file():
        from hw.spdm.pcap import read_pcap

        return [r.message for r in read_pcap(pcap.read_bytes())], pcap.name
    from hw.sim.spdm import SpdmResponder
    from hw.spdm.requester import attest

    class Direct:
        def __init__(self) -> None:
            self.responder = SpdmResponder()

        def request(self, message: bytes, *, timeout: float) -> bytes:
            return self.responder.respond(message)

    return attest(Direct(), nonce=os.urandom(32), timeout=1).exchange.messages, "simulator session"


def verification(repeat: int) -> tuple[float, float, str]:
    from hw.spdm.exchange import pairs_of, replay
    from hw.spdm.transcript import CHALLENGE_CONTEXT, MEASUREMENTS_CONTEXT, to_be_signed
    from hw.spdm.verify import leaf_key, verify_signature

    messages, source = recorded_messages()
    pairs = pairs_of(messages)
    exchange = replay(pairs)
    assert exchange.challenge and exchange.measurements
    assert exchange.challenge.signature_verified and exchange.measurements.signature_verified
    # The raw operations it contains: two signature checks over the same bytes, the key parsed beforehand.
    chain = exchange.chain(0)
    assert chain is not None and exchange.algorithms is not None
    key, a = leaf_key(chain), exchange.algorithms
    challenge_index = next(i for i, (q, _) in enumerate(pairs) if q[1] == 0x83)
    request, response = pairs[challenge_index]
    sig_c = response[-a.signature_size :]
    m1 = exchange.transcripts.vca + b"".join(q + r for q, r in pairs[3:challenge_index]) + request
    m1 += response[: -a.signature_size]
    request, response = pairs[-1]
    sig_m = response[-a.signature_size :]
    l1 = bytes(exchange.transcripts.vca) + request + response[: -a.signature_size]
    v = exchange.version
    msg_c = to_be_signed(v, CHALLENGE_CONTEXT, bytes(m1), a.hash_name)
    msg_m = to_be_signed(v, MEASUREMENTS_CONTEXT, l1, a.hash_name)

    def raw() -> None:
        for _ in range(50):
            assert verify_signature(key, a.asym_name, a.hash_name, msg_c, sig_c)
            assert verify_signature(key, a.asym_name, a.hash_name, msg_m, sig_m)

    def full() -> None:
        for _ in range(50):
            replay(pairs)

    # Interleaved, best of each: the machine is shared, and a burst of load must not land on one side only.
    full_time = raw_time = float("inf")
    for _ in range(max(repeat, 5)):
        full_time = min(full_time, timed(full, 1))
        raw_time = min(raw_time, timed(raw, 1))
    return full_time / 50, raw_time / 50, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        runs = [attestation(args.baud, Path(tmp)) for _ in range(args.repeat)]
    elapsed, bound, wire = min(runs)
    print(f"full SPDM attestation at {args.baud} baud: {elapsed:.3f} s for {wire} bytes on the wire; "
          f"wire bound {bound:.3f} s; ratio {elapsed / bound:.2f}x (aim <= 1.2x)")
    full, raw, source = verification(args.repeat)
    print(f"offline verification of a recorded exchange ({source}): {full * 1000:.2f} ms; the two raw ECDSA "
          f"verifications in it {raw * 1000:.2f} ms; ratio {full / raw:.2f}x (aim <= 1.5x)")


if __name__ == "__main__":
    main()
