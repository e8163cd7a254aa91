"""Intake through real U-Boot: Debian's u-boot-qemu in QEMU aarch64 on a pty, with a pflash image we know."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attestations.keys import load_signer
from tests.helpers import REPO
from tests.workflows.conftest import Workspace
from verifier.workflows.release import ReleaseRequest, sign_release

pytestmark = pytest.mark.slow

REGION_SIZE = 4096  # small enough for U-Boot's md.b dump, which this U-Boot build has (it lacks hash and crc32)


@pytest.fixture(scope="module")
def qemu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.hw.peers import PFLASH_SIZE, have_qemu_uboot, start_qemu_uboot

    missing = have_qemu_uboot()
    if missing:
        pytest.skip(missing)
    workdir = tmp_path_factory.mktemp("qemu")
    flash = workdir / "pflash.img"
    head = hashlib.shake_256(b"provcheck workflow pflash").digest(REGION_SIZE)
    with flash.open("wb") as handle:
        handle.write(head)
        handle.truncate(PFLASH_SIZE)
    (workdir / "pflash-head.bin").write_bytes(head)
    machine = start_qemu_uboot(workdir, flash)
    machine.head = head
    try:
        yield machine
    finally:
        machine.stop()


def _release(ws: Workspace, tmp: Path, qemu: Any, *, digest: str | None = None) -> tuple[Path, Path]:
    from tests.hw.peers import PFLASH_BASE

    workdir = Path(str(qemu.qmp_path)).parent
    image = workdir / "pflash-head.bin"
    manifest = {
        "manufacturer": "emulation",
        "model": "linux,dummy-virt",
        # QEMU's virt board has two CFI flash banks; U-Boot's flinfo reports both by JEDEC id.
        "components": [
            {
                "class": "flash",
                "manufacturer": "Intel",
                "model": "0x0018",
                "serial": None,
                "revision": None,
                "required": True,
            }
        ]
        * 2,
        "firmware_regions": [
            {
                "name": "pflash1",
                "address": PFLASH_BASE,
                "size": REGION_SIZE,
                "sha256": digest or hashlib.sha256(image.read_bytes()).hexdigest(),
            }
        ],
    }
    (tmp / "device.json").write_text(json.dumps(manifest))
    release = tmp / "release"
    sign_release(
        ReleaseRequest(firmware=[image], device_manifest=tmp / "device.json"),
        [load_signer(ws.paths["vendor_key"])],
        release,
    )
    policy = tmp / "policy.toml"
    policy.write_text(
        f'version = 1\n[signers]\nkeys = ["{ws.paths["vendor_pub"]}"]\n'
        '[attestations]\nrequired = ["https://provcheck.dev/firmware-manifest/v1", '
        '"https://provcheck.dev/device-manifest/v1"]\n'
        '[device]\nrequired = true\nrequired_fields = ["manufacturer", "model", "firmware_regions"]\n'
        '[device.required_strength]\nfirmware_regions = "measured"\n'
    )
    return release, policy


def _holds_open(pid: int, path: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == path for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def _intake(qemu: Any, release: Path, policy: Path, tmp: Path) -> tuple[int, dict[str, object]]:
    pty = str(qemu.pty)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "verifier.cli",
            "intake",
            "--release",
            str(release),
            "--policy",
            str(policy),
            "--port",
            pty,
            "--profile",
            "uboot",
            "--timeout",
            "120",
            "--report-dir",
            str(tmp / "reports"),
            "--no-history",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    paused = qemu.process.poll() is None and not getattr(qemu, "resumed", False)
    if paused:
        # Resume U-Boot only once the reader holds the pty, so not a byte of the boot is lost.
        deadline = time.monotonic() + 60
        while not _holds_open(proc.pid, pty):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "intake never opened the pty"
            time.sleep(0.05)
        qemu.resume()
        qemu.resumed = True
    stdout, stderr = proc.communicate(timeout=300)
    assert "Traceback" not in stderr, stderr
    return proc.returncode, json.loads(stdout)


def test_intake_through_real_uboot(workspace: Workspace, qemu: Any, tmp_path: Path) -> None:
    release, policy = _release(workspace, tmp_path, qemu)
    code, report = _intake(qemu, release, policy, tmp_path)
    findings = report["findings"]
    assert isinstance(findings, list)
    assert code == 0, [f for f in findings if f["status"] != "pass"]
    region = next(f for f in findings if f["check"] == "hw.region")
    assert region["status"] == "pass"
    evidence = json.loads((tmp_path / "reports" / "evidence.json").read_text())
    assert evidence["profile"] == "uboot"
    dumped = [r for r in evidence["regions"] if r["method"] == "md.b"]
    assert dumped and dumped[0]["digest"] == hashlib.sha256(qemu.head).hexdigest()


def test_intake_through_real_uboot_fails_on_other_declared_image(
    workspace: Workspace, qemu: Any, tmp_path: Path
) -> None:
    release, policy = _release(workspace, tmp_path, qemu, digest="0" * 64)
    code, report = _intake(qemu, release, policy, tmp_path)
    findings = report["findings"]
    assert isinstance(findings, list)
    assert code == 1
    assert {f["check"] for f in findings if f["status"] == "fail"} == {"hw.region"}
