"""spdm-emu's TCP framing: the requester over ``spdm-emu://`` against the simulated responder on 127.0.0.1,
with the MCTP and NONE transports, and the README's example bytes on the wire."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from hw.errors import DeviceProtocolError, TransportError
from hw.spdm import emu
from tests.helpers import REPO, run_cli


def test_readme_get_version_example_bytes() -> None:
    from hw.sim.spdm import EmuServer

    with EmuServer(versions=(0x12,)) as server, socket.create_connection((server.host, server.port), 5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(bytes.fromhex("00000001" "00000001" "00000005" "0510840000"))
        expected = bytes.fromhex("00000001" "00000001" "00000009" "051004000000010012")
        got = b""
        end = time.monotonic() + 5
        while len(got) < len(expected) and time.monotonic() < end:
            got += sock.recv(4096)
        assert got == expected
        sock.sendall(emu.encode(emu.COMMAND_CONTINUE, emu.TRANSPORT_MCTP, b""))
        assert sock.recv(4096) == emu.encode(emu.COMMAND_CONTINUE, emu.TRANSPORT_MCTP, b"")


@pytest.mark.parametrize("transport", [emu.TRANSPORT_MCTP, emu.TRANSPORT_NONE])
def test_read_over_spdm_emu_socket(transport: int) -> None:
    from hw.reader import read_device
    from hw.sim.spdm import EmuServer, root_certificate
    from verifier.checks.spdm import judge_spdm

    with EmuServer(transport=transport) as server:
        # Two sessions in a row: CONTINUE at the end of each leaves the responder serving the next.
        for _ in range(2):
            evidence = read_device(server.url, profile="auto", timeout=20, read_timeout=2)
            assert evidence.profile == "spdm" and evidence.spdm is not None
            verdict = judge_spdm(evidence, [root_certificate(0)], nonce=bytes.fromhex(evidence.nonce or ""))
            assert verdict.signature_ok and verdict.chain_ok
            assert len(verdict.blocks) == 8


@pytest.mark.parametrize("knob", ["flipped-measurement", "replayed-nonce", "wrong-device-key"])
def test_tampered_responder_over_tcp_fails(knob: str) -> None:
    from hw.reader import read_device
    from hw.sim.spdm import EmuServer, root_certificate
    from verifier.checks.spdm import judge_spdm

    with EmuServer(tamper=frozenset({knob})) as server:
        evidence = read_device(server.url, profile="spdm", timeout=20, read_timeout=2)
    verdict = judge_spdm(evidence, [root_certificate(0)], nonce=bytes.fromhex(evidence.nonce or ""))
    assert not (verdict.signature_ok and verdict.chain_ok)


@pytest.mark.parametrize("knob", ["silent", "truncated"])
def test_silent_or_truncated_socket_is_a_transport_fault(knob: str) -> None:
    from hw.reader import read_device
    from hw.sim.spdm import EmuServer

    with EmuServer(tamper=frozenset({knob})) as server:
        started = time.monotonic()
        with pytest.raises(TransportError, match="GET_MEASUREMENTS"):
            read_device(server.url, profile="spdm", timeout=20, read_timeout=1)
        assert time.monotonic() - started < 5


def test_wrong_transport_type_and_no_listener() -> None:
    from hw.reader import read_device
    from hw.sim.spdm import EmuServer

    with EmuServer(transport=emu.TRANSPORT_MCTP) as server, pytest.raises(DeviceProtocolError):
        read_device(server.url + "?transport=none", profile="spdm", timeout=10, read_timeout=1)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(TransportError, match="cannot connect"):
        read_device(f"spdm-emu://127.0.0.1:{port}", profile="spdm", timeout=5, read_timeout=1)


def test_emu_splitter_bounds_the_stated_size() -> None:
    splitter = emu.EmuSplitter()
    with pytest.raises(DeviceProtocolError):
        splitter.feed(emu.HEADER.pack(1, 1, 1 << 31))
    assert emu.EmuSplitter().feed(emu.encode(1, 1, b"ab")[:13]) == []


def test_cli_simulate_listen_and_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    anchor = tmp_path / "ca.pem"
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "device", "simulate", "--profile", "spdm", "--listen", "127.0.0.1:0",
         "--write-trust-anchor", str(anchor), "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("spdm-emu://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        read = run_cli(["device", "read", "--profile", "spdm", "--port", url, "--trust-anchor", anchor,
                        "--timeout", "20"])
        assert read.returncode == 0, read.stdout + read.stderr
        assert "SPDM 1.3: ECDSA-P384" in read.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)
