"""Soak: ``provcheck bench`` against simulated devices on lossy lines, round after round, counting leaks.

Each round starts ``--devices`` simulated attest devices on fresh ptys (the demo's honest device:
every one of them matches its vendor's declaration), all with 0.5 % of their bytes dropped on the
line and a random third of them hanging up mid-session, and runs the bench over them with
``verifier.workflows.bench.run_bench`` (each device its own ``provcheck intake`` process). Rounds repeat
until ``--duration`` has passed.

Before the first round, after every round and at the end it counts what this process tree holds:
open file descriptors, ptys (``/dev/pts/*`` and ``/dev/ptmx`` among them), child processes and
resident memory. It prints the rounds, device sessions, verdicts, the deltas (baseline vs end, all
simulators stopped) and RSS growth as the ratio last round / first round. Every device must end
pass or inconclusive: an honest device judged fail is a false fail.

    python bench/soak.py                         # 32 devices, 600 s, --jobs 4
    python bench/soak.py --devices 8 --rounds 2  # the short soak tests/workflows/test_soak_short.py runs
    python bench/soak.py --drop-rate 0.0005      # a line clean enough for most sessions to pass

The drop rate is per byte. At 0.5 % a 600-byte attest frame crosses intact about 5 % of the
time, so with the attest client's 3 retries nearly every session ends inconclusive (4 of 512
passed in one 10-minute run): the default soak mostly proves the failure path (never a fail,
nothing leaked); ``--drop-rate 0.0005`` exercises the passing path as well.

Exit status: 0 when nothing leaked and no device failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# bench/ itself must not be on sys.path: bench/serial.py would shadow pyserial for everything imported here.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

DROP_RATE = 0.005
DISCONNECT_SHARE = 1 / 3


@dataclass(frozen=True)
class Holdings:
    """What this process and its descendants hold at one moment."""

    fds: int
    ptys: int
    children: int
    rss_kb: int

    def to_json(self) -> dict[str, int]:
        return {"fds": self.fds, "ptys": self.ptys, "children": self.children, "rss_kb": self.rss_kb}


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _fd_targets(pid: int) -> list[str]:
    targets = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
    except OSError:
        pass
    return targets


def holdings() -> Holdings:
    me = os.getpid()
    children = _descendants(me)
    own = _fd_targets(me)
    everyone = own + [t for pid in children for t in _fd_targets(pid)]
    ptys = sum(1 for t in everyone if t.startswith("/dev/pts/") or t == "/dev/ptmx")
    rss = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return Holdings(len(own), ptys, len(children), rss)


def prepare(root: Path) -> dict[str, Path]:
    from attestations.keys import load_signer
    from verifier.workflows.demo import prepare as demo_prepare
    from verifier.workflows.release import ReleaseRequest, sign_release

    paths = demo_prepare(root)
    sign_release(
        ReleaseRequest(firmware=[paths["firmware"]], device_manifest=paths["device_manifest"]),
        [load_signer(paths["vendor_key"])],
        root / "release",
    )
    paths["release"] = root / "release"
    return paths


@dataclass
class Round:
    seconds: float
    verdicts: dict[str, int]
    disconnects: int
    after: Holdings


def one_round(
    paths: dict[str, Path],
    work: Path,
    number: int,
    devices: int,
    jobs: int,
    rng: random.Random,
    verbose: bool,
    drop_rate: float = DROP_RATE,
) -> Round:
    from hw.sim import Simulator
    from verifier.workflows.bench import load_plan, run_bench
    from verifier.workflows.demo import _device_config, demo_firmware

    config = _device_config(demo_firmware())
    sims = []
    disconnects = 0
    for _ in range(devices):
        tamper = ["drop-bytes"]
        if rng.random() < DISCONNECT_SHARE:
            tamper.append("disconnect")
            disconnects += 1
        sims.append(
            Simulator(
                "attest",
                tamper=tamper,
                tamper_rate=drop_rate,
                seed=rng.randrange(2**32),
                disconnect_after=rng.randrange(50, 3000),
                config=config,
            )
        )
    started = time.monotonic()
    try:
        for sim in sims:
            sim.start()
        plan = work / f"plan-{number}.toml"
        text = (
            "version = 1\n[defaults]\n"
            f"release = '{paths['release']}'\npolicy = ['{paths['policy']}']\nfirmware = '{paths['firmware']}'\n"
            "profile = 'attest'\ntimeout = 60\n"
        )
        for index, sim in enumerate(sims):
            text += f"\n[[device]]\nname = 'slot-{index + 1}'\nport = '{sim.port}'\n"
        plan.write_text(text)
        reports = work / f"reports-{number}"
        run = run_bench(load_plan(plan), reports, jobs=jobs, options={"no_history": True})
        verdicts = {"pass": 0, "inconclusive": 0, "fail": 0}
        reasons_of: list[str] = []
        for outcome in run.outcomes:
            verdicts[outcome.verdict.value] += 1
            if outcome.verdict.value != "pass":
                reasons = "; ".join(f"{f.check}: {f.message}"[:160] for f in outcome.report.reasons()[:2])
                label = "FALSE FAIL" if outcome.verdict.value == "fail" else "inconclusive"
                reasons_of.append(f"  {label} {outcome.device.name}: {reasons}")
        verdicts["missing"] = devices - len(run.outcomes)
        if verbose:
            print("\n".join(reasons_of), file=sys.stderr)
    finally:
        for sim in sims:
            sim.stop()
    shutil.rmtree(work / f"reports-{number}", ignore_errors=True)
    return Round(time.monotonic() - started, verdicts, disconnects, holdings())


def soak(
    duration: float,
    devices: int,
    jobs: int,
    rounds_wanted: int | None,
    seed: int,
    verbose: bool = False,
    drop_rate: float = DROP_RATE,
) -> dict[str, Any]:
    rng = random.Random(seed)  # reproducible line faults, not secrets
    with tempfile.TemporaryDirectory(prefix="provcheck-soak-") as tmp:
        work = Path(tmp)
        paths = prepare(work / "workspace")
        # Import everything the rounds use before the baseline, so module loading is not counted as growth.
        import hw.sim  # noqa: F401
        import verifier.workflows.bench  # noqa: F401

        before = holdings()
        rounds: list[Round] = []
        started = time.monotonic()
        while (
            len(rounds) < rounds_wanted
            if rounds_wanted is not None
            else not rounds or time.monotonic() - started < duration
        ):
            result = one_round(paths, work, len(rounds) + 1, devices, jobs, rng, verbose, drop_rate)
            rounds.append(result)
            print(
                f"round {len(rounds):3d}: {result.seconds:6.1f} s  {result.verdicts}  "
                f"disconnecting {result.disconnects}  holds {result.after.to_json()}",
                flush=True,
            )
        after = holdings()
    totals = {key: sum(r.verdicts[key] for r in rounds) for key in ("pass", "inconclusive", "fail", "missing")}
    return {
        "rounds": len(rounds),
        "seconds": round(time.monotonic() - started, 1),
        "devices_per_round": devices,
        "drop_rate": drop_rate,
        "device_sessions": len(rounds) * devices,
        "verdicts": totals,
        "disconnecting_devices": sum(r.disconnects for r in rounds),
        "before": before.to_json(),
        "after": after.to_json(),
        "delta": {
            "fds": after.fds - before.fds,
            "ptys": after.ptys - before.ptys,
            "children": after.children - before.children,
        },
        "rss_first_round_kb": rounds[0].after.rss_kb,
        "rss_last_round_kb": rounds[-1].after.rss_kb,
        "rss_growth_last_vs_first": round(rounds[-1].after.rss_kb / rounds[0].after.rss_kb, 3),
        "per_round_fds": [r.after.fds for r in rounds],
        "per_round_ptys": [r.after.ptys for r in rounds],
        "per_round_children": [r.after.children for r in rounds],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of rounds (default 600)")
    parser.add_argument("--devices", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=None, help="exactly this many rounds, whatever the duration")
    parser.add_argument("--verbose", action="store_true", help="why each device that did not pass was inconclusive")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drop-rate", type=float, default=DROP_RATE, help="share of bytes dropped (default 0.005)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    result = soak(args.duration, args.devices, args.jobs, args.rounds, args.seed, args.verbose, args.drop_rate)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        v, d = result["verdicts"], result["delta"]
        print(
            f"soak: {result['rounds']} rounds in {result['seconds']} s, {result['device_sessions']} device sessions "
            f"({result['disconnecting_devices']} with a disconnect), {args.drop_rate:.2%} of bytes dropped\n"
            f"verdicts: pass {v['pass']}, inconclusive {v['inconclusive']}, fail {v['fail']} (false fails), "
            f"missing {v['missing']}\n"
            f"leaks (end - start): fds {d['fds']:+d}, ptys {d['ptys']:+d}, child processes {d['children']:+d}\n"
            f"RSS: first round {result['rss_first_round_kb']} kB, last round {result['rss_last_round_kb']} kB, "
            f"growth x{result['rss_growth_last_vs_first']}"
        )
    clean = result["verdicts"]["fail"] == 0 and result["verdicts"]["missing"] == 0 and not any(result["delta"].values())
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
