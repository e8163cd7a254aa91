"""What an intake is asked (the release, the policy, where the firmware and the device are) and what it gives back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.model import Report
from verifier.policy.model import Policy


@dataclass(frozen=True)
class IntakeRequest:
    release: Path
    policy: Policy
    firmware: Path | None = None
    port: str | None = None
    evidence: Path | None = None
    profile: str = "auto"
    baud: int | None = None
    timeout: float = 120.0
    report_dir: Path | None = None
    vsa_key: Path | None = None
    vsa_passphrase: bytes | None = None
    history_db: Path | None = None
    record_history: bool = True
    strict: bool = False
    label: str | None = None
    username: str | None = None
    password: str | None = None
    read_timeout: float | None = None
    max_dump: int | None = None
    prompt: str | None = None
    reviews: tuple[Path, ...] = ()
    #: CoRIM files (``--reference-values``): judged by ``verifier.workflows.intake_reference_values``
    reference_values: tuple[Path, ...] = ()


@dataclass(frozen=True)
class IntakeResult:
    report: Report
    files: Mapping[str, Path] = field(default_factory=dict)
    vsa: Mapping[str, Any] | None = None
    history_seq: int | None = None
