"""Workflow benchmark: every figure is a ratio against a reference measured in the same run.

1. One intake of a simulated attest device on a baud-paced line (115200 8N1): verify the release, scan the
   firmware, read the device, judge, write four reports, sign the VSA, append the history; against the device
   session alone (``read_device``), the part no verifier can skip.
2. ``provcheck bench`` over 8 devices on baud-paced lines (115200 8N1, as real UARTs), ``--jobs 4`` against
   ``--jobs 1``: what parallelism buys a lab whose time goes to the serial lines.
3. ``provcheck demo`` against its 30 s budget.
4. A hash-chained history append against a plain SQLite insert in its own transaction.

Run: python bench/workflows.py
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# bench/ itself must not be on sys.path: bench/serial.py would shadow pyserial for everything imported here.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench._timing import timed  # noqa: E402


def workspace(root: Path) -> dict[str, Path]:
    from attestations.keys import load_signer
    from verifier.workflows.demo import prepare
    from verifier.workflows.release import ReleaseRequest, sign_release

    paths = prepare(root)
    sign_release(
        ReleaseRequest(firmware=[paths["firmware"]], device_manifest=paths["device_manifest"]),
        [load_signer(paths["vendor_key"])],
        root / "release",
    )
    paths["release"] = root / "release"
    return paths


def intake_against_session(root: Path, paths: dict[str, Path]) -> None:
    from hw.reader import read_device
    from hw.sim import Simulator
    from verifier.policy.loading import load_policy
    from verifier.workflows.demo import _device_config, demo_firmware
    from verifier.workflows.intake import IntakeRequest, run_intake

    policy = load_policy(paths["policy"])
    with Simulator("attest", config=_device_config(demo_firmware()), baud_pacing=True) as sim:
        session, _ = timed(lambda: read_device(sim.port, profile="attest", timeout=30), repeat=5)
        counter = iter(range(1000))

        def one() -> Any:
            n = next(counter)
            return run_intake(
                IntakeRequest(
                    release=paths["release"],
                    policy=policy,
                    firmware=paths["firmware"],
                    port=sim.port,
                    profile="attest",
                    timeout=30,
                    report_dir=root / f"intake-{n}",
                    vsa_key=paths["operator_key"],
                    history_db=root / "history.sqlite3",
                )
            )

        whole, result = timed(one, repeat=5)
    assert result.report.verdict.value == "pass", result.report.reasons()
    print(
        f"1. intake, attest device at 115200 baud: {whole * 1000:.0f} ms; the device session alone "
        f"{session * 1000:.0f} ms -> intake is {whole / session:.2f}x the session "
        f"({(whole - session) * 1000:.0f} ms for verification, reports, VSA and history)"
    )


def bench_parallelism(root: Path, paths: dict[str, Path]) -> None:
    from hw.sim import Simulator
    from verifier.workflows.demo import _device_config, demo_firmware

    sims = [Simulator("attest", config=_device_config(demo_firmware()), baud_pacing=True) for _ in range(8)]
    for sim in sims:
        sim.start()
    try:
        plan = root / "plan.toml"
        text = (
            f"version = 1\n[defaults]\nrelease = '{paths['release']}'\npolicy = ['{paths['policy']}']\n"
            f"firmware = '{paths['firmware']}'\nprofile = 'attest'\ntimeout = 120\n"
        )
        for i, sim in enumerate(sims):
            text += f"\n[[device]]\nname = 'slot-{i + 1}'\nport = '{sim.port}'\n"
        plan.write_text(text)
        times = {}
        for jobs in (1, 4):

            def run(jobs: int = jobs) -> None:
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "verifier.cli",
                        "bench",
                        "--plan",
                        str(plan),
                        "--jobs",
                        str(jobs),
                        "--report-dir",
                        str(root / f"bench-{jobs}"),
                        "--no-history",
                        "--format",
                        "json",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert out.returncode == 0, out.stderr[-2000:]

            times[jobs], _ = timed(run)
    finally:
        for sim in sims:
            sim.stop()
    print(
        f"2. bench, 8 devices at 115200 baud (one intake process each, {os.cpu_count()} cores): "
        f"--jobs 1 {times[1]:.1f} s, --jobs 4 {times[4]:.1f} s "
        f"-> {times[1] / times[4]:.1f}x faster"
    )


def demo_budget(root: Path) -> None:
    def run() -> None:
        out = subprocess.run(
            [sys.executable, "-m", "verifier.cli", "demo", "--dir", str(root / "demo")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-2000:]

    seconds, _ = timed(run)
    print(f"3. provcheck demo: {seconds:.1f} s -> {seconds / 30:.2f} of the 30 s budget")


def history_overhead(root: Path) -> None:
    from verifier.workflows.history import History

    report = {"findings": [{"check": "x", "status": "pass", "message": "m" * 200}] * 40}
    count = 200
    store = History(root / "chain.sqlite3")
    chained, _ = timed(
        lambda: [store.append(serial="S", verdict="pass", report=report, vsa=None) for _ in range(count)]
    )
    import json

    plain_db = root / "plain.sqlite3"

    def plain() -> None:
        conn = sqlite3.connect(plain_db, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS t (serial TEXT, verdict TEXT, report TEXT)")
        for _ in range(count):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?, ?, ?)", ("S", "pass", json.dumps(report)))
            conn.execute("COMMIT")
        conn.close()

    reference, _ = timed(plain)
    print(
        f"4. history: {count} chained appends {chained * 1000 / count:.2f} ms each; plain insert "
        f"{reference * 1000 / count:.2f} ms each -> {chained / reference:.1f}x"
    )


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="provcheck-bench-workflows-"))
    try:
        paths = workspace(root / "ws")
        intake_against_session(root, paths)
        bench_parallelism(root, paths)
        demo_budget(root)
        history_overhead(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
