"""The HTML and JUnit renderers."""

from __future__ import annotations

import struct
from html.parser import HTMLParser
from pathlib import Path

import junitparser

from tests.workflows.chromium import render
from verifier.model import Report, errored, failed, passed, skipped, warned
from verifier.output import get_renderer
from verifier.output.junit import render_suites

HOSTILE = '<script>alert("x")</script><img src="https://example.invalid/beacon.png">'


def _report(*, strict: bool = False) -> Report:
    return Report(
        "intake RTU-9 ACME-000123",
        (
            passed("attest.signature", "2 of 2 trusted keys signed", "fw.bin"),
            failed("hw.serial-number", f"the device reports serial {HOSTILE}", "serial"),
            warned("firmware.entropy-change", ".text entropy rose by 0.4", ".text"),
            skipped("tpm.quote", "no TPM on this device", "tpm", required=False),
            errored("hw.transport", "timed out after 5 s \x07\x1b[2J", "port"),
        ),
        strict=strict,
        subject="ACME-000123",
        metadata={
            "evidence_chain": [
                {
                    "predicate_type": "https://provcheck.dev/firmware-manifest/v1",
                    "subject": "fw.bin",
                    "digests": {"sha256": "ab" * 32},
                    "signers": ["ed25519 3f2a..."],
                    "status": "pass",
                }
            ],
            "device": {"manufacturer": "Acme", "model": "RTU-9", "serial": HOSTILE},
            "component_diff": [
                {"change": "changed", "class": "nic", "declared": {"model": "I210"}, "observed": {"model": "I211"}},
                {"change": "added", "class": "radio", "declared": None, "observed": {"model": "X1"}},
            ],
            "release": {"name": "rtu9-1.2.0"},
        },
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.add(tag)
        self.attrs |= {name for name, _ in attrs}


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_html_is_self_contained_and_escapes_hostile_text() -> None:
    page = get_renderer("html").render(_report())
    tags = _Tags()
    tags.feed(page)
    assert not tags.found & {"script", "img", "link", "iframe", "object", "embed"}, tags.found
    assert not tags.attrs & {"src", "href", "srcset", "onload", "onerror"}, tags.attrs
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page
    for section in ("Evidence chain", "Components: declared against observed", "Firmware findings", "@media print"):
        assert section in page


def test_html_renders_in_chromium_without_errors(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(get_renderer("html").render(_report()))
    shown = render(page)
    assert shown.console == [], shown.console
    assert 'id="verdict">FAIL<' in shown.dom
    assert "I211" in shown.dom and "rtu9-1.2.0" in shown.dom
    assert _png_size(shown.png) == (1100, 1500)
    assert len(shown.png) > 20_000  # a page with tables, not a blank canvas


def test_chromium_check_catches_a_page_that_loads_external_assets(tmp_path: Path) -> None:
    """The failing twin: a page with a remote image and a script must show up in the console lines."""
    page = tmp_path / "report.html"
    page.write_text(get_renderer("html").render(_report()).replace("<h1>", HOSTILE + "<h1>", 1))
    assert render(page).console, "the check above would not notice an external asset"


def test_junit_one_testcase_per_check_and_device(tmp_path: Path) -> None:
    passing = Report(
        "dev-a", (passed("hw.serial-number", "ok", "serial"), passed("attest.signature", "ok")), subject="dev-a"
    )
    empty = Report("dev-c", (), subject="dev-c")
    out = tmp_path / "bench.xml"
    out.write_text(render_suites([passing, _report(), empty]))
    xml = junitparser.JUnitXml.fromfile(str(out))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"dev-a", "ACME-000123", "dev-c"}
    assert suites["dev-a"].tests == 2 and suites["dev-a"].failures == 0
    assert [c.is_passed for c in suites["dev-a"]] == [True, True]
    cases = {c.name: c for c in suites["ACME-000123"]}
    assert len(cases) == 5
    assert isinstance(cases["hw.serial-number [serial]"].result[0], junitparser.Failure)
    assert isinstance(cases["hw.transport [port]"].result[0], junitparser.Error)
    assert isinstance(cases["tpm.quote [tpm]"].result[0], junitparser.Skipped)
    assert cases["firmware.entropy-change [.text]"].is_passed
    assert suites["ACME-000123"].failures == 1 and suites["ACME-000123"].errors == 1
    # A device that produced nothing is never green.
    (case,) = list(suites["dev-c"])
    assert isinstance(case.result[0], junitparser.Error)


def test_junit_strict_counts_warnings_as_failures(tmp_path: Path) -> None:
    out = tmp_path / "strict.xml"
    out.write_text(get_renderer("junit").render(_report(strict=True)))
    (suite,) = list(junitparser.JUnitXml.fromfile(str(out)))
    cases = {c.name: c for c in suite}
    assert isinstance(cases["firmware.entropy-change [.text]"].result[0], junitparser.Failure)
    assert suite.failures == 3
