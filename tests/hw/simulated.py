"""Helpers: read a simulated device and judge it as ``provcheck device verify`` does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hw.errors import HardwareError
from hw.evidence import DeviceEvidence
from hw.reader import read_device
from hw.sim import Simulator
from verifier.checks.device import check_device, tpm_findings
from verifier.declared.device_manifest import manifest_from_predicate
from verifier.model import Finding, Verdict, judge


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    evidence: DeviceEvidence | None = None
    error: HardwareError | None = None

    @property
    def failing(self) -> set[str]:
        return {f.check for f in self.findings if f.status.value == "fail"}


def read_and_judge(
    profile: str,
    tamper: Sequence[str] = (),
    *,
    seed: int = 0,
    tamper_rate: float = 0.01,
    read_timeout: float = 2.0,
    timeout: float = 60.0,
    max_output: int = 1 << 20,
    disconnect_after: int = 600,
    slow_seconds: float = 0.2,
) -> Outcome:
    with Simulator(profile, tamper=tamper, seed=seed, tamper_rate=tamper_rate, disconnect_after=disconnect_after,
                   slow_seconds=slow_seconds) as sim:
        manifest = manifest_from_predicate(sim.declared_manifest())
        try:
            evidence = read_device(sim.port, profile=profile, timeout=timeout, read_timeout=read_timeout,
                                   regions=manifest.region_specs(), max_output=max_output, transcript_cap=1 << 20)
        except HardwareError as exc:
            return Outcome(Verdict.INCONCLUSIVE, error=exc)
    findings = check_device(evidence, manifest) + tpm_findings(evidence, manifest, None)
    return Outcome(judge(findings), tuple(findings), evidence)
