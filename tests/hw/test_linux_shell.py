"""The linux profile against a real shell: busybox ash on a pty, joined to the reader's pty by a relay.

The 'device' is this machine seen through busybox, so every fact can be checked against
reading the same files here. Its PATH holds only busybox applets.
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import signal
import subprocess
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw.profile import RegionSpec
from hw.reader import read_device

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
AK_HANDLE = "0x81010002"
APPLETS = ("sh", "cat", "printf", "tr", "head", "sha256sum", "base64", "seq", "test", "mkdir", "echo", "true", "stty")


def _relay(a: int, b: int, stop: threading.Event) -> None:
    while not stop.is_set():
        ready, _, _ = select.select([a, b], [], [], 0.1)
        for source in ready:
            try:
                data = os.read(source, 4096)
            except OSError:
                return
            if not data:
                return
            os.write(b if source == a else a, data)


def start_shell(tmp_path: Path, *, tools: dict[str, str] | None = None,
                env: dict[str, str] | None = None) -> Iterator[str]:
    if not Path(BUSYBOX).is_file():
        pytest.skip("busybox is not installed (Debian busybox-static)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in APPLETS:
        (bin_dir / applet).symlink_to(BUSYBOX)
    for name, target in (tools or {}).items():
        (bin_dir / name).symlink_to(target)
    reader_master, reader_slave = os.openpty()
    shell_master, shell_slave = os.openpty()
    tty.setraw(reader_slave)
    shell = subprocess.Popen(
        [str(bin_dir / "sh"), "-i"],
        stdin=shell_slave, stdout=shell_slave, stderr=shell_slave,
        env={"PATH": str(bin_dir), "PS1": "device$ ", "HOME": str(tmp_path), "TERM": "vt100", **(env or {})},
        cwd=tmp_path, start_new_session=True,
    )
    stop = threading.Event()
    relay = threading.Thread(target=_relay, args=(reader_master, shell_master, stop), daemon=True)
    relay.start()
    try:
        yield os.ttyname(reader_slave)
    finally:
        stop.set()
        relay.join(timeout=5)
        os.kill(shell.pid, signal.SIGKILL)
        shell.wait(timeout=10)
        for fd in (reader_master, reader_slave, shell_master, shell_slave):
            os.close(fd)


@pytest.fixture
def busybox_shell(tmp_path: Path) -> Iterator[str]:
    yield from start_shell(tmp_path)


def test_linux_profile_reads_a_real_shell(busybox_shell: str, tmp_path: Path) -> None:
    image = tmp_path / "mtd0.bin"
    image.write_bytes(hashlib.sha256(b"partition").digest() * 2048)
    evidence = read_device(busybox_shell, profile="auto", timeout=60, read_timeout=5,
                           regions=[RegionSpec("rootfs", None, 40000, str(image)),
                                    RegionSpec("missing", None, None, str(tmp_path / "absent"))])
    assert evidence.profile == "linux"
    (region,) = evidence.regions
    assert region.name == "rootfs" and region.method == "sha256sum" and region.strength == "measured"
    assert region.digest == hashlib.sha256(image.read_bytes()[:40000]).hexdigest()
    assert any("missing" in note for note in evidence.notes)
    macs = {
        p.read_text().strip() for p in Path("/sys/class/net").glob("*/address")
        if p.read_text().strip() not in ("", "00:00:00:00:00:00")
    }
    fact = evidence.fact("macs")
    assert (set(fact.value) if fact else set()) == macs
    for name, fact in evidence.identity.items():
        if fact.source.startswith(("/sys/class/dmi/id/", "/proc/device-tree/")):
            assert fact.value == Path(fact.source).read_text().replace("\0", " ").strip(), name
    if not Path("/proc/device-tree").exists():
        assert evidence.fact("serial") is None and evidence.fact("model") is None
    assert any("tpm2_quote is not installed" in note for note in evidence.notes)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def shell_with_tpm(tmp_path: Path) -> Iterator[str]:
    """The busybox 'device' with tpm2-tools talking to swtpm on 127.0.0.1, an ECC AK persisted at 0x81010002."""
    for tool in ("swtpm", "tpm2_quote", "tpm2_createak", "tpm2_checkquote"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian swtpm, tpm2-tools)")
    state = tmp_path / "tpm"
    state.mkdir()
    # The swtpm TCTI talks to the control channel on the command port + 1.
    server = _free_port()
    ctrl = server + 1
    swtpm = subprocess.Popen(
        ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
         "--server", f"type=tcp,port={server},bindaddr=127.0.0.1",
         "--ctrl", f"type=tcp,port={ctrl},bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    tcti = f"swtpm:host=127.0.0.1,port={server}"
    env = {**os.environ, "TPM2TOOLS_TCTI": tcti}
    try:
        import time

        for _ in range(100):
            if subprocess.run(["tpm2_getrandom", "8"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        work = tmp_path / "setup"
        work.mkdir()
        # No resource manager on the raw socket: flush transient contexts after each step.
        for args in (
            ["tpm2_createek", "-c", "ek.ctx", "-G", "ecc", "-u", "ek.pub"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256", "-s", "ecdsa",
             "-u", "ak.pub", "-n", "ak.name"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_evictcontrol", "-c", "ak.ctx", AK_HANDLE],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_flushcontext", "-s"],
        ):
            done = subprocess.run(args, env=env, cwd=work, capture_output=True, text=True)
            assert done.returncode == 0, (args, done.stderr)
        tools = {name: shutil.which(name) or name for name in ("tpm2_quote", "tpm2_readpublic")}
        yield from start_shell(tmp_path, tools=tools, env={"TPM2TOOLS_TCTI": tcti})
    finally:
        os.kill(swtpm.pid, signal.SIGTERM)
        swtpm.wait(timeout=10)


def test_linux_profile_fetches_a_quote_on_our_nonce(shell_with_tpm: str, tmp_path: Path) -> None:
    import base64

    from verifier.checks.measured_boot import check_measured_boot, tpm_inputs
    from verifier.model import Status

    nonce = os.urandom(32)
    evidence = read_device(shell_with_tpm, profile="linux", timeout=120, read_timeout=15, nonce=nonce)
    assert evidence.tpm is not None and evidence.tpm.quote is not None, evidence.notes
    assert evidence.tpm.ak_public_pem is not None and "BEGIN PUBLIC KEY" in evidence.tpm.ak_public_pem
    findings = check_measured_boot(tpm_inputs(evidence.tpm), declared_authenticode=set(), boot=None, nonce=nonce)
    status = {f.check: f.status for f in findings}
    assert status["tpm.quote.signature"] is Status.PASS
    assert status["tpm.quote.nonce"] is Status.PASS
    assert status["tpm.quote.pcr-digest"] is Status.PASS
    stale = check_measured_boot(tpm_inputs(evidence.tpm), declared_authenticode=set(), boot=None, nonce=bytes(32))
    assert {f.check: f.status for f in stale}["tpm.quote.nonce"] is Status.FAIL
    # tpm2-tools' own verifier agrees on the message and signature that crossed the serial line (its -f
    # wants the serialised PCR format, not the -F values one the evidence carries, so PCRs are ours alone).
    quote = evidence.tpm.quote
    for name, b64 in (("msg", quote.message_b64), ("sig", quote.signature_b64)):
        (tmp_path / name).write_bytes(base64.b64decode(b64))
    assert len(base64.b64decode(quote.pcrs_b64)) == 8 * 32
    (tmp_path / "ak.pem").write_text(evidence.tpm.ak_public_pem)
    check = ["tpm2_checkquote", "-u", tmp_path / "ak.pem", "-m", tmp_path / "msg", "-s", tmp_path / "sig",
             "-g", "sha256"]
    assert subprocess.run([*check, "-q", nonce.hex()], capture_output=True).returncode == 0
    assert subprocess.run([*check, "-q", "00" * 32], capture_output=True).returncode != 0
