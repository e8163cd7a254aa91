"""Real TPM peers for the measured-boot tests.

``swtpm``: one software TPM for the session, manufactured by swtpm_setup with
EK and platform certificates from a throw-away local CA, served on 127.0.0.1
and driven with tpm2-tools through the swtpm TCTI. The raw socket has no
resource manager, so every helper flushes transient objects and sessions.

``boot_record``: one real boot per session: OVMF with Secure Boot on (Microsoft
keys) under qemu-system-x86_64 -M q35 -accel tcg, swtpm as tpm-tis, Debian's
signed shim and GRUB and the Debian kernel with a busybox initramfs that prints
the event log and PCRs on the serial console (scripts/tpm-boot-eventlog.sh).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO

BOOT_TIMEOUT = 900  # a TCG boot takes ~20 s on two idle cores; a loaded CI machine can be much slower


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (tests/run.sh installs them)")


def _free_port_pair() -> int:
    """A port P with P+1 also free: the swtpm TCTI always uses the next port for the control channel."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


@dataclass
class Swtpm:
    port: int
    directory: Path
    ca_bundle: tuple[Path, ...]  # the local CA's root and issuing certificates

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def run(self, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TPM2TOOLS_TCTI": self.tcti}
        proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=60,
                              cwd=self.directory)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def flush(self) -> None:
        for kind in ("-t", "-s", "-l"):
            self.run("tpm2_flushcontext", kind, check=False)


@pytest.fixture(scope="session")
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swtpm]:
    need("swtpm", "swtpm_setup", "swtpm_localca", "tpm2_createek", "tpm2_quote", "tpm2_checkquote")
    d = tmp_path_factory.mktemp("swtpm")
    (d / "state").mkdir()
    (d / "ca").mkdir()
    (d / "localca.conf").write_text(
        f"statedir = {d / 'ca'}\nsigningkey = {d / 'ca' / 'signkey.pem'}\n"
        f"issuercert = {d / 'ca' / 'issuercert.pem'}\ncertserial = {d / 'ca' / 'certserial'}\n"
    )
    (d / "localca.options").write_text("--platform-manufacturer provcheck-test\n--platform-version 2.1\n"
                                       "--platform-model QEMU\n")
    (d / "setup.conf").write_text(
        "create_certs_tool = /usr/bin/swtpm_localca\n"
        f"create_certs_tool_config = {d / 'localca.conf'}\ncreate_certs_tool_options = {d / 'localca.options'}\n"
    )
    subprocess.run(
        ["swtpm_setup", "--tpm2", "--tpmstate", str(d / "state"), "--create-ek-cert", "--create-platform-cert",
         "--config", str(d / "setup.conf"), "--pcr-banks", "sha1,sha256,sha384"],
        check=True, capture_output=True, timeout=120,
    )
    with serve_swtpm(d / "state") as port:
        yield Swtpm(port, d, (d / "ca" / "swtpm-localca-rootca-cert.pem", d / "ca" / "issuercert.pem"))


@contextlib.contextmanager
def serve_swtpm(state: Path) -> Iterator[int]:
    """Run swtpm on 127.0.0.1 (data port P, control P+1) until the block ends; stop it by its PID."""
    state.mkdir(exist_ok=True)
    port = _free_port_pair()
    proc = subprocess.Popen(
        ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
         "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
         "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Keys:
    ek_public: Path
    aks: dict[str, tuple[Path, Path, Path]]  # kind -> (context, TPM2B_PUBLIC, PEM)


AK_KINDS = {
    "ecc-sha256": ["-G", "ecc", "-g", "sha256", "-s", "ecdsa"],
    "ecc384-sha384": ["-G", "ecc384", "-g", "sha384", "-s", "ecdsa"],
    "rsa-rsassa": ["-G", "rsa", "-g", "sha256", "-s", "rsassa"],
    "rsa-rsapss-sha384": ["-G", "rsa", "-g", "sha384", "-s", "rsapss"],
}


@pytest.fixture(scope="session")
def tpm_keys(swtpm: Swtpm) -> Keys:
    swtpm.run("tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub")
    swtpm.flush()
    aks: dict[str, tuple[Path, Path, Path]] = {}
    for kind, args in AK_KINDS.items():
        swtpm.run("tpm2_createak", "-C", "ek.ctx", "-c", f"{kind}.ctx", *args, "-u", f"{kind}.pub")
        swtpm.flush()
        swtpm.run("tpm2_readpublic", "-c", f"{kind}.ctx", "-f", "pem", "-o", f"{kind}.pem")
        swtpm.flush()
        d = swtpm.directory
        aks[kind] = (d / f"{kind}.ctx", d / f"{kind}.pub", d / f"{kind}.pem")
    return Keys(swtpm.directory / "ek.pub", aks)


@dataclass(frozen=True)
class BootRecord:
    directory: Path
    eventlog: Path
    pcrs: Path
    cmdline: str
    release: Path  # the PE images on the boot disk: shimx64.efi, grubx64.efi, vmlinuz


@pytest.fixture(scope="session")
def boot_record(tmp_path_factory: pytest.TempPathFactory) -> BootRecord:
    need("qemu-system-x86_64", "swtpm", "sfdisk", "mformat", "mcopy", "cpio", "base64")
    for path in ("/usr/share/OVMF/OVMF_CODE_4M.ms.fd", "/usr/lib/shim/shimx64.efi.signed",
                 "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", "/bin/busybox"):
        if not Path(path).exists():
            pytest.skip(f"{path} not installed (tests/run.sh installs it)")
    if not list(Path("/boot").glob("vmlinuz-*")):
        pytest.skip("no kernel in /boot (install linux-image-amd64)")
    work = tmp_path_factory.mktemp("boot")
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "tpm-boot-eventlog.sh"), str(work), str(BOOT_TIMEOUT)],
        capture_output=True, text=True, timeout=BOOT_TIMEOUT + 120,
    )
    assert proc.returncode == 0, f"boot failed: {proc.stderr}\n{(work / 'console.txt').read_text()[-2000:]}"
    return BootRecord(work, work / "eventlog.bin", work / "pcrs.txt", (work / "cmdline.txt").read_text().strip(),
                      work / "release")
