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


@pytest.fixture
def busybox_shell(tmp_path: Path) -> Iterator[str]:
    if not Path(BUSYBOX).is_file():
        pytest.skip("busybox is not installed (Debian busybox-static)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in APPLETS:
        (bin_dir / applet).symlink_to(BUSYBOX)
    reader_master, reader_slave = os.openpty()
    shell_master, shell_slave = os.openpty()
    tty.setraw(reader_slave)
    shell = subprocess.Popen(
        [str(bin_dir / "sh"), "-i"],
        stdin=shell_slave, stdout=shell_slave, stderr=shell_slave,
        env={"PATH": str(bin_dir), "PS1": "device$ ", "HOME": str(tmp_path), "TERM": "vt100"},
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
