"""JUnit XML for CI dashboards: one testsuite per device, one testcase per check.

A fail finding is a ``<failure>``, an error is an ``<error>``, a skip is ``<skipped>``.
A warning passes, with its message in ``<system-out>``, unless the report is strict.
A report with no findings at all still gets one testcase, an error, so that a device
that produced nothing never shows up as green.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from verifier.model import Report, Status
from verifier.output.sanitize import display


def _clean(text: str) -> str:
    # XML 1.0 cannot carry most control characters or lone surrogates, and devices print them;
    # shown escaped (not dropped), so the dashboard shows what the device really sent.
    return display(text)


def _suite(report: Report) -> ET.Element:
    name = report.subject or report.title
    counts = report.counts()
    findings = report.findings
    suite = ET.Element("testsuite", name=_clean(name))
    failures = counts["fail"] + (counts["warn"] if report.strict else 0)
    skipped = counts["skip"] if not report.strict else 0
    failures += counts["skip"] if report.strict else 0
    errors = counts["error"]
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="verdict", value=report.verdict.value)
    if not findings:
        case = ET.SubElement(suite, "testcase", name="verdict", classname=_clean(name))
        ET.SubElement(case, "error", message="no checks ran", type="inconclusive")
        errors = 1
    seen: dict[str, int] = {}
    for f in findings:
        label = f"{f.check} [{f.subject}]" if f.subject else f.check
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        case = ET.SubElement(suite, "testcase", name=_clean(label), classname=_clean(name))
        message = _clean(f.message)
        if f.status is Status.FAIL or (report.strict and f.status in (Status.WARN, Status.SKIP)):
            ET.SubElement(case, "failure", message=message, type=f.status.value).text = message
        elif f.status is Status.ERROR:
            ET.SubElement(case, "error", message=message, type="error").text = message
        elif f.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=message)
        elif f.status is Status.WARN:
            ET.SubElement(case, "system-out").text = f"warning: {message}"
    suite.set("tests", str(max(len(findings), 1)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    return suite


def render_suites(reports: Sequence[Report], *, name: str = "provcheck") -> str:
    """All reports as one ``<testsuites>`` document."""
    root = ET.Element("testsuites", name=_clean(name))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in reports:
        suite = _suite(report)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class JunitRenderer:
    name = "junit"

    def render(self, report: Report) -> str:
        return render_suites([report])
