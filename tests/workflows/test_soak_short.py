"""A short soak (2 rounds of 8 simulated devices on lossy lines): nothing leaks, no honest device fails.

The long soak is ``python bench/soak.py`` (32 devices, 10 minutes); this is its bounded twin for CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from types import ModuleType

from tests.helpers import REPO

SOAK = REPO / "bench" / "soak.py"


def _soak_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("provcheck_bench_soak", SOAK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_two_rounds_of_eight_lossy_devices_leak_nothing_and_never_fail() -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--devices", "8", "--rounds", "2", "--jobs", "4", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert summary["rounds"] == 2 and summary["device_sessions"] == 16
    assert summary["verdicts"]["fail"] == 0, "an honest device on a lossy line was judged tampered"
    assert summary["verdicts"]["missing"] == 0
    assert summary["verdicts"]["pass"] + summary["verdicts"]["inconclusive"] == 16
    assert summary["delta"] == {"fds": 0, "ptys": 0, "children": 0}
    assert summary["per_round_ptys"] == [0, 0] and summary["per_round_children"] == [0, 0]


def test_the_leak_counters_see_a_leaked_pty_and_child() -> None:
    """The failing twin: what the soak counts does move when a pty or a child process is left behind."""
    soak = _soak_module()
    before = soak.holdings()
    master, slave = os.openpty()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        during = soak.holdings()
        assert during.fds >= before.fds + 2
        assert during.ptys >= before.ptys + 2
        assert during.children >= before.children + 1
    finally:
        child.kill()
        child.wait()
        os.close(master)
        os.close(slave)
    after = soak.holdings()
    assert (after.fds, after.ptys, after.children) == (before.fds, before.ptys, before.children)
