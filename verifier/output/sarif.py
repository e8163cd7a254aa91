"""SARIF 2.1.0: one run, one rule per check id, one result per finding.

Statuses map onto SARIF's ``kind`` and ``level``: fail is an error, warn a warning (both ``kind: fail``),
pass is ``kind: pass``, skip is ``notApplicable`` and error is ``review`` (a person must look: the check
could not complete). SARIF requires ``level: none`` for every kind but fail. A rule's description and
``helpUri`` come from the check catalogue; an id it does not know (a report read back from JSON) keeps
a generic description and no link.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from verifier import __version__
from verifier.checks.catalogue import lookup
from verifier.model import Finding, Report, Status
from verifier.output.sanitize import display

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_KIND = {Status.FAIL: "fail", Status.WARN: "fail", Status.PASS: "pass", Status.SKIP: "notApplicable",
         Status.ERROR: "review"}
_LEVEL = {Status.FAIL: "error", Status.WARN: "warning"}


class SarifRenderer:
    name = "sarif"

    def render(self, report: Report) -> str:
        return json.dumps(self.document(report), indent=2, sort_keys=True, default=str) + "\n"

    def document(self, report: Report) -> dict[str, Any]:
        rule_ids = sorted({f.check for f in report.findings})
        index = {rule: i for i, rule in enumerate(rule_ids)}
        rules = [self._rule(rule) for rule in rule_ids]
        run: dict[str, Any] = {
            "tool": {"driver": {"name": "provcheck", "version": __version__,
                                "informationUri": "https://provcheck.dev/", "rules": rules}},
            "results": [self._result(f, index[f.check], report.subject) for f in report.findings],
            "invocations": [{"executionSuccessful": report.verdict.value != "inconclusive",
                             "exitCode": int(report.exit_code)}],
            "properties": {"verdict": report.verdict.value, "title": display(report.title), "counts": report.counts()},
        }
        return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}

    @staticmethod
    def _rule(check: str) -> dict[str, Any]:
        known = lookup(check)
        rule: dict[str, Any] = {"id": check, "name": check.replace(".", "/")}
        if known is None:
            # An id read back from a report, not one this provcheck emits: escaped, since it came from a file.
            rule["shortDescription"] = {"text": display(f"provcheck check {check}")}
            return rule
        rule["shortDescription"] = {"text": known.summary}
        rule["helpUri"] = known.help_uri
        return rule

    @staticmethod
    def _result(finding: Finding, rule_index: int, default_subject: str) -> dict[str, Any]:
        # Message text and names are shown by SARIF viewers: escaped like every text sink.
        # The evidence keeps its exact values (JSON escapes whatever it must).
        subject = display(finding.subject or default_subject or "input")
        result: dict[str, Any] = {
            "ruleId": finding.check,
            "ruleIndex": rule_index,
            "kind": _KIND[finding.status],
            "level": _LEVEL.get(finding.status, "none"),
            "message": {"text": display(finding.message)},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": quote(subject.split(":", 1)[0])}},
                "logicalLocations": [{"fullyQualifiedName": subject, "kind": "module"}],
            }],
            "properties": {"status": finding.status.value, "required": finding.required,
                           "evidence": dict(finding.evidence)},
        }
        return result
