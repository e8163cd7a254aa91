"""Operator intake: is this device, and its firmware, what the signed release declares, under this policy?

1. verify the release attestations with the policy's trusted signers and thresholds;
2. scan the firmware file, when given, against the firmware manifest the release declares for it;
3. read the device on the port with a fresh nonce and compare it with the declared device manifest;
4. judge TPM, supplier and age rules;
5. write text, JSON, SARIF and HTML reports, sign a VSA, append the history record.

A transport failure is never tampering: it becomes an ``error`` finding, so the verdict
is inconclusive. Every required step that could not run is a required ``skip``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attestations import predicates
from attestations.errors import AttestationError
from attestations.statement import Subject, digest_file, parse_statement, subject_matches
from verifier.errors import PolicyError, ProvcheckError
from verifier.model import Finding, Report, Status, Verdict, errored, failed, passed, skipped
from verifier.output.report_set import ReportSet
from verifier.output.sanitize import storable
from verifier.policy.model import Policy

if TYPE_CHECKING:
    from attestations.dsse import Envelope
    from hw.evidence import DeviceEvidence
    from verifier.checks.attestations import VouchedStatement
    from verifier.checks.device import DerivedEvidence

log = logging.getLogger(__name__)

NONCE_BYTES = 32
VSA_FILE = "vsa.intoto.jsonl"
EVIDENCE_FILE = "evidence.json"


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


@dataclass(frozen=True)
class IntakeResult:
    report: Report
    files: Mapping[str, Path] = field(default_factory=dict)
    vsa: Mapping[str, Any] | None = None
    history_seq: int | None = None


# --- attestations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attested:
    findings: list[Finding]
    vouched: list[VouchedStatement]
    envelopes: list[Envelope]
    bundle: Path
    index: Mapping[str, Any]
    covered: set[str]


def _route_type(envelope: Envelope) -> str:
    """The predicate type an envelope claims, used only to pick its threshold before verifying it."""
    try:
        return parse_statement(envelope.payload).predicate_type
    except AttestationError:
        return ""


def _no_signers_error(policy: Policy) -> PolicyError:
    return PolicyError(
        f"{policy.name}: the policy reads a release but names no trusted signer: add a [signers] table with "
        "keys = [...] or a [[signers.sigstore]] identity; without one no statement can be vouched for"
    )


def verify_release(release: Path, policy: Policy, artifacts: Sequence[Any]) -> _Attested:
    """Verify every statement of the release against every signer rule of the policy (all must hold).

    Nothing is vouched for by default: a statement is used only after each signer rule of the policy
    was met by a signature that verified with a trusted key (or a bundle a trusted identity signed).
    """
    from attestations.documents import read_documents
    from verifier.checks import attestations as judge
    from verifier.workflows.attest_verify import load_keys
    from verifier.workflows.release import locate_release

    if not policy.signers:
        raise _no_signers_error(policy)
    files = locate_release(release)
    documents = list(read_documents(files.bundle))
    for extra in files.sigstore_bundles:
        documents += read_documents(extra)
    envelopes, bundles, metablocks = judge.split_documents(documents)
    findings: list[Finding] = []
    for block in metablocks:
        findings.append(failed("attest.format", "an in-toto Metablock cannot stand alone in a release", block.source))
    if not envelopes and not bundles:
        findings.append(failed("attest.release", "the release holds no signed statement", str(files.bundle)))

    # For each envelope, the signers of every rule it met so far; an envelope missing from the map met none.
    met: dict[int, list[tuple[str, ...]]] = {}
    for rule in policy.signers:
        keys = load_keys(rule.keys) if rule.keys else []
        if not keys:
            for envelope in envelopes:
                findings.append(
                    failed(
                        "attest.signature",
                        "signed with a key, but the policy trusts only Sigstore identities for this release",
                        envelope.source,
                    )
                )
            continue
        by_type: dict[str, list[int]] = {}
        for i, envelope in enumerate(envelopes):
            by_type.setdefault(_route_type(envelope), []).append(i)
        for ptype, indexes in sorted(by_type.items()):
            group = [envelopes[i] for i in indexes]
            threshold = rule.threshold_for(ptype)
            distinct = len({k.keyid for k in keys})
            if threshold > distinct:
                raise PolicyError(
                    f"{policy.name}: the signers threshold for {predicates.describe(ptype or 'statements')} is "
                    f"{threshold}, but the trusted key files hold only {distinct} distinct key(s)"
                )
            rule_findings, rule_vouched = judge.verify_envelopes(group, keys, threshold)
            findings += rule_findings
            # One finding per envelope, in order; the vouched statements are those whose finding passed.
            passing = [i for i, f in zip(indexes, rule_findings, strict=True) if f.status is Status.PASS]
            for i, item in zip(passing, rule_vouched, strict=True):
                if item.signers:
                    met.setdefault(i, []).append(item.signers)
    vouched: list[VouchedStatement] = []
    for i, rules_met in sorted(met.items()):
        if len(rules_met) != len(policy.signers):
            continue  # a rule this envelope did not meet already has its failing attest.signature finding
        statement = parse_statement(envelopes[i].payload)
        names = tuple(dict.fromkeys(name for signers in rules_met for name in signers))
        vouched.append(judge.VouchedStatement(statement, envelopes[i].source, names))

    covered: set[str] = set()
    identities = [ident for rule in policy.signers for ident in rule.sigstore]
    if bundles and not identities:
        findings.append(
            failed(
                "attest.sigstore",
                "the release carries Sigstore bundles but the policy names no [[signers.sigstore]] identity",
                str(files.directory),
            )
        )
    for bundle in bundles if identities else []:
        bundle_findings, bundle_vouched, bundle_covered = _verify_bundle(bundle, artifacts, policy)
        findings += bundle_findings
        vouched += bundle_vouched
        covered |= bundle_covered
    return _Attested(findings, [v for v in vouched if v.signers], envelopes, files.bundle, files.index, covered)


def _verify_bundle(
    bundle: Any, artifacts: Sequence[Any], policy: Policy
) -> tuple[list[Finding], list[VouchedStatement], set[str]]:
    """A Sigstore bundle counts when, for every signer rule, one of the rule's identities verifies it.

    A bundle carries one signature, so it cannot meet a rule that asks for more than one signer.
    """
    from verifier.checks import attestations as judge

    findings: list[Finding] = []
    signers: list[str] = []
    statement: VouchedStatement | None = None
    covered: set[str] = set()
    for rule in policy.signers:
        if not rule.sigstore:
            findings.append(
                failed(
                    "attest.sigstore",
                    "a Sigstore bundle, but a signer rule of the policy trusts only keys",
                    bundle.source,
                )
            )
            return findings, [], set()
        first: tuple[list[Finding], list[VouchedStatement], set[str]] | None = None
        for identity in rule.sigstore:
            attempt = judge.verify_sigstore_bundles([bundle], artifacts, _sigstore_options(identity), [])
            if first is None:
                first = attempt
            if attempt[0] and all(f.status is Status.PASS for f in attempt[0]):
                first = attempt
                break
        assert first is not None
        findings += first[0]
        ok = bool(first[0]) and all(f.status is Status.PASS for f in first[0])
        if not ok:
            return findings, [], set()
        for item in first[1]:
            threshold = rule.threshold_for(item.statement.predicate_type)
            if threshold > 1:
                findings.append(
                    failed(
                        "attest.signature",
                        f"a Sigstore bundle carries one signature; the policy asks for {threshold} signers for "
                        f"{predicates.describe(item.statement.predicate_type)}",
                        bundle.source,
                    )
                )
                return findings, [], set()
            statement = item
            signers += item.signers
        covered |= first[2]
    vouched = [replace(statement, signers=tuple(dict.fromkeys(signers)))] if statement is not None else []
    return findings, vouched, covered


def _sigstore_options(identity: Any) -> Any:
    from attestations.sigstore import IdentityPolicy, TrustConfigChoice
    from verifier.checks.attestations import SigstoreOptions

    if identity.trusted_root is not None:
        trust = TrustConfigChoice.from_file(identity.trusted_root)
    elif identity.staging:
        trust = TrustConfigChoice.staging()
    else:
        trust = TrustConfigChoice.production()
    return SigstoreOptions(trust=trust, policy=IdentityPolicy(identity=identity.identity, issuer=identity.issuer))


def check_required(vouched: Sequence[VouchedStatement], policy: Policy) -> list[Finding]:
    findings = []
    present = {v.statement.predicate_type for v in vouched}
    for ptype in sorted(policy.attestations.required):
        name = predicates.describe(ptype)
        if ptype in present:
            findings.append(passed("policy.required-attestation", f"the release carries a verified {name}", name))
        else:
            findings.append(
                failed(
                    "policy.required-attestation",
                    f"the policy requires a {name} signed by a trusted key, and the release has none that verifies",
                    name,
                    predicate_type=ptype,
                )
            )
    return findings


def _statement_time(item: VouchedStatement) -> datetime | None:
    predicate = item.statement.predicate
    candidates: list[Any] = []
    if item.statement.predicate_type == predicates.RELEASE_INDEX:
        candidates.append(predicate.get("created"))
    elif item.statement.predicate_type == predicates.SLSA_VSA_V1:
        candidates.append(predicate.get("timeVerified"))
    elif item.statement.predicate_type == predicates.SLSA_PROVENANCE_V1:
        run = predicate.get("runDetails")
        metadata = run.get("metadata") if isinstance(run, Mapping) else None
        if isinstance(metadata, Mapping):
            candidates += [metadata.get("finishedOn"), metadata.get("startedOn")]
    for value in candidates:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def check_age(vouched: Sequence[VouchedStatement], policy: Policy, now: datetime) -> list[Finding]:
    limit = policy.attestations.max_age_days
    if limit is None:
        return []
    dated = [(item, when) for item in vouched if (when := _statement_time(item)) is not None]
    if not dated:
        return [
            skipped(
                "attest.age",
                f"the policy limits attestations to {limit} days, but no verified statement carries a time",
                "release",
            )
        ]
    findings = []
    for item, when in dated:
        age = now - when
        name = predicates.describe(item.statement.predicate_type)
        if when - now > timedelta(minutes=5):
            findings.append(failed("attest.age", f"{name} is dated in the future ({when.isoformat()})", item.source))
        elif age > timedelta(days=limit):
            findings.append(
                failed(
                    "attest.age",
                    f"{name} is {age.days} days old; the policy allows {limit}",
                    item.source,
                    created=when.isoformat(),
                )
            )
        else:
            findings.append(passed("attest.age", f"{name} is {age.days} days old (limit {limit})", item.source))
    return findings


def evidence_chain(vouched: Sequence[VouchedStatement]) -> list[dict[str, Any]]:
    return [
        {
            "predicate_type": item.statement.predicate_type,
            "kind": predicates.describe(item.statement.predicate_type),
            "subject": ", ".join(s.name for s in item.statement.subjects),
            "digests": {"sha256": ", ".join(s.digests.get("sha256", "?")[:16] for s in item.statement.subjects)},
            "signers": list(item.signers),
            "status": "pass",
            "source": item.source,
        }
        for item in vouched
    ]


# --- firmware ----------------------------------------------------------------------------------------


def _declared_manifest(
    name: str, digests: Mapping[str, str], vouched: Sequence[VouchedStatement]
) -> Mapping[str, Any] | None:
    """The verified firmware manifest for this image: by digest, else by the image's name.

    Matching by name lets a swapped image be scanned against what the vendor declared under that
    name, so the report says what changed; its digest mismatch is already an ``attest.subject`` failure.
    """
    manifests = [v for v in vouched if v.statement.predicate_type == predicates.FIRMWARE_MANIFEST]
    for item in manifests:
        if any(subject_matches(s, digests) for s in item.statement.subjects):
            return item.statement.predicate
    for item in manifests:
        if any(Path(s.name).name == name for s in item.statement.subjects):
            return item.statement.predicate
    return None


def finding_names(finding: Finding) -> list[str] | None:
    """The names a firmware finding reports (functions, exports, constructors, rules...), for allowed deviations.

    ``None`` when the finding cannot name everything it is about: an item without a name, or a list cut short
    (``count`` above the items listed). Such a finding is never allowed as a whole, since an allowed name could
    otherwise carry along a change nobody named.
    """
    names: list[str] = []
    listed = 0
    for key, value in finding.evidence.items():
        if not isinstance(value, list) or key in _UNNAMED_EVIDENCE:
            continue
        for item in value:
            listed += 1
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, Mapping):
                name = next(
                    (item[k] for k in ("name", "rule", "guid", "address") if isinstance(item.get(k), str) and item[k]),
                    None,
                )
                if name is None:
                    return None
                names.append(name)
            else:
                return None
    count = finding.evidence.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count > listed:
        return None
    return names


#: evidence lists that describe a finding rather than name what it is about
_UNNAMED_EVIDENCE = frozenset({"problems", "errors"})


def apply_firmware_policy(findings: Iterable[Finding], policy: Policy) -> list[Finding]:
    """Raise, lower or allow firmware findings as the policy says; the change is recorded in the evidence."""
    out = []
    for f in findings:
        if f.status in (Status.PASS, Status.SKIP, Status.ERROR):
            out.append(f)
            continue
        names = finding_names(f)
        disposition, deviations = policy.firmware_disposition(f.check, names, nameable=names is not None)
        if disposition == "allow":
            reasons = "; ".join(d.reason for d in deviations)
            out.append(
                replace(
                    f,
                    status=Status.PASS,
                    message=f"allowed by policy ({reasons}): {f.message}",
                    evidence={**f.evidence, "policy": "allowed deviation", "was": f.status.value},
                )
            )
        elif disposition == "fail" and f.status is Status.WARN:
            out.append(
                replace(f, status=Status.FAIL, evidence={**f.evidence, "policy": "raised to fail", "was": "warn"})
            )
        elif disposition == "warn" and f.status is Status.FAIL:
            out.append(
                replace(f, status=Status.WARN, evidence={**f.evidence, "policy": "lowered to warn", "was": "fail"})
            )
        else:
            out.append(f)
    return out


def check_firmware(
    path: Path, digests: Mapping[str, str], vouched: Sequence[VouchedStatement], policy: Policy
) -> list[Finding]:
    from verifier.firmware.scan import scan_firmware

    manifest = _declared_manifest(path.name, digests, vouched)
    subject = path.name
    if manifest is None:
        return [
            failed(
                "firmware.manifest",
                f"no verified firmware manifest in the release declares {path.name} "
                f"(sha256 {digests.get('sha256', '')[:16]}…)",
                subject,
            )
        ]
    findings = scan_firmware(path, manifest=dict(manifest), baseline=None, rules=None, trust_anchors=())
    return apply_firmware_policy(findings, policy)


# --- device ------------------------------------------------------------------------------------------


def _device_manifest(vouched: Sequence[VouchedStatement]) -> Mapping[str, Any] | None:
    for item in vouched:
        if item.statement.predicate_type == predicates.DEVICE_MANIFEST:
            return item.statement.predicate
    return None


def _manifest_object(predicate: Mapping[str, Any], policy: Policy) -> Any:
    from verifier.declared.device_manifest import manifest_from_predicate

    data = dict(predicate)
    if policy.device.component_serials == "ignore":
        data["components"] = [
            {**c, "serial": None} if isinstance(c, Mapping) else c for c in data.get("components") or []
        ]
    return manifest_from_predicate(data)


def read_evidence(
    request: IntakeRequest, predicate: Mapping[str, Any] | None, nonce: bytes, transcript_dir: Path | None
) -> DeviceEvidence:
    from hw.evidence import DeviceEvidence
    from hw.reader import read_device

    if request.evidence is not None:
        return DeviceEvidence.load(request.evidence)
    assert request.port is not None
    return read_device(
        request.port,
        profile=request.profile,
        baud=request.baud,
        timeout=request.timeout,
        nonce=nonce,
        transcript_dir=transcript_dir,
        regions=_manifest_object(predicate, request.policy).region_specs() if predicate is not None else [],
        username=request.username,
        password=request.password,
        read_timeout=request.read_timeout,
        max_dump_bytes=request.max_dump,
        prompt=request.prompt,
    )


def check_required_fields(evidence: DeviceEvidence, policy: Policy) -> list[Finding]:
    findings = []
    for name in sorted(policy.device.required_fields):
        if name == "components":
            present = bool(evidence.components)
        elif name == "firmware_regions":
            present = bool(evidence.regions)
        elif name == "identity_key":
            present = evidence.identity_key is not None
        elif name == "tpm":
            present = evidence.tpm is not None
        else:
            fact = evidence.fact(name)
            present = fact is not None and fact.value not in (None, "", [])
        if present:
            findings.append(passed("policy.device-field", f"the device reported its {name}", name))
        else:
            findings.append(
                failed("policy.device-field", f"the policy requires the device's {name}, which it did not give", name)
            )
    if policy.device.component_serials == "require":
        for component in evidence.components:
            if not component.serial:
                findings.append(
                    failed(
                        "policy.component-serial",
                        f"the policy requires component serials; the {component.cls} {component.model or ''} "
                        "reported none",
                        f"{component.cls}",
                    )
                )
    return findings


def device_identity(evidence: DeviceEvidence) -> dict[str, Any]:
    out: dict[str, Any] = {"profile": evidence.profile, "port": evidence.port}
    for name, fact in evidence.identity.items():
        out[name] = f"{fact.value} ({fact.strength})"
    if evidence.identity_key is not None:
        out["identity key sha256"] = evidence.identity_key.fingerprint_sha256
    out["nonce"] = evidence.nonce
    out["transcript sha256"] = evidence.transcript.get("sha256")
    return out


def component_diff(predicate: Mapping[str, Any] | None, evidence: DeviceEvidence) -> list[dict[str, Any]]:
    """Declared against observed components, matched by class, manufacturer and model."""
    declared = [c for c in (predicate or {}).get("components") or [] if isinstance(c, Mapping)]
    observed = list(evidence.components)
    keys = ("manufacturer", "model", "serial", "revision")
    out: list[dict[str, Any]] = []
    used: set[int] = set()
    for item in declared:
        shown = {k: item.get(k) for k in keys}
        match = next(
            (
                i
                for i, c in enumerate(observed)
                if i not in used
                and c.cls == item.get("class")
                and (c.model, c.manufacturer) == (item.get("model"), item.get("manufacturer"))
            ),
            None,
        )
        if match is None:
            match = next((i for i, c in enumerate(observed) if i not in used and c.cls == item.get("class")), None)
        if match is None:
            out.append({"change": "removed", "class": item.get("class"), "declared": shown, "observed": None})
            continue
        used.add(match)
        seen = observed[match]
        seen_shown = {k: getattr(seen, k) for k in keys}
        differs = any(shown[k] not in (None, "") and shown[k] != seen_shown[k] for k in keys)
        out.append(
            {
                "change": "changed" if differs else "matched",
                "class": item.get("class"),
                "declared": shown,
                "observed": seen_shown,
            }
        )
    for i, c in enumerate(observed):
        if i not in used:
            out.append(
                {"change": "added", "class": c.cls, "declared": None, "observed": {k: getattr(c, k) for k in keys}}
            )
    return out


# --- the whole intake --------------------------------------------------------------------------------


def _guard(check: str, subject: str, step: Callable[[], list[Finding]]) -> list[Finding]:
    """Run one step; whatever it raises becomes an ``error`` finding (inconclusive), never a crash.

    The device is hostile input: a line error that a library reports as something other than an
    ``OSError`` (termios.error, for one) must still end as "could not decide", not as a traceback.
    """
    try:
        return step()
    except ProvcheckError as exc:
        prefix = "bad input: " if exc.exit_code == 2 else ""
        return [errored(check, f"{prefix}{exc}", subject)]
    except AttestationError as exc:
        return [errored(check, str(exc), subject)]
    except Exception as exc:
        from hw.errors import HardwareError

        if isinstance(exc, HardwareError):
            return [errored(check, str(exc), subject, kind=type(exc).__name__)]
        log.debug("%s raised", check, exc_info=True)
        return [errored(check, f"{type(exc).__name__}: {exc}", subject, kind=type(exc).__name__)]


def run_intake(request: IntakeRequest, *, now: datetime | None = None) -> IntakeResult:
    policy = request.policy
    started = now or datetime.now(UTC)
    vsa_signer = None
    if request.vsa_key is not None:
        from attestations.keys import load_signer

        # A key that cannot be read is bad input: refuse before touching the device, not after.
        vsa_signer = load_signer(request.vsa_key, request.vsa_passphrase)
    report_dir = request.report_dir
    # The report directory is written as one set (verifier/output/report_set.py): staged, then renamed in.
    reports = ReportSet(report_dir) if report_dir is not None else None
    findings: list[Finding] = []
    firmware_subjects: list[Subject] = []
    artifacts: list[Any] = []
    digests: dict[str, str] = {}
    if request.firmware is not None:
        from verifier.checks.attestations import Artifact

        digests = digest_file(request.firmware, ("sha256", "sha384", "sha512"))
        artifacts.append(Artifact(request.firmware, digests))
        firmware_subjects.append(Subject(request.firmware.name, {"sha256": digests["sha256"]}))

    # 1. attestations. A release that cannot be read at all is bad input (exit 2), not a finding.
    attested = verify_release(request.release, policy, artifacts)
    findings += attested.findings
    vouched = attested.vouched
    findings += check_required(vouched, policy)
    findings += check_age(vouched, policy, started)
    if policy.attestations.builder_id or policy.attestations.source_uri:
        from verifier.checks.attestations import AttestPolicy, check_build_policy

        findings += check_build_policy(
            vouched,
            artifacts,
            AttestPolicy(builder_id=policy.attestations.builder_id, source_uri=policy.attestations.source_uri),
        )
    index = next((v.statement.predicate for v in vouched if v.statement.predicate_type == predicates.RELEASE_INDEX), {})

    # 2. firmware
    if request.firmware is not None:
        from verifier.checks.attestations import check_subjects

        findings += check_subjects(artifacts, vouched, attested.covered)
        fw = request.firmware
        findings += _guard("firmware.scan", fw.name, lambda: check_firmware(fw, digests, vouched, policy))
    elif policy.firmware.required:
        findings.append(skipped("firmware.scan", "the policy requires a firmware scan; give --firmware", "firmware"))

    # 3. device
    predicate = _device_manifest(vouched)
    evidence: DeviceEvidence | None = None
    judged: DeviceEvidence | None = None
    nonce = os.urandom(NONCE_BYTES)
    if request.port is not None or request.evidence is not None:
        where = request.port or str(request.evidence)
        holder: list[DeviceEvidence] = []

        def read() -> list[Finding]:
            holder.append(read_evidence(request, predicate, nonce, reports.staging if reports else None))
            return []

        findings += _guard("hw.read", where, read)
        if holder:
            evidence = holder[0]
            if reports is not None:
                evidence = reports.adopt(evidence)
                reports.add(EVIDENCE_FILE, evidence.to_bytes())
            # Every check below sees the strengths provcheck verified, not those the evidence states.
            derived: list[DeviceEvidence] = []
            raw = evidence

            def derive() -> list[Finding]:
                result = _derived(raw, predicate, policy, nonce, request)
                derived.append(result.evidence)
                # The signature findings come with the comparison; here, only what the evidence overstated.
                return [f for f in result.findings if f.check == "hw.strength"]

            findings += _guard("hw.strength", where, derive)
            judged = derived[0] if derived else _unverified(evidence)
            findings.append(
                passed(
                    "hw.read",
                    f"read the device over {evidence.profile} profile",
                    where,
                    transcript_sha256=evidence.transcript.get("sha256"),
                )
            )
            if predicate is None:
                findings.append(
                    failed("hw.manifest", "the release declares no verified device manifest to compare with", "device")
                )
            else:
                seen, declared = judged, predicate
                findings += _guard(
                    "hw.compare", "device", lambda: _check_device(seen, declared, policy, nonce, request)
                )
            findings += check_required_fields(judged, policy)
            read_ok = judged
            # A quote in an evidence file was made earlier: it must carry the nonce the file records (the same
            # binding its signed facts have); whether that read was fresh is hw.nonce's finding, not the quote's.
            quote_nonce = nonce
            if request.evidence is not None:
                from verifier.checks.device import recorded_nonce

                quote_nonce = recorded_nonce(judged) or nonce
            findings += _guard("tpm", "tpm", lambda: _check_tpm(read_ok, predicate, vouched, policy, quote_nonce))
    elif policy.device.required:
        findings.append(skipped("hw.read", "the policy requires reading the device; give --port", "device"))
    if evidence is None and (policy.tpm.require_quote or policy.tpm.require_secure_boot) and not policy.device.required:
        findings.append(skipped("tpm.quote", "the policy requires TPM evidence, but no device was read", "tpm"))

    # 4. suppliers
    if policy.suppliers:
        from verifier.checks.suppliers import check_suppliers, parties_from_cyclonedx, parties_from_device_manifest

        parties = parties_from_device_manifest(predicate) if predicate is not None else []
        for item in vouched:
            if item.statement.predicate_type.startswith(predicates.CYCLONEDX):
                parties += parties_from_cyclonedx(item.statement.predicate)
        findings += check_suppliers(parties, policy.suppliers)

    findings += _vouch_findings(vouched)
    serial = _serial(evidence)
    title = f"intake of {request.label or serial or (request.firmware.name if request.firmware else 'release')}"
    metadata: dict[str, Any] = {
        "generated_at": started.isoformat(timespec="seconds"),
        "release": {
            # Only the signed release index names the release; index.json is an unsigned convenience file.
            "name": index.get("name") or request.release.name,
            "version": index.get("version", ""),
            "created": index.get("created", ""),
            "path": str(request.release),
        },
        "policy": {"sources": [str(p) for p in policy.sources], "sha256": policy.digest},
        "evidence_chain": evidence_chain(vouched),
    }
    if evidence is not None and judged is not None:
        metadata["device"] = device_identity(judged)
        metadata["component_diff"] = component_diff(predicate, judged)
    report = Report(
        title, tuple(findings), strict=policy.strict or request.strict, subject=serial or "", metadata=metadata
    )

    vsa_json: dict[str, Any] | None = None
    files: dict[str, Path] = {}
    if vsa_signer is not None:
        vsa_json = _sign_vsa(request, vsa_signer, report.verdict, attested, evidence, firmware_subjects)
        if reports is not None:
            vsa_line = json.dumps(vsa_json, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            files["vsa"] = reports.add(VSA_FILE, vsa_line)
        report = Report(
            report.title,
            report.findings,
            report.strict,
            report.subject,
            {**metadata, "vsa": {"file": VSA_FILE, "result": "PASSED" if report.verdict is Verdict.PASS else "FAILED"}},
        )
    if reports is not None:
        files.update(reports.commit(report))
    seq = None
    if request.record_history:
        from verifier.workflows.history import History

        record = History(request.history_db).append(
            serial=storable(serial or "unknown"), verdict=report.verdict.value, report=report.to_json(), vsa=vsa_json
        )
        seq = record.seq
    return IntakeResult(report, files, vsa_json, seq)


def _serial(evidence: DeviceEvidence | None) -> str | None:
    if evidence is None:
        return None
    fact = evidence.fact("serial")
    return str(fact.value) if fact is not None and fact.value else None


def _vouch_findings(vouched: Sequence[VouchedStatement]) -> list[Finding]:
    from verifier.checks.attestations import vouch_list

    return vouch_list(vouched)


def _derived(
    evidence: DeviceEvidence, predicate: Mapping[str, Any] | None, policy: Policy, nonce: bytes, request: IntakeRequest
) -> DerivedEvidence:
    """The evidence with each strength re-derived: signed only over this run's nonce (or, for a file, its own)."""
    from verifier.checks.device import derive_strengths, recorded_nonce

    identity = None
    if predicate is not None:
        try:
            identity = _manifest_object(predicate, policy).identity
        except ProvcheckError:
            identity = None  # an unreadable manifest is judged (and reported) by the comparison itself
    binding = recorded_nonce(evidence) if request.evidence is not None else nonce
    return derive_strengths(evidence, identity, nonce=binding, ak_bound=policy.tpm.ak_binding != "none")


def _unverified(evidence: DeviceEvidence) -> DeviceEvidence:
    """The evidence with nothing verified: every fact counts as the device's word."""
    from verifier.checks.device import derive_strengths

    return derive_strengths(replace(evidence, attestation=None, tpm=None), None, nonce=None).evidence


def _check_device(
    evidence: DeviceEvidence, predicate: Mapping[str, Any], policy: Policy, nonce: bytes, request: IntakeRequest
) -> list[Finding]:
    from verifier.checks.device import check_device

    manifest = _manifest_object(predicate, policy)
    findings = check_device(
        evidence,
        manifest,
        required_strength={k: v.value for k, v in policy.device.required_strength.items()},
        expected_nonce=nonce if request.evidence is None else None,
    )
    if not policy.device.region_digests:
        # The policy accepts a device that cannot measure a region; a region that was measured and differs still fails.
        findings = [
            replace(f, required=False, message=f"{f.message} (not required by policy)")
            if f.check == "hw.region" and f.status is Status.SKIP
            else f
            for f in findings
        ]
    if policy.device.component_serials == "require":
        for component in manifest.components:
            if not component.serial:
                findings.append(
                    failed(
                        "policy.component-serial",
                        f"the policy requires component serials; the manifest declares none for {component.label()}",
                        component.label(),
                    )
                )
    if policy.device.require_nonce and request.evidence is not None:
        findings.append(
            failed(
                "hw.nonce",
                f"the evidence was read earlier (nonce {str(evidence.nonce)[:16]}…), not with this intake's nonce; "
                "freshness cannot be shown for a file, and the policy requires it",
                "nonce",
                recorded=evidence.nonce,
            )
        )
    elif policy.device.require_nonce and evidence.nonce != nonce.hex():
        findings.append(failed("hw.nonce", "the evidence is not bound to this intake's nonce", "nonce"))
    return findings


def _check_tpm(
    evidence: DeviceEvidence,
    predicate: Mapping[str, Any] | None,
    vouched: Sequence[VouchedStatement],
    policy: Policy,
    nonce: bytes,
) -> list[Finding]:
    declares_boot = isinstance(predicate, Mapping) and bool(predicate.get("boot_measurements"))
    wanted = policy.tpm.require_quote or policy.tpm.require_secure_boot or policy.tpm.ak_binding != "none"
    if evidence.tpm is None and not wanted and not declares_boot:
        return []
    from verifier.checks.measured_boot import check_measured_boot, declared_authenticode

    declared = declared_authenticode(
        v.statement.predicate for v in vouched if v.statement.predicate_type == predicates.FIRMWARE_MANIFEST
    )
    findings: list[Finding] = check_measured_boot(
        evidence.tpm.to_json() if evidence.tpm is not None else None,
        declared_authenticode=declared,
        manifest=predicate,
        nonce=nonce,
        # Binding an AK means nothing without a quote made by it: a binding rule requires the quote.
        require_quote=policy.tpm.require_quote or policy.tpm.ak_binding != "none",
        require_secure_boot=policy.tpm.require_secure_boot,
        ak_binding=policy.tpm.ak_binding,
        pinned_ak_keyids=policy.tpm.pinned_ak_keyids,
    )
    return findings


def _sign_vsa(
    request: IntakeRequest,
    signer: Any,
    verdict: Verdict,
    attested: _Attested,
    evidence: DeviceEvidence | None,
    firmware: Sequence[Subject],
) -> dict[str, Any]:
    from verifier.workflows.vsa import DeviceIdentity, build_vsa, input_attestations, sign_vsa

    device = None
    if evidence is not None:

        def value(name: str) -> str:
            fact = evidence.fact(name)
            return str(fact.value) if fact is not None and fact.value else ""

        device = DeviceIdentity(
            value("manufacturer"), value("model"), value("serial"), hashlib.sha256(evidence.to_bytes()).hexdigest()
        )
    sources = request.policy.sources
    subjects, predicate = build_vsa(
        verdict=verdict,
        policy_uri=sources[0].resolve().as_uri() if len(sources) == 1 else "urn:provcheck:policy:all-of",
        policy_sha256=request.policy.digest,
        inputs=input_attestations(attested.bundle, attested.envelopes),
        device=device,
        firmware=firmware,
    )
    return sign_vsa(subjects, predicate, signer).to_json()
