"""``provcheck bench``: many devices in parallel; failures, hangs and Ctrl-C stay contained."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import junitparser
import pytest

from tests.helpers import REPO, assert_clean_error, run_cli
from tests.workflows.conftest import Workspace


def write_plan(ws: Workspace, tmp: Path, devices: list[tuple[str, str]], *, timeout: float = 30) -> Path:
    plan = tmp / "plan.toml"
    text = (
        "version = 1\n[defaults]\n"
        f"release = '{ws.release}'\npolicy = ['{ws.policy}']\nfirmware = '{ws.firmware}'\n"
        f"profile = 'attest'\ntimeout = {timeout}\n"
    )
    for name, port in devices:
        text += f"\n[[device]]\nname = '{name}'\nport = '{port}'\n"
    plan.write_text(text)
    return plan


def test_eight_devices_two_tampered_one_disconnected(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    tampers: list[tuple[str, ...]] = [(), (), (), (), (), ("changed-serial",), ("swapped-firmware",), ("disconnect",)]
    sims = [simulator(*t, disconnect_after=200) for t in tampers]
    plan = write_plan(workspace, tmp_path, [(f"slot-{i + 1}", s.port) for i, s in enumerate(sims)])
    junit = tmp_path / "bench.xml"
    result = run_cli(
        [
            "bench",
            "--plan",
            plan,
            "--jobs",
            "4",
            "--junit",
            junit,
            "--report-dir",
            tmp_path / "reports",
            "--history-db",
            tmp_path / "history.sqlite3",
            "--format",
            "json",
        ],
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["metadata"]["verdicts"] == {"pass": 5, "fail": 2, "inconclusive": 1}
    by_device = {f["subject"]: f["status"] for f in summary["findings"]}
    assert by_device == {
        **{f"slot-{i}": "pass" for i in range(1, 6)},
        "slot-6": "fail",
        "slot-7": "fail",
        "slot-8": "error",
    }

    xml = junitparser.JUnitXml.fromfile(str(junit))
    suites = {s.name: s for s in xml}
    assert set(suites) == {f"slot-{i}" for i in range(1, 9)}
    for name in ("slot-1", "slot-5"):
        assert suites[name].failures == 0 and suites[name].errors == 0 and suites[name].tests > 20
    serial_cases = [c for c in suites["slot-6"] if c.name.startswith("hw.serial-number")]
    assert serial_cases and isinstance(serial_cases[0].result[0], junitparser.Failure)
    assert suites["slot-7"].failures >= 1
    assert suites["slot-8"].errors >= 1 and suites["slot-8"].failures == 0

    for i in range(1, 9):
        folder = tmp_path / "reports" / f"slot-{i}"
        assert (folder / "report.json").is_file() and (folder / "report.html").is_file()
        assert list(folder.glob("attest-*.jsonl")), f"slot-{i} keeps its own transcript"
    history = run_cli(["history", "--history-db", tmp_path / "history.sqlite3", "--verify", "--format", "json"])
    assert history.returncode == 0
    listed = run_cli(["history", "--history-db", tmp_path / "history.sqlite3", "--format", "json"])
    assert len(json.loads(listed.stdout)["records"]) == 8


def test_hanging_device_does_not_stop_others_and_ctrl_c_keeps_what_finished(
    workspace: Workspace, simulator: Any, tmp_path: Path
) -> None:
    honest = [simulator(), simulator()]
    # A port that never answers: the pty's other end is held open here and stays silent.
    master, slave = os.openpty()
    silent = os.ttyname(slave)
    try:
        plan = write_plan(
            workspace,
            tmp_path,
            [("good-1", honest[0].port), ("stuck", silent), ("good-2", honest[1].port)],
            timeout=600,
        )
        junit = tmp_path / "bench.xml"
        reports = tmp_path / "reports"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "verifier.cli",
                "bench",
                "--plan",
                str(plan),
                "--jobs",
                "3",
                "--junit",
                str(junit),
                "--report-dir",
                str(reports),
                "--no-history",
                "--format",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert proc.stderr is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
        reader.start()
        try:
            # The bench prints "NAME: PASS" once it has recorded a device; wait for both good ones.
            deadline = time.monotonic() + 120
            while not all(
                any(line.startswith(f"{name}: PASS") for line in list(lines)) for name in ("good-1", "good-2")
            ):
                assert proc.poll() is None, (proc.returncode, lines)
                assert time.monotonic() < deadline, ("the good devices never finished next to the stuck one", lines)
                time.sleep(0.1)
            os.kill(proc.pid, signal.SIGINT)
            stdout = proc.stdout.read() if proc.stdout else ""
            proc.wait(timeout=60)
            reader.join(timeout=10)
            stderr = "".join(lines)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 3, stderr
        assert "Traceback" not in stderr
        summary = json.loads(stdout)
        assert summary["metadata"]["interrupted"] == ["stuck"]
        assert summary["metadata"]["verdicts"]["pass"] == 2
        suites = {s.name: s for s in junitparser.JUnitXml.fromfile(str(junit))}
        assert suites["good-1"].failures == 0 and suites["good-2"].failures == 0
        assert "stuck" not in suites
        interrupted = [c for s in suites.values() for c in s if c.name.startswith("bench.device [stuck]")]
        assert interrupted and isinstance(interrupted[0].result[0], junitparser.Error)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("version = 1\n[[device]]\nname = 'a'\nprot = 'loop://'\n", "plan.toml:4: key 'device[0].prot': unknown key"),
        ("version = 1\n", "lists no [[device]]"),
        ("version = 1\n[[device]]\nname = 'a'\nport = 'loop://'\n", "has no 'release'"),
        ("version = 1\n[defaults]\nprofile = 'jtag'\n[[device]]\nname = 'a'\nport = 'x'\n", "defaults.profile"),
        ("[[device]]\nname = 'a'\n", "version = 1"),
        ("version = 1\n[defaults]\ntimeout = = 3\n", "plan.toml:3: key 'timeout': not valid TOML"),
    ],
)
def test_bad_plan_is_exit_2_with_line_and_key(tmp_path: Path, text: str, words: str) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(text)
    result = run_cli(["bench", "--plan", plan, "--report-dir", tmp_path / "r"])
    assert_clean_error(result, 2)
    assert words in result.stderr


def test_duplicate_device_names_and_ports_are_rejected(workspace: Workspace, tmp_path: Path) -> None:
    plan = write_plan(workspace, tmp_path, [("a", "loop://"), ("a", "socket://127.0.0.1:1")])
    result = run_cli(["bench", "--plan", plan, "--report-dir", tmp_path / "r"])
    assert_clean_error(result, 2)
    assert "used twice" in result.stderr
    plan = write_plan(workspace, tmp_path, [("a", "/dev/ttyUSB0"), ("b", "/dev/ttyUSB0")])
    result = run_cli(["bench", "--plan", plan, "--report-dir", tmp_path / "r"])
    assert_clean_error(result, 2)
    assert "also the port of device 'a'" in result.stderr


def test_intake_that_outlives_its_deadline_is_killed_and_inconclusive(
    workspace: Workspace, simulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real intake always ends at its own deadline, so the hang is made here: the one stand-in in these tests."""
    from verifier.workflows import bench

    real = bench._intake_command

    def command(device: bench.BenchDevice, report_dir: Path, options: dict[str, Any]) -> list[str]:
        if device.name == "hung":
            return [sys.executable, "-c", "import time; time.sleep(600)"]
        return real(device, report_dir, options)

    monkeypatch.setattr(bench, "_intake_command", command)
    monkeypatch.setattr(bench, "KILL_GRACE_SECONDS", 0.5)
    # Only the hung device has a short deadline: the good one's intake must not race a loaded machine.
    path = write_plan(workspace, tmp_path, [("good", simulator().port)], timeout=120)
    path.write_text(path.read_text() + "\n[[device]]\nname = 'hung'\nport = 'loop://'\ntimeout = 5\n")
    plan = bench.load_plan(path)
    run = bench.run_bench(plan, tmp_path / "reports", jobs=2, options={"no_history": True})
    verdicts = {o.device.name: o.verdict.value for o in run.outcomes}
    assert verdicts == {"hung": "inconclusive", "good": "pass"}
    hung = next(o for o in run.outcomes if o.device.name == "hung")
    assert "did not finish" in hung.report.findings[0].message


def test_plan_dump_options_and_relative_ports(workspace: Workspace, tmp_path: Path) -> None:
    from verifier.workflows.bench import _intake_command, load_plan

    (tmp_path / "bench").mkdir()
    plan = tmp_path / "bench" / "plan.toml"
    plan.write_text(
        "version = 1\n[defaults]\n"
        f"release = '{workspace.release}'\npolicy = ['{workspace.policy}']\nprofile = 'uboot'\n"
        "read_timeout = 15\nmax_dump = 4096\nprompt = 'ZynqMP> '\n"
        "[[device]]\nname = 'a'\nport = 'ttys/dut-a'\nmax_dump = 0\n"
        "[[device]]\nname = 'b'\nport = 'rfc2217://127.0.0.1:7001'\n"
        "[[device]]\nname = 'c'\nport = '/dev/ttyUSB0'\n"
        "[[device]]\nname = 'd'\nport = './ttys/../ttys/dut-d'\n"
    )
    devices = {d.name: d for d in load_plan(plan).devices}
    assert devices["a"].port == str(tmp_path / "bench" / "ttys" / "dut-a")  # beside the plan, not the cwd
    assert devices["b"].port == "rfc2217://127.0.0.1:7001"
    assert devices["c"].port == "/dev/ttyUSB0"
    assert devices["d"].port == str(tmp_path / "bench" / "ttys" / "dut-d")
    assert (devices["a"].max_dump, devices["b"].max_dump) == (0, 4096)
    command = _intake_command(devices["a"], tmp_path, {})
    for flag, value in (("--read-timeout", "15.0"), ("--max-dump", "0"), ("--prompt", "ZynqMP> ")):
        assert command[command.index(flag) + 1] == value
    # The same port written two ways is still one port.
    same = plan.read_text().replace("'./ttys/../ttys/dut-d'", "'ttys/./dut-a'")
    plan.write_text(same)
    result = run_cli(["bench", "--plan", plan, "--report-dir", tmp_path / "r"])
    assert_clean_error(result, 2)
    assert "also the port of device 'a'" in result.stderr


@pytest.mark.parametrize(("key", "value"), [("max_dump", "-1"), ("read_timeout", "0"), ("prompt", "''"),
                                            ("max_dump", "'big'")])
def test_bad_dump_options_are_exit_2(workspace: Workspace, tmp_path: Path, key: str, value: str) -> None:
    plan = write_plan(workspace, tmp_path, [("a", "loop://")])
    plan.write_text(plan.read_text().replace("[defaults]\n", f"[defaults]\n{key} = {value}\n"))
    result = run_cli(["bench", "--plan", plan, "--report-dir", tmp_path / "r"])
    assert_clean_error(result, 2)
    assert key in result.stderr


def test_uboot_devices_get_the_dump_size_the_plan_gives(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    """A U-Boot without 'hash': with max_dump 0 the region is only crc32 (inconclusive, and the reason names
    the option that intake now has); with room to dump it, md.b + sha256 passes. Ports are links beside the plan."""
    from attestations.keys import load_signer
    from tests.workflows.conftest import policy_text
    from verifier.workflows.demo import declared_device_manifest
    from verifier.workflows.release import ReleaseRequest, sign_release

    sims = [simulator("missing-commands", profile="uboot") for _ in range(2)]
    (tmp_path / "device.json").write_text(json.dumps(declared_device_manifest(sims[0])))
    release = tmp_path / "release"
    sign_release(ReleaseRequest(firmware=[workspace.firmware], device_manifest=tmp_path / "device.json"),
                 [load_signer(workspace.paths["vendor_key"])], release)
    policy = workspace.write_policy("uboot-bench.toml", policy_text(
        ("require_nonce = true", "require_nonce = false"),
        ('serial = "signed"', 'serial = "reported"'),
        ('firmware_regions = "signed"', 'firmware_regions = "measured"'),
    ))
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    for name, sim in zip(("crc-only", "dumped"), sims, strict=True):
        (bench_dir / name).symlink_to(sim.port)
    plan = bench_dir / "plan.toml"
    plan.write_text(
        "version = 1\n[defaults]\n"
        f"release = '{release}'\npolicy = ['{policy}']\nfirmware = '{workspace.firmware}'\n"
        "profile = 'uboot'\ntimeout = 60\nread_timeout = 5\nprompt = '=> '\n"
        "[[device]]\nname = 'crc-only'\nport = 'crc-only'\nmax_dump = 0\n"
        "[[device]]\nname = 'dumped'\nport = 'dumped'\nmax_dump = 65536\n"
    )
    result = run_cli(["bench", "--plan", plan, "--report-dir", tmp_path / "reports", "--no-history",
                      "--format", "json"], timeout=300, cwd=tmp_path)
    summary = json.loads(result.stdout)
    by_device = {f["subject"]: f for f in summary["findings"]}
    assert by_device["dumped"]["status"] == "pass", by_device["dumped"]["message"]
    assert by_device["crc-only"]["status"] == "error", by_device["crc-only"]["message"]
    report = json.loads((tmp_path / "reports" / "crc-only" / "report.json").read_text())
    region = next(f for f in report["findings"] if f["check"] == "hw.region")
    assert region["status"] == "skip" and "raise --max-dump" in region["message"]
    help_text = run_cli(["intake", "--help"]).stdout
    assert all(option in help_text for option in ("--max-dump", "--read-timeout", "--prompt"))
