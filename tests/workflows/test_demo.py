"""``provcheck demo``: README's first command, end to end, with nothing but provcheck."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli
from verifier.workflows.demo import demo_firmware


def test_demo_runs_end_to_end_in_a_temporary_directory(tmp_path: Path) -> None:
    result = run_cli(["demo", "--format", "json"], env={"TMPDIR": str(tmp_path)}, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    root = Path(summary["directory"])
    assert root.parent == tmp_path and root.name.startswith("provcheck-demo-")
    verdicts = {case["name"]: (case["verdict"], case["expected"]) for case in summary["cases"]}
    assert [v for v, _ in verdicts.values()] == ["pass", "fail", "fail", "pass", "fail"]
    assert all(v == e for v, e in verdicts.values())
    device, firmware = summary["cases"][1], summary["cases"][2]
    assert {r["check"] for r in device["reasons"]} == {"hw.region", "hw.components"}
    assert {"firmware.hidden-function", "firmware.changed-function"} <= {r["check"] for r in firmware["reasons"]}
    for case in summary["cases"]:
        folder = Path(case["report_dir"])
        for name in ("report.html", "report.json", "report.sarif", "report.txt", "vsa.intoto.jsonl"):
            assert (folder / name).is_file(), (case["name"], name)
    assert "because hw.region" in result.stderr, "the narrative shows the reasons"
    assert {r["check"] for r in summary["cases"][4]["reasons"]} >= {"spdm.signature"}
    history = run_cli(["history", "--history-db", root / "history.sqlite3", "--verify"])
    assert history.returncode == 0


def test_demo_text_output_in_a_given_directory(tmp_path: Path) -> None:
    result = run_cli(["demo", "--dir", tmp_path / "demo"], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "PASS as expected" in result.stdout and result.stdout.count("FAIL as expected") == 3
    assert "every case came out as expected" in result.stdout
    assert (tmp_path / "demo" / "reports" / "intake-honest" / "report.html").is_file()


def test_demo_firmware_is_deterministic_and_the_tampered_build_differs() -> None:
    assert demo_firmware() == demo_firmware()
    assert demo_firmware(tampered=True) != demo_firmware()
    assert demo_firmware()[:4] == b"\x7fELF"
