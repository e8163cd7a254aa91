"""Real peers for the hardware tests: QEMU running Debian's U-Boot on a pty, and ser2net.

Both are started here and stopped by PID. QEMU starts paused (-S) and is resumed over
QMP only once the reader can open the pty, so no boot output is lost.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

UBOOT_BIN = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
QEMU = "qemu-system-aarch64"
PFLASH_SIZE = 64 * 1024 * 1024
# QEMU's virt board maps pflash unit 1 at 64 MiB.
PFLASH_BASE = 0x04000000


def have_qemu_uboot() -> str | None:
    """None when QEMU and U-Boot are installed, else why not."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed (Debian qemu-system-arm)"
    if not UBOOT_BIN.is_file():
        return f"{UBOOT_BIN} is missing (Debian u-boot-qemu)"
    return None


@dataclass
class QemuUBoot:
    process: subprocess.Popen[str]
    pty: str
    qmp_path: Path

    def qmp(self, command: str) -> dict[str, object]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            for attempt in range(100):
                try:
                    sock.connect(str(self.qmp_path))
                    break
                except (ConnectionRefusedError, FileNotFoundError):
                    if attempt == 99:
                        raise
                    time.sleep(0.05)
            stream = sock.makefile("rw")
            json.loads(stream.readline())  # greeting
            for name in ("qmp_capabilities", command):
                stream.write(json.dumps({"execute": name}) + "\n")
                stream.flush()
                while True:
                    reply = json.loads(stream.readline())
                    if "return" in reply or "error" in reply:
                        break
            result: dict[str, object] = reply
            return result

    def resume(self) -> None:
        reply = self.qmp("cont")
        assert "return" in reply, reply

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@dataclass
class Swtpm:
    process: subprocess.Popen[bytes]
    socket_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_swtpm(workdir: Path) -> Swtpm | None:
    """A TPM 2.0 for QEMU (tpm-tis-device); None when swtpm is not installed."""
    if shutil.which("swtpm") is None:
        return None
    state = workdir / "tpm-state"
    state.mkdir(exist_ok=True)
    socket_path = workdir / "swtpm.sock"
    process = subprocess.Popen(
        ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}", "--ctrl", f"type=unixio,path={socket_path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if socket_path.exists():
            return Swtpm(process, socket_path)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("swtpm did not create its control socket")


def start_qemu_uboot(workdir: Path, flash: Path, tpm: Swtpm | None = None) -> QemuUBoot:
    qmp_path = workdir / "qmp.sock"
    tpm_args = []
    if tpm is not None:
        tpm_args = [
            "-chardev", f"socket,id=chrtpm,path={tpm.socket_path}",
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-device", "tpm-tis-device,tpmdev=tpm0",
        ]
    process = subprocess.Popen(
        [
            QEMU, "-M", "virt", "-cpu", "cortex-a57", "-m", "256", "-display", "none", "-monitor", "none",
            "-bios", str(UBOOT_BIN),
            "-drive", f"if=pflash,unit=1,format=raw,readonly=on,file={flash}",
            "-net", "none",
            "-chardev", "pty,id=ser0", "-serial", "chardev:ser0",
            "-qmp", f"unix:{qmp_path},server=on,wait=off",
            *tpm_args,
            "-S",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"(/dev/pts/\d+)", line)
    if not found:
        process.kill()
        raise RuntimeError(f"QEMU did not report its pty: {line!r}")
    for _ in range(100):
        if qmp_path.exists():
            break
        time.sleep(0.05)
    return QemuUBoot(process, found.group(1), qmp_path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Ser2Net:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        # provcheck adds ?ign_set_control itself: that is the point of one of the tests.
        return f"rfc2217://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_ser2net(workdir: Path, device: str) -> Ser2Net:
    port = free_port()
    config = workdir / "ser2net.yaml"
    config.write_text(
        "%YAML 1.1\n---\n"
        "connection: &uboot\n"
        f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev,{device},115200n81,local\n"
        "  options:\n"
        "    kickolduser: true\n"
    )
    process = subprocess.Popen(
        ["ser2net", "-n", "-u", "-c", str(config), "-P", str(workdir / "ser2net.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("ser2net did not start listening")
    time.sleep(0.3)  # let ser2net release the pty after the probe connection
    return Ser2Net(process, port)
