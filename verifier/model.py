"""The report model: findings, their statuses, and the verdict rules.

A check never prints or exits; it returns ``Finding`` objects. ``Report`` turns
them into one verdict so that every command judges the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Strength(enum.StrEnum):
    """How a device fact was obtained, strongest first."""

    SIGNED = "signed"
    MEASURED = "measured"
    REPORTED = "reported"

    @property
    def rank(self) -> int:
        return {"signed": 3, "measured": 2, "reported": 1}[self.value]

    def at_least(self, other: Strength) -> bool:
        return self.rank >= other.rank


class ExitCode(enum.IntEnum):
    VERIFIED = 0
    FAILED = 1
    BAD_INPUT = 2
    INCONCLUSIVE = 3


@dataclass(frozen=True)
class Finding:
    """One judged fact.

    ``required`` only matters for ``skip``: a required check that was skipped
    leaves the verdict inconclusive, an optional one does not.
    """

    check: str
    status: Status
    message: str
    subject: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    required: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "message": self.message,
            "subject": self.subject,
            "evidence": dict(self.evidence),
            "required": self.required,
        }


def passed(check: str, message: str, subject: str = "", **evidence: Any) -> Finding:
    return Finding(check, Status.PASS, message, subject, evidence)


def failed(check: str, message: str, subject: str = "", **evidence: Any) -> Finding:
    return Finding(check, Status.FAIL, message, subject, evidence)


def warned(check: str, message: str, subject: str = "", **evidence: Any) -> Finding:
    return Finding(check, Status.WARN, message, subject, evidence)


def skipped(check: str, message: str, subject: str = "", *, required: bool = True, **evidence: Any) -> Finding:
    return Finding(check, Status.SKIP, message, subject, evidence, required=required)


def errored(check: str, message: str, subject: str = "", **evidence: Any) -> Finding:
    return Finding(check, Status.ERROR, message, subject, evidence)


def judge(findings: Iterable[Finding], *, strict: bool = False) -> Verdict:
    """The verdict rules from DESIGN.md, fail-closed.

    An empty set of findings is inconclusive: nothing was verified, so nothing
    can be said to pass.
    """
    items = list(findings)
    if not items:
        return Verdict.INCONCLUSIVE
    statuses = {f.status for f in items}
    if Status.FAIL in statuses:
        return Verdict.FAIL
    if strict and statuses & {Status.WARN, Status.SKIP}:
        return Verdict.FAIL
    if Status.ERROR in statuses:
        return Verdict.INCONCLUSIVE
    if any(f.status is Status.SKIP and f.required for f in items):
        return Verdict.INCONCLUSIVE
    if Status.PASS not in statuses:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


@dataclass(frozen=True)
class Report:
    """Findings about one subject, with the verdict they add up to."""

    title: str
    findings: tuple[Finding, ...]
    strict: bool = False
    subject: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        return judge(self.findings, strict=self.strict)

    @property
    def exit_code(self) -> ExitCode:
        return {
            Verdict.PASS: ExitCode.VERIFIED,
            Verdict.FAIL: ExitCode.FAILED,
            Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
        }[self.verdict]

    def reasons(self) -> tuple[Finding, ...]:
        """The findings that decided a verdict other than pass."""
        verdict = self.verdict
        if verdict is Verdict.PASS:
            return ()
        if verdict is Verdict.FAIL:
            bad = {Status.FAIL} | ({Status.WARN, Status.SKIP} if self.strict else set())
            return tuple(f for f in self.findings if f.status in bad)
        return tuple(
            f for f in self.findings if f.status is Status.ERROR or (f.status is Status.SKIP and f.required)
        ) or self.findings

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for f in self.findings:
            out[f.status.value] += 1
        return out

    def with_findings(self, more: Iterable[Finding]) -> Report:
        return Report(self.title, self.findings + tuple(more), self.strict, self.subject, self.metadata)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "subject": self.subject,
            "verdict": self.verdict.value,
            "exit_code": int(self.exit_code),
            "strict": self.strict,
            "counts": self.counts(),
            "findings": [f.to_json() for f in self.findings],
            "metadata": dict(self.metadata),
        }
