"""Intake: judge the Secure Boot variables a device reported (the linux profile reads efivarfs), per [secureboot].

Only when the policy opts in (``[secureboot] judge_device = true``). The variables are what the device's own shell
printed: their strength is ``reported``, and every finding says so. They become ``measured`` only through the event
log: when the device's TCG log records the Secure Boot variables (EV_EFI_VARIABLE_DRIVER_CONFIG) the reported ones are
compared with it, and when the TPM quote was verified (PCR strength ``signed``) the log's PCR 7 replay is compared with
the quoted PCR 7 (both ``secureboot.pcr7-mismatch``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from datetime import datetime

from hw.evidence import DeviceEvidence
from hw.tpm.eventlog import parse_event_log
from verifier.checks.secureboot import measured_against_reported
from verifier.errors import BadInputError
from verifier.firmware.secureboot.databases import read_efivarfs, read_event_log
from verifier.firmware.secureboot.eventlog import variable_events
from verifier.model import Finding, Status, skipped
from verifier.policy.model import Policy
from verifier.workflows.secureboot import judge_states, policy_rules

#: What a reported variable is, appended to each finding about it.
REPORTED = "reported by the device over its console, not measured"


def judge_device_secureboot(judged: DeviceEvidence | None, policy: Policy, at: datetime) -> list[Finding]:
    """The ``secureboot.*`` findings about the device's Secure Boot variables; none unless the policy opts in
    and a device was read (whether it was read at all is ``hw.read``'s finding)."""
    if not policy.secureboot.judge_device or judged is None:
        return []
    if not judged.efivars:
        return [skipped("secureboot.not-enforcing", f"the policy judges the device's Secure Boot variables "
                        f"([secureboot] judge_device), but the {judged.profile} profile read none (the linux profile "
                        "reads efivarfs)", "device")]
    try:
        files = [(name, base64.b64decode(value, validate=True)) for name, value in judged.efivars.items()]
    except (binascii.Error, ValueError) as exc:
        raise BadInputError(f"evidence efivars: not base64 ({exc})") from exc
    reported = replace(read_efivarfs(files), source=f"device efivarfs ({judged.profile}, reported)")
    quoted = _quoted_pcr7(judged)
    rules = replace(policy_rules(policy.secureboot, at), quoted_pcr7=quoted)
    findings = [_reported(f) for f in judge_states([reported], rules)]
    log = judged.tpm.event_log_b64 if judged.tpm is not None else None
    raw = base64.b64decode(log) if log else b""
    if raw and any(e.event == "EV_EFI_VARIABLE_DRIVER_CONFIG"
                   for e in variable_events(parse_event_log(raw), "event log")):
        measured = read_event_log("device event log", raw)
        findings += judge_states([measured], rules)
        findings += measured_against_reported(measured, reported)
    else:
        why = "the device gave no event log" if not raw else "its event log records no Secure Boot variable"
        findings.append(skipped("secureboot.pcr7-mismatch", f"the device's Secure Boot variables are only reported: "
                                f"{why} (EV_EFI_VARIABLE_DRIVER_CONFIG), so nothing ties them to PCR 7",
                                reported.source, required=False,
                                quote_verified=quoted is not None))
    return findings


def _quoted_pcr7(judged: DeviceEvidence) -> dict[str, bytes] | None:
    """PCR 7 per bank, only when provcheck verified the quote covering it (strength ``signed``)."""
    tpm = judged.tpm
    if tpm is None or tpm.strength != "signed":
        return None
    out = {bank: bytes.fromhex(values["7"]) for bank, values in tpm.pcrs.items() if "7" in values}
    return out or None


def _reported(finding: Finding) -> Finding:
    """A finding about the reported variables, saying what they are worth."""
    if finding.status is Status.SKIP and not finding.required:
        return finding
    return replace(finding, message=f"{finding.message} ({REPORTED})",
                   evidence={**finding.evidence, "strength": "reported"})
