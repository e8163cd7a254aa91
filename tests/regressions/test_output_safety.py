"""Issue 12, output: the operator's screen and files show the truth; report sets are all-or-nothing.

Each test is named after the defect it pins. The hostile values are built the way an attacker would:
a tampered evidence file (the serial is the attacker's text, and the device signature then fails, so the
intake must exit 1 and say FAIL), a firmware file whose name carries escape sequences, a lone surrogate
in valid JSON, a full and a read-only file system (real tmpfs mounts; skipped when mounting is not allowed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Run, assert_clean_error, run_cli
from tests.workflows.conftest import Workspace, simulator, workspace  # noqa: F401 - fixtures
from verifier.model import Finding, Report, Status

ESC = "\x1b"
#: The forged verdict of the issue: clear the screen, home, paint a green PASS, hide what follows.
FORGED = f"{ESC}[2J{ESC}[H{ESC}[1;32mverdict: PASS{ESC}[8m"
#: What an attacker varies: every way a terminal (or a reader's eye) can be driven by a value.
HOSTILE = {
    "csi": FORGED,
    "esc-alone": f"ACME{ESC}",
    "osc8-bel": f"{ESC}]8;;https://evil.example/\x07click{ESC}]8;;\x07",
    "osc52-st": f"{ESC}]52;c;cm0gLXJmIH4K{ESC}\\",
    "reset": f"{ESC}c",
    "reverse-index": f"{ESC}M{ESC}M",
    "c1-csi": "\x9b2J\x9b1;32mverdict: PASS",
    "c1-osc": "\x9d0;title\x9c",
    "del": "ACME\x7f\x7f",
    "cr": "verdict: FAIL\rverdict: PASS",
    "lf": "x\nverdict: PASS",
    "backspace": "FAIL\b\b\b\bPASS",
    "nul": "ACME\x00-000123",
    "bidi-override": "ACME-\u202e321000",
    "bidi-isolate": "\u2066ACME\u2069\u2067x\u2069\u2068y\u2069",
    "zero-width": "ACME\u200b-000123\u200d\ufeff",
    "line-separator": "a\u2028verdict: PASS",
}
#: Nothing that drives a terminal or reorders text may reach a sink that a person reads.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _assert_shown_safely(text: str, where: str) -> None:
    found = UNSAFE.search(text)
    if found is not None:
        around = text[max(0, found.start() - 60) : found.end() + 60]
        pytest.fail(f"{where} passes {found.group()!r} through: {around!r}")


@pytest.fixture(scope="module")
def honest_evidence(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Evidence read from the simulated attest device running the demo firmware."""
    from hw.reader import read_device
    from hw.sim import Simulator
    from verifier.workflows.demo import _device_config, demo_firmware

    with Simulator("attest", config=_device_config(demo_firmware())) as sim:
        evidence = read_device(sim.port, profile="attest", timeout=30)
    data: dict[str, Any] = json.loads(evidence.to_bytes())
    return data


def _evidence_file(path: Path, honest: dict[str, Any], serial: str) -> Path:
    data = json.loads(json.dumps(honest))
    data["identity"]["serial"]["value"] = serial
    path.write_text(json.dumps(data))
    return path


def _intake(ws: Workspace, tmp: Path, evidence: Path, *extra: object, reports: Path | None = None) -> Run:
    return run_cli([
        "intake", "--release", ws.release, "--policy", ws.policy, "--evidence", evidence,
        "--report-dir", reports or tmp / "reports", "--history-db", tmp / "history.sqlite3",
        "--vsa-key", ws.paths["operator_key"], *extra,
    ])


@pytest.mark.parametrize("kind", ["csi", "osc52-st", "c1-csi", "cr", "bidi-override"])
def test_terminal_escapes_in_a_device_serial_forged_a_passing_verdict(
    workspace: Workspace, honest_evidence: dict[str, Any], tmp_path: Path, kind: str  # noqa: F811
) -> None:
    serial = HOSTILE[kind]
    evidence = _evidence_file(tmp_path / "evidence.json", honest_evidence, serial)
    result = _intake(workspace, tmp_path, evidence)
    assert result.returncode == 1, (result.returncode, result.stderr)
    _assert_shown_safely(result.stdout, "the terminal report")
    _assert_shown_safely(result.stderr, "stderr")
    assert "verdict: FAIL" in result.stdout
    reports = tmp_path / "reports"
    # Bytes, not read_text(): universal newlines would turn a CR into a harmless-looking LF.
    text = (reports / "report.txt").read_bytes().decode()
    _assert_shown_safely(text, "report.txt")
    assert "verdict: FAIL" in text
    page = (reports / "report.html").read_bytes().decode()
    _assert_shown_safely(page, "report.html")
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None and title.group(1).endswith(": fail")
    # The machine formats keep the exact value: the evidence and report.json are what the device said.
    assert json.loads((reports / "evidence.json").read_text())["identity"]["serial"]["value"] == serial
    assert json.loads((reports / "report.json").read_text())["subject"] == serial
    listed = run_cli(["history", "--history-db", tmp_path / "history.sqlite3"])
    assert listed.returncode == 0, listed.stderr
    _assert_shown_safely(listed.stdout, "provcheck history")
    assert "FAIL" in listed.stdout


def test_terminal_escapes_in_a_firmware_file_name_reached_the_screen(workspace: Workspace, tmp_path: Path) -> None:  # noqa: F811
    # Linux names are bytes: \xff is no UTF-8, so Python holds it as a lone surrogate (\udcff).
    hostile = tmp_path / (f"fw{FORGED}\u202e" + os.fsdecode(b"\xff.elf"))
    shutil.copyfile(workspace.firmware, hostile)
    summary = run_cli(["firmware", "inventory", hostile, "--format", "text"])
    assert summary.returncode == 0, summary.stderr
    _assert_shown_safely(summary.stdout, "firmware inventory --format text")
    assert "\\x1b[2J" in summary.stdout, "the name is shown, escaped"
    # Click's own error quotes the file name.
    missing = run_cli(["firmware", "inventory", tmp_path / f"gone{FORGED}"])
    assert_clean_error(missing, 2)
    _assert_shown_safely(missing.stderr, "the missing-file error")
    # The intake title is the firmware's name when no device was read.
    result = run_cli([
        "intake", "--release", workspace.release, "--policy", workspace.policy, "--firmware", hostile,
        "--report-dir", tmp_path / "reports", "--no-history",
    ])
    assert result.returncode in (1, 3), (result.returncode, result.stderr)
    _assert_shown_safely(result.stdout + result.stderr, "intake output")
    _assert_shown_safely((tmp_path / "reports" / "report.txt").read_text(), "report.txt")
    _assert_shown_safely((tmp_path / "reports" / "report.html").read_text(), "report.html")


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_every_text_sink_escapes_hostile_values(kind: str) -> None:
    """The renderers in-process, every variant: text, HTML, JUnit (valid XML), SARIF text; JSON keeps the value."""
    from verifier.output import get_renderer
    from verifier.output.text import TextRenderer

    value = HOSTILE[kind]
    report = Report(
        f"intake of {value}",
        (Finding("hw.serial-number", Status.FAIL, f"serial {value!s} <script>alert(1)</script>", value,
                 {"seen": value}),),
        subject=value,
        metadata={"device": {"serial": value}, "release": {"name": value}},
    )
    plain = TextRenderer(color=False).render(report)
    _assert_shown_safely(plain, "text")
    # The only verdict line is the real one: a value never starts a line of its own.
    assert re.findall(r"^[^\w\n]*(verdict: \w+)", plain, re.M) == ["verdict: FAIL"], plain
    # With colour, rich's own styling is SGR (ESC [ digits m); with that removed nothing else may remain.
    _assert_shown_safely(re.sub("\x1b\\[[0-9;]*m", "", TextRenderer(color=True).render(report)), "coloured text")
    page = get_renderer("html").render(report)
    _assert_shown_safely(page, "html")
    assert "<script>alert" not in page
    junit = get_renderer("junit").render(report)
    _assert_shown_safely(junit, "junit")
    ET.fromstring(junit.encode())  # XML 1.0 cannot carry control characters: the document must parse
    sarif = json.loads(get_renderer("sarif").render(report))
    result = sarif["runs"][0]["results"][0]
    _assert_shown_safely(result["message"]["text"], "sarif message")
    assert result["properties"]["evidence"]["seen"] == value, "SARIF evidence keeps the exact value"
    assert json.loads(get_renderer("json").render(report))["subject"] == value


def test_coloured_text_report_carries_only_its_own_escapes() -> None:
    from verifier.output.text import TextRenderer

    report = Report(f"intake of {FORGED}", (Finding("hw.serial-number", Status.FAIL, FORGED, FORGED),), subject=FORGED)
    rendered = TextRenderer(color=True).render(report)
    # rich's own styling is SGR only (ESC [ digits ; m); the forged clear-screen and home must not survive.
    assert "\x1b[2J" not in rendered and "\x1b[H" not in rendered and "\x1b[8m" not in rendered
    assert "\\x1b[2J" in rendered


def test_log_lines_and_cli_errors_escape_hostile_text(tmp_path: Path) -> None:
    import logging

    from verifier.output.sanitize import SanitisingFormatter

    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "device said %s", (FORGED,), None)
    line = SanitisingFormatter("provcheck: %(message)s").format(record)
    _assert_shown_safely(line, "a log line")
    assert "\\x1b[2J" in line
    # A BadInputError quoting a hostile file name: the one-line error on stderr.
    bad = tmp_path / f"policy{FORGED}.toml"
    bad.write_text("[[[ not toml")
    result = run_cli(["device", "verify", "--evidence", bad, "--manifest", bad])
    assert_clean_error(result, 2)
    _assert_shown_safely(result.stderr, "the error line")


def test_lone_surrogate_in_evidence_crashed_the_report_writer(
    workspace: Workspace, honest_evidence: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    # "\ud800" is valid JSON; Python reads it into a str that no UTF-8 encoder can write.
    evidence = tmp_path / "evidence.json"
    _evidence_file(evidence, honest_evidence, "SURROGATE")
    evidence.write_text(evidence.read_text().replace('"SURROGATE"', '"ACME-\\ud800"'))
    result = _intake(workspace, tmp_path, evidence)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "internal error" not in result.stderr
    reports = tmp_path / "reports"
    for name in ("report.txt", "report.json", "report.sarif", "report.html", "evidence.json", "vsa.intoto.jsonl"):
        assert (reports / name).is_file(), name
    assert "\\ud800" in (reports / "report.html").read_text()
    assert "verdict: FAIL" in (reports / "report.txt").read_text()
    listed = run_cli(["history", "--history-db", tmp_path / "history.sqlite3", "--format", "json"])
    assert listed.returncode == 0, listed.stderr
    assert [r["verdict"] for r in json.loads(listed.stdout)["records"]] == ["fail"], "the intake has a history row"


def _old_set(directory: Path) -> dict[str, bytes]:
    """A report set from an earlier, passing intake, as provcheck wrote it."""
    directory.mkdir(parents=True)
    files = {
        "report.json": b'{"verdict": "pass"}\n',
        "report.html": b'<span class="verdict pass" id="verdict">PASS</span>\n',
        "report.txt": b"verdict: PASS\n",
        "report.sarif": b"{}\n",
        "evidence.json": b"{}\n",
        "attest-1700000000-0123456789abcdef.jsonl": b"{}\n",
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


def _set_contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_reused_report_dir_kept_an_earlier_pass_in_report_html(
    workspace: Workspace, honest_evidence: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    reports = tmp_path / "reports"
    _old_set(reports)
    evidence = tmp_path / "evidence.json"
    _evidence_file(evidence, honest_evidence, "SURROGATE")
    evidence.write_text(evidence.read_text().replace('"SURROGATE"', '"\\udfff"'))
    result = _intake(workspace, tmp_path, evidence, reports=reports)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert json.loads((reports / "report.json").read_text())["verdict"] == "fail"
    assert 'id="verdict">FAIL<' in (reports / "report.html").read_text(), "every file of the set says FAIL"
    assert not (reports / "attest-1700000000-0123456789abcdef.jsonl").exists(), "the old set is replaced whole"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".reports.")], "no staging directory stays"


def test_report_set_left_untouched_when_rendering_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from verifier.output import html
    from verifier.output.report_set import ReportSet

    reports = tmp_path / "reports"
    before = _old_set(reports)
    report = Report("intake of x", (Finding("c", Status.FAIL, "m"),))

    def broken(self: object, report: Report) -> str:
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(html.HtmlRenderer, "render", broken)
    staged = ReportSet(reports)
    staged.add("evidence.json", b"new evidence\n")
    with pytest.raises(RuntimeError):
        staged.commit(report)
    assert _set_contents(reports) == before, "the existing set is untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"], "nothing staged stays behind"


def test_report_dir_with_other_files_is_refused_not_replaced(tmp_path: Path) -> None:
    from attestations.errors import InputError
    from verifier.output.report_set import ReportSet

    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    with pytest.raises(InputError, match="not a provcheck report set"):
        ReportSet(home)
    assert (home / "thesis.tex").read_text() == "years of work"


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real ENOSPC. Needs root and permission to mount."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_disk_full_was_reported_as_bad_input(
    workspace: Workspace, honest_evidence: dict[str, Any], tmp_path: Path, small_tmpfs: Path  # noqa: F811
) -> None:
    reports = small_tmpfs / "reports"
    before = _old_set(reports)
    evidence = _evidence_file(tmp_path / "evidence.json", honest_evidence, "ACME-000123")
    # Fill the file system but 16 KiB: the new set (some 80 KiB) cannot fit.
    filler = small_tmpfs / "filler"
    _fill(filler)
    filler.write_bytes(b"\0" * max(0, filler.stat().st_size - 16 * 1024))
    result = _intake(workspace, tmp_path, evidence, reports=reports)
    assert_clean_error(result, 3)
    assert "cannot write" in result.stderr and str(small_tmpfs) in result.stderr, result.stderr
    assert "cannot read" not in result.stderr
    assert _set_contents(reports) == before, "no partial set: the old one is untouched"
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler", "reports"]
    # -o to a full disk: the same exit 3, naming the output.
    _fill(small_tmpfs / "filler")
    out = run_cli(["firmware", "inventory", workspace.firmware, "-o", small_tmpfs / "manifest.json"])
    assert_clean_error(out, 3)
    assert str(small_tmpfs / "manifest.json") in out.stderr
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler", "reports"], "no temporary file stays"


def test_read_only_output_was_reported_as_bad_input(workspace: Workspace, small_tmpfs: Path) -> None:  # noqa: F811
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    out = run_cli(["firmware", "inventory", workspace.firmware, "-o", small_tmpfs / "manifest.json"])
    assert_clean_error(out, 3)
    assert str(small_tmpfs / "manifest.json") in out.stderr and "Read-only" in out.stderr, out.stderr


def test_disk_full_on_a_device_output_was_reported_as_bad_input(workspace: Workspace, tmp_path: Path) -> None:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    full = tmp_path / "full"
    os.mknod(full, 0o666 | 0o020000, os.makedev(1, 7))  # the kernel's /dev/full, made here
    out = run_cli(["firmware", "inventory", workspace.firmware, "-o", full])
    assert_clean_error(out, 3)
    assert str(full) in out.stderr and "No space left" in out.stderr, out.stderr
    assert full.is_char_device(), "the device node is still a device node"


def test_bench_log_beside_a_report_set_is_carried_into_the_new_set(tmp_path: Path) -> None:
    from verifier.output.report_set import ReportSet

    slot = tmp_path / "slot-0"
    _old_set(slot)
    with (slot / "intake.log").open("w") as log:  # the bench holds it open while the intake runs
        log.write("first line\n")
        log.flush()
        ReportSet(slot).commit(Report("intake of x", (Finding("c", Status.FAIL, "m"),)))
        log.write("after the swap\n")
    assert (slot / "intake.log").read_text() == "first line\nafter the swap\n"
    assert json.loads((slot / "report.json").read_text())["verdict"] == "fail"
    assert not (slot / "attest-1700000000-0123456789abcdef.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slot-0"]


def test_intake_that_stops_early_leaves_no_staging_directory(workspace: Workspace, tmp_path: Path) -> None:  # noqa: F811
    empty = tmp_path / "not-a-release"
    empty.mkdir()
    result = run_cli(["intake", "--release", empty, "--policy", workspace.policy, "--firmware", workspace.firmware,
                      "--report-dir", tmp_path / "reports", "--no-history"])
    assert_clean_error(result, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-release"]


def test_killed_intake_left_its_staging_and_the_set_aside(tmp_path: Path) -> None:
    from verifier.output.report_set import ReportSet

    dead = 4194305  # above Linux's largest pid: no such process
    staging = tmp_path / f".reports.{dead}.abc123.new"
    staging.mkdir()
    aside = tmp_path / f".reports.{dead}.def456.old"
    before = _old_set(aside / "set")
    mine = tmp_path / f".reports.{os.getpid()}.ghi789.new"  # a live writer's: not touched
    mine.mkdir()
    ReportSet(tmp_path / "reports").discard()
    assert _set_contents(tmp_path / "reports") == before, "the set a killed intake had renamed aside is back"
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name, "reports"]
