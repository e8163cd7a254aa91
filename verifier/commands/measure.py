"""``provcheck measure``: record reference measurements from a known-good boot."""

from __future__ import annotations

import json
from pathlib import Path

import click

from verifier.commands.common import emit, format_option
from verifier.errors import InconclusiveError, UsageError
from verifier.model import Finding, Report, Verdict, passed


@click.group()
def measure() -> None:
    """Record reference measurements from a known-good boot."""


@measure.command("baseline")
@click.option("--evidence", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="DeviceEvidence JSON from 'provcheck device read' with a TPM event log.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the boot_measurements fragment (JSON).")
@click.option("--nonce", help="Nonce (hex) the quote was made with; default: the one recorded in the evidence.")
@click.option("--bank", type=click.Choice(["sha1", "sha256", "sha384", "sha512"]), default="sha256", show_default=True)
@format_option()
def baseline_command(evidence: Path, output: Path, nonce: str | None, bank: str, output_format: str) -> int:
    """Write a device-manifest boot_measurements fragment from a known-good boot.

    The log must replay to the device's PCRs (quoted ones when a quote is present
    and verifies). The operator reviews the fragment; the vendor signs it inside a
    device manifest.
    """
    from attestations.files import write_atomic
    from hw.evidence import DeviceEvidence
    from hw.tpm.eventlog import parse_event_log
    from verifier.checks.measured_boot import baseline, check_measured_boot, tpm_inputs
    from verifier.commands.tpm import _nonce

    if not output.parent.is_dir():
        raise UsageError(f"directory {output.parent} does not exist")
    record = DeviceEvidence.load(evidence)
    if record.tpm is None:
        raise InconclusiveError(f"evidence {evidence} has no TPM section: nothing to record")
    inputs = tpm_inputs(record.tpm)
    if inputs.event_log is None:
        raise InconclusiveError(f"evidence {evidence} has no TPM event log: nothing to record")
    log = parse_event_log(inputs.event_log)
    expected = _nonce(nonce) if nonce else (bytes.fromhex(record.nonce) if record.nonce else None)
    findings = check_measured_boot(inputs, declared_authenticode=set(), boot=None, nonce=expected)
    # Only the checks that say whether this boot is internally consistent decide; the declared-boot checks have
    # nothing to compare with yet, which is the point of recording a baseline.
    deciding = [f for f in findings if f.check.startswith(("tpm.quote", "tpm.eventlog"))]
    from hw.tpm.quote import load_attestation_key, verify_quote

    pcrs = inputs.reported_pcrs or None
    if inputs.quote is not None and inputs.ak is not None:
        verification = verify_quote(*inputs.quote, load_attestation_key(inputs.ak), nonce=expected)
        if verification.signature_valid and verification.pcr_digest_matches:
            pcrs = verification.pcrs
    report = Report("measure baseline", tuple(deciding), subject=str(evidence))
    if report.verdict is not Verdict.PASS:
        # Not a known-good boot, or not shown to be one: record nothing.
        return emit(report, output_format)
    fragment = baseline(log, pcrs, bank=bank)
    write_atomic(output, (json.dumps(fragment.to_json(), indent=2, sort_keys=True) + "\n").encode())
    summary: Finding = passed("measure.baseline", f"wrote {output}: review it, then sign it in a device manifest",
                              str(output), pcrs=sorted(str(i) for i in fragment.pcrs))
    return emit(report.with_findings([summary]), output_format)
