"""Each bench device's result as an in-toto test-result statement (``https://in-toto.io/attestation/test-result/v0.1``).

Written into the device's report directory once its intake has finished:

- ``test-result.intoto.jsonl``: one DSSE envelope (``application/vnd.in-toto+json``) signed with ``bench --key``,
  which ``provcheck attest verify --bundle ... --key PUB --predicate-type <type>`` verifies;
- ``test-result.intoto.json``: without ``--key``, the bare Statement (canonical JSON), unsigned and vouching for
  nothing; the different suffix keeps it from being taken for a signed ``.intoto.jsonl``.

What it says (docs/workflows.md has the table):

- subjects: ``device:<serial>`` with the digests of the ``evidence.json`` the intake wrote (the statement is bound
  to what was read from the device; the serial is the device's own word), and the plan's firmware file by name and
  digests. A device that left no evidence and has no firmware in the plan is named by its plan name,
  ``bench-device:<name>``, with the digests of its ``intake.log``: what there is to show for the run;
- ``result``: PASSED, WARNED (passed with warnings) or FAILED (fail and inconclusive alike: inconclusive is not a
  pass; report.json beside it keeps the difference);
- ``passedTests``/``warnedTests``/``failedTests``: check ids, each in one list: failed if any of its findings
  failed, erred, or was a required check that was skipped (and, under ``strict``, warned or skipped); else warned if
  any warned; else passed if any passed. A check that was only skipped, and not required, ran no test: it is in
  no list;
- ``configuration``: the policy file(s), the release's signed bundle, the console profile and the plan, as
  in-toto ResourceDescriptors with their digests;
- ``url``: the ``report.json`` of the device's intake, when there is one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Protocol

from attestations import predicates
from attestations.dsse import envelopes_to_jsonl, sign_envelope
from attestations.files import read_limited, write_atomic
from attestations.keys import Signer
from attestations.statement import Subject, build_statement, digest_file
from attestations.testresult import FAILED, PASSED, WARNED, ResourceDescriptor, build_test_result
from hw.errors import HardwareError
from hw.evidence import DeviceEvidence
from verifier.errors import BadInputError
from verifier.model import Report, Status, Verdict
from verifier.output.sanitize import storable
from verifier.workflows.release import locate_release

UNSIGNED_FILE = "test-result.intoto.json"
SIGNED_FILE = "test-result.intoto.jsonl"
EVIDENCE_FILE = "evidence.json"
REPORT_FILE = "report.json"
LOG_FILE = "intake.log"
_DIGESTS = ("sha256", "sha512")
#: As large as intake lets evidence be.
_EVIDENCE_LIMIT = 64 * 1024 * 1024
_sign_lock = threading.Lock()


class PlannedDevice(Protocol):
    """What is read of a plan's device (``verifier.workflows.bench.BenchDevice``, whose module imports this one)."""

    @property
    def name(self) -> str: ...
    @property
    def release(self) -> Path: ...
    @property
    def policies(self) -> tuple[Path, ...]: ...
    @property
    def firmware(self) -> Path | None: ...
    @property
    def profile(self) -> str: ...
    @property
    def strict(self) -> bool: ...


def tally(report: Report) -> tuple[str, list[str], list[str], list[str]]:
    """The result and the passed, warned and failed check ids of one device's report."""
    bad = {Status.FAIL, Status.ERROR} | ({Status.WARN, Status.SKIP} if report.strict else set())
    failed: set[str] = set()
    warned: set[str] = set()
    passed: set[str] = set()
    for finding in report.findings:
        status = finding.status
        if status in bad or (status is Status.SKIP and finding.required):
            failed.add(finding.check)
        elif status is Status.WARN:
            warned.add(finding.check)
        elif status is Status.PASS:
            passed.add(finding.check)
    warned -= failed
    passed -= failed | warned
    result = (WARNED if warned else PASSED) if report.verdict is Verdict.PASS else FAILED
    return result, sorted(passed), sorted(warned), sorted(failed)


def _file_descriptor(name: str, path: Path, **annotations: object) -> ResourceDescriptor:
    resolved = path.resolve()
    return ResourceDescriptor(
        name=name,
        uri=resolved.as_uri(),
        digest=digest_file(resolved, _DIGESTS),
        annotations=dict(annotations),
    )


def configuration(device: PlannedDevice, plan_path: Path) -> list[ResourceDescriptor]:
    """What the device was tested against: policies, release, console profile, the plan."""
    out = [_file_descriptor(f"policy:{policy.name}", policy) for policy in device.policies]
    try:
        release = locate_release(device.release)
        out.append(_file_descriptor(f"release:{release.directory.name}", release.bundle))
    except BadInputError:
        # No signed bundle to name (the intake failed on it, and says so): the release by its path alone.
        out.append(ResourceDescriptor(name=f"release:{device.release.name}", uri=device.release.resolve().as_uri()))
    out.append(ResourceDescriptor(name="profile", uri=f"urn:provcheck:profile:{device.profile}"))
    out.append(_file_descriptor(f"plan:{plan_path.name}", plan_path, device=device.name, strict=device.strict))
    return out


def _device_subject(evidence_path: Path) -> Subject:
    """``device:<serial>``, with the digests of the evidence file as it is on disk (read once)."""
    data = read_limited(evidence_path, limit=_EVIDENCE_LIMIT, what="evidence")
    serial = ""
    try:
        fact = DeviceEvidence.from_json(json.loads(data)).fact("serial")
        serial = str(fact.value) if fact is not None and fact.value else ""
    except (HardwareError, ValueError, RecursionError):
        pass  # intake wrote it, so this does not happen; the digest still binds whatever it holds
    digests = {name: hashlib.new(name, data).hexdigest() for name in _DIGESTS}
    # The serial is the device's word: a lone surrogate is written as text, never a crash or an ambiguity.
    return Subject(storable(f"device:{serial or 'unknown'}"), digests)


def subjects(device: PlannedDevice, report_dir: Path, reported: bool) -> list[Subject]:
    """The device (by its evidence) and the firmware; ``reported``: the intake wrote its report set in this run.

    An intake that was killed or crashed left no set, and what the directory holds is from an earlier run.
    """
    out: list[Subject] = []
    evidence = report_dir / EVIDENCE_FILE
    if reported and evidence.is_file():
        out.append(_device_subject(evidence))
    if device.firmware is not None:
        out.append(Subject(device.firmware.name, digest_file(device.firmware, _DIGESTS)))
    if not out:
        log = report_dir / LOG_FILE
        out.append(Subject(storable(f"bench-device:{device.name}"), digest_file(log, _DIGESTS)))
    return out


def statement_bytes(
    device: PlannedDevice, report: Report, report_dir: Path, plan_path: Path, *, reported: bool
) -> bytes:
    """The test-result statement of one device, as canonical JSON (unsigned)."""
    result, passed, warned, failed = tally(report)
    report_json = report_dir / REPORT_FILE
    predicate = build_test_result(
        result=result,
        configuration=configuration(device, plan_path),
        passed_tests=passed,
        warned_tests=warned,
        failed_tests=failed,
        url=report_json.resolve().as_uri() if reported and report_json.is_file() else "",
    )
    return build_statement(subjects(device, report_dir, reported), predicates.INTOTO_TEST_RESULT, predicate)


def write_test_result(
    device: PlannedDevice,
    report: Report,
    report_dir: Path,
    plan_path: Path,
    signer: Signer | None,
    *,
    reported: bool,
) -> Path:
    """Write the device's statement beside its reports: signed ``.intoto.jsonl`` with a key, else ``.intoto.json``.

    An error (an output that cannot be written, an input that cannot be read) is the caller's to report.
    """
    payload = statement_bytes(device, report, report_dir, plan_path, reported=reported)
    if signer is None:
        target, other, data = report_dir / UNSIGNED_FILE, report_dir / SIGNED_FILE, payload + b"\n"
    else:
        with _sign_lock:
            envelope = sign_envelope(payload, predicates.INTOTO_PAYLOAD_TYPE, [signer])
        target, other, data = report_dir / SIGNED_FILE, report_dir / UNSIGNED_FILE, envelopes_to_jsonl([envelope])
    # One statement per device: an earlier run's other form (left where its intake did not replace the set) goes.
    other.unlink(missing_ok=True)
    write_atomic(target, data)
    return target
