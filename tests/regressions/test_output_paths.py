"""Issue 12, file system: write only what the user asked, where they asked; no secret lands in a file.

Device nodes are made here with mknod (root only; skipped otherwise): the tests never write to the
machine's own /dev/null. FIFOs need no root.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from tests.helpers import assert_clean_error, run_cli
from tests.workflows.conftest import Workspace, workspace  # noqa: F401 - fixture


def _char_device(path: Path, major: int, minor: int) -> Path:
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    return path


def test_output_to_a_device_node_replaced_it_with_a_regular_file(workspace: Workspace, tmp_path: Path) -> None:  # noqa: F811
    null = _char_device(tmp_path / "null", 1, 3)  # the kernel's null device, made here
    result = run_cli(["firmware", "inventory", workspace.firmware, "-o", null])
    assert result.returncode == 0, result.stderr
    assert null.is_char_device(), "-o wrote through the device; it did not replace it"
    assert [p.name for p in tmp_path.iterdir()] == ["null"], "no temporary file beside it"


def test_output_to_a_fifo_replaced_it_with_a_regular_file(workspace: Workspace, tmp_path: Path) -> None:  # noqa: F811
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_cli(["firmware", "inventory", workspace.firmware, "-o", fifo])
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO is still a FIFO"
    manifest = json.loads(received[0])
    assert manifest["file"]["sha256"] == hashlib.sha256(workspace.firmware.read_bytes()).hexdigest()


def test_output_dash_is_stdout(workspace: Workspace, tmp_path: Path) -> None:  # noqa: F811
    result = run_cli(["firmware", "inventory", workspace.firmware, "-o", "-"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["file"]["size"] == workspace.firmware.stat().st_size
    assert not (tmp_path / "-").exists(), "no file named '-'"


def test_output_to_a_symlink_replaced_the_link(workspace: Workspace, tmp_path: Path) -> None:  # noqa: F811
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = run_cli(["firmware", "inventory", workspace.firmware, "-o", link])
    assert result.returncode == 0, result.stderr
    assert link.is_symlink(), "the link stays a link"
    assert json.loads(target.read_text())["file"]["size"] == workspace.firmware.stat().st_size
    # A dangling link is how a planted link would make provcheck create a file elsewhere: refused.
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "elsewhere" / "created.json")
    refused = run_cli(["firmware", "inventory", workspace.firmware, "-o", dangling])
    assert_clean_error(refused, 2)
    assert not (tmp_path / "elsewhere").exists()
    # A directory or a socket is not an output either.
    assert_clean_error(run_cli(["firmware", "inventory", workspace.firmware, "-o", tmp_path]), 2)


def test_device_read_output_to_a_device_node_replaced_it(tmp_path: Path) -> None:
    from hw.sim import Simulator

    null = _char_device(tmp_path / "null", 1, 3)
    with Simulator("attest") as sim:
        result = run_cli(["device", "read", "--port", sim.port, "--profile", "attest", "--timeout", "30", "-o", null])
    assert result.returncode == 0, result.stderr
    assert null.is_char_device()


def test_simulate_link_deleted_an_existing_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("years of notes")
    result = run_cli(["device", "simulate", "--link", notes, "--duration", "0.2"])
    assert_clean_error(result, 2)
    assert notes.read_text() == "years of notes"
    # Neither a symlink to a file of the user's.
    link = tmp_path / "link"
    link.symlink_to(notes)
    assert_clean_error(run_cli(["device", "simulate", "--link", link, "--duration", "0.2"]), 2)
    assert link.is_symlink() and notes.read_text() == "years of notes"


def test_simulate_link_replaces_a_stale_simulator_link(tmp_path: Path) -> None:
    from hw.sim import Simulator

    stale = tmp_path / "tty"
    stale.symlink_to("/dev/pts/999999")  # what an earlier, killed simulator left behind
    with Simulator("uboot", link=str(stale)) as sim:
        assert os.readlink(stale) == sim.port
    assert not stale.exists() and not stale.is_symlink(), "the simulator removes its own link"


def _transcript_bytes(path: Path) -> bytes:
    lines = path.read_text().splitlines()[1:]
    return b"".join(base64.b64decode(json.loads(line)["b64"]) for line in lines if "b64" in line)


def test_console_password_was_kept_in_the_transcript(tmp_path: Path) -> None:
    from hw.reader import read_device
    from hw.sim import DeviceConfig, Simulator

    password = "hunter2-Secret!"
    config = DeviceConfig(username="operator", password=password)
    with Simulator("linux", config=config) as sim:
        evidence = read_device(sim.port, profile="linux", timeout=60, read_timeout=2, username="operator",
                               password=password, transcript_dir=tmp_path)
    assert evidence.fact("serial") is not None, "the login worked"
    (kept,) = tmp_path.glob("linux-*.jsonl")
    recorded = _transcript_bytes(kept)
    assert password.encode() not in kept.read_bytes() and password.encode() not in recorded
    assert base64.b64encode(password.encode()).decode()[:12] not in kept.read_text()
    assert b"<password redacted>" in recorded
    assert b"operator" in recorded, "the login name stays: only the secret is redacted"
    # The hash in the evidence covers what was recorded.
    assert evidence.transcript["sha256"] == hashlib.sha256(kept.read_bytes()).hexdigest()


def test_console_password_was_taken_on_the_command_line(tmp_path: Path) -> None:
    result = run_cli(["device", "read", "--port", "loop://", "--profile", "linux", "--username", "u",
                      "--password", "s3cret"])
    assert_clean_error(result, 2)
    assert "--password-env" in result.stderr
    assert "s3cret" not in result.stderr
    simulated = run_cli(["device", "simulate", "--profile", "linux", "--password", "s3cret", "--duration", "0.2"])
    assert_clean_error(simulated, 2)
