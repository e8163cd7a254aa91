"""Judging attestations: signatures and thresholds, subjects against artifacts, SLSA build policy, and the chain.

``attestations`` tells us which keys signed what and what a statement says; this
module decides whether that is enough, and says so as findings.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from attestations import sigstore as sb
from attestations import slsa, strict_json
from attestations.documents import Document, MetablockDocument, SigstoreBundleDocument
from attestations.dsse import Envelope, SignatureCheck, verify_many
from attestations.errors import AttestationError, InputError, UnsupportedError
from attestations.keys import PublicKey
from attestations.predicates import INTOTO_PAYLOAD_TYPE, INTOTO_TEST_RESULT, describe
from attestations.sigstore import IdentityPolicy, PinnedTrustRoot, TrustConfigChoice, VerifiedBundle
from attestations.statement import Statement, Subject, parse_statement, subject_matches
from attestations.testresult import TestResult
from verifier.errors import UsageError
from verifier.model import Finding, errored, failed, passed, skipped, warned


@dataclass(frozen=True)
class VouchedStatement:
    """A statement whose signature verified, with who vouched for it."""

    statement: Statement
    source: str
    signers: tuple[str, ...]


@dataclass(frozen=True)
class Artifact:
    path: Path
    digests: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class SigstoreOptions:
    trust: TrustConfigChoice | None = None
    policy: IdentityPolicy | None = None
    unsafe_no_identity: bool = False

    @classmethod
    def for_instance(
        cls,
        trusted_root: Path | None,
        staging: bool,
        policy: IdentityPolicy | None,
        *,
        unsafe_no_identity: bool = False,
    ) -> SigstoreOptions:
        """Options for one Sigstore instance: a trusted_root file when given, else staging if asked, else production.

        Only names the trust root; it is read when a bundle is verified against it.
        """
        if trusted_root is not None:
            trust = TrustConfigChoice.from_file(trusted_root)
        elif staging:
            trust = TrustConfigChoice.staging()
        else:
            trust = TrustConfigChoice.production()
        return cls(trust=trust, policy=policy, unsafe_no_identity=unsafe_no_identity)


@dataclass(frozen=True)
class AttestPolicy:
    """What ``attest verify`` was asked to require."""

    threshold: int = 1
    builder_id: str | None = None
    source_uri: str | None = None
    sigstore: SigstoreOptions = field(default_factory=SigstoreOptions)


def _signer_names(check_ids: Sequence[str], keys: Sequence[PublicKey]) -> tuple[str, ...]:
    by_id = {k.keyid: k for k in keys}
    return tuple(by_id[i].describe() if i in by_id else f"key {i[:16]}" for i in check_ids)


def signature_finding(envelope: Envelope, result: SignatureCheck, keys: Sequence[PublicKey], threshold: int) -> Finding:
    """The ``attest.signature`` finding for one envelope's signature check."""
    signers = _signer_names(result.valid_keyids, keys)
    evidence: dict[str, object] = {
        "valid_keyids": list(result.valid_keyids),
        "signatures": result.signature_count,
        "invalid_signatures": result.invalid_count,
        "threshold": threshold,
    }
    if result.distinct_valid >= threshold:
        who = ", ".join(signers)
        return passed(
            "attest.signature",
            f"signed by {who} ({result.distinct_valid} of {threshold} required)",
            envelope.source,
            **evidence,
        )
    if result.distinct_valid == 0:
        message = (
            f"none of the {result.signature_count} signature(s) verifies with the {len(keys)} trusted key(s): "
            "the payload was altered or signed by another key"
        )
    else:
        repeated = result.signature_count - result.invalid_count > result.distinct_valid
        duplicate = " (a key that signed more than once counts once)" if repeated else ""
        message = (
            f"only {result.distinct_valid} distinct trusted key(s) signed, {threshold} required{duplicate}: "
            f"{', '.join(signers)}"
        )
    return failed("attest.signature", message, envelope.source, **evidence)


def verify_envelopes(
    envelopes: Sequence[Envelope], keys: Sequence[PublicKey], threshold: int
) -> tuple[list[Finding], list[VouchedStatement]]:
    if threshold < 1:
        raise UsageError("--threshold must be at least 1")
    distinct = {k.keyid for k in keys}
    if threshold > len(distinct):
        raise UsageError(f"--threshold {threshold} needs at least {threshold} distinct keys; {len(distinct)} given")
    findings: list[Finding] = []
    vouched: list[VouchedStatement] = []
    for envelope, result in zip(envelopes, verify_many(envelopes, keys), strict=True):
        finding = signature_finding(envelope, result, keys, threshold)
        findings.append(finding)
        if result.distinct_valid >= threshold:
            statement = parse_statement(envelope.payload)
            vouched.append(VouchedStatement(statement, envelope.source, _signer_names(result.valid_keyids, keys)))
    return findings, vouched


def _artifact_for_bundle(raw: bytes, artifacts: Sequence[Artifact]) -> Artifact | None:
    """The artifact whose sha256 a message-signature bundle signed, if any was given."""
    try:
        obj = strict_json.loads(raw, "bundle")
        digest = obj["messageSignature"]["messageDigest"]["digest"]
    except (InputError, KeyError, TypeError):
        return artifacts[0] if len(artifacts) == 1 else None
    try:
        want = base64.b64decode(digest).hex()
    except (ValueError, TypeError):
        return None
    for artifact in artifacts:
        if artifact.digests.get("sha256") == want:
            return artifact
    return artifacts[0] if artifacts else None


def verify_sigstore_bundles(
    bundles: Sequence[SigstoreBundleDocument],
    artifacts: Sequence[Artifact],
    options: SigstoreOptions,
    keys: Sequence[PublicKey],
) -> tuple[list[Finding], list[VouchedStatement], set[str]]:
    """Findings for each bundle, the statements DSSE bundles vouch for, and artifacts covered by message bundles."""
    return verify_sigstore_bundles_with(bundles, artifacts, options, keys, TrustRoots())


class TrustRoots:
    """The Sigstore trust roots loaded so far, each once: a release of many bundles parses its root once."""

    def __init__(self) -> None:
        self._loaded: dict[TrustConfigChoice | None, PinnedTrustRoot] = {}

    def get(self, choice: TrustConfigChoice | None) -> PinnedTrustRoot:
        if choice not in self._loaded:
            self._loaded[choice] = sb.load_trust_root(choice or sb.TrustConfigChoice.production())
        return self._loaded[choice]


def verify_sigstore_bundles_with(
    bundles: Sequence[SigstoreBundleDocument],
    artifacts: Sequence[Artifact],
    options: SigstoreOptions,
    keys: Sequence[PublicKey],
    roots: TrustRoots,
) -> tuple[list[Finding], list[VouchedStatement], set[str]]:
    """As :func:`verify_sigstore_bundles`, with the trust roots already loaded by an earlier call kept in ``roots``."""
    findings: list[Finding] = []
    vouched: list[VouchedStatement] = []
    covered: set[str] = set()
    if not bundles:
        return findings, vouched, covered
    key_signed = {id(doc) for doc in bundles if _is_key_signed(doc.raw)}
    if options.policy is None and not options.unsafe_no_identity and len(key_signed) < len(bundles):
        raise UsageError(
            "Sigstore bundles need an identity policy: give --identity and --issuer "
            "(or --insecure-skip-identity to accept any signer)"
        )
    trust = roots.get(options.trust)
    crypto_keys = [k.key for k in keys]
    for doc in bundles:
        artifact = _artifact_for_bundle(doc.raw, artifacts)
        try:
            fact = sb.verify_bundle_bytes(
                doc.raw,
                source=doc.source,
                artifact=artifact.path if artifact else None,
                trust=trust,
                policy=options.policy,
                # A key-signed bundle's signer is pinned by the trusted --key itself.
                unsafe_no_identity=options.unsafe_no_identity or id(doc) in key_signed,
                public_keys=crypto_keys,
            )
        except sb.BundleVerificationError as exc:
            findings.append(failed(f"attest.sigstore.{exc.stage}", str(exc), doc.source, stage=exc.stage))
            continue
        except AttestationError as exc:
            if exc.exit_code == 2 and not isinstance(exc, UnsupportedError):
                raise
            findings.append(errored("attest.sigstore", f"not verified: {exc}", doc.source, reason=str(exc)))
            continue
        who = _describe_bundle_signer(fact)
        evidence = {
            "kind": fact.kind,
            "bundle_version": fact.bundle_version,
            "log_entry": f"{fact.log_entry_kind} {fact.log_entry_version}",
            "log_index": fact.log_index,
            "integrated_time": fact.integrated_time.isoformat() if fact.integrated_time else None,
            "trust_root": fact.trust_root,
            "identity_checked": fact.identity_checked,
            "signer": who,
        }
        if not fact.identity_checked:
            findings.append(
                warned("attest.sigstore.identity", f"any signer accepted (--insecure-skip-identity): {who}", doc.source)
            )
        if fact.kind == "dsse" and fact.payload is not None:
            if fact.payload_type != INTOTO_PAYLOAD_TYPE:
                # The signature covers the type too: a payload signed as something else is not a statement.
                raise UnsupportedError(
                    f"{doc.source}: the bundle's DSSE payloadType is {fact.payload_type!r}; provcheck verifies "
                    f"{INTOTO_PAYLOAD_TYPE} statements only"
                )
            statement = parse_statement(fact.payload, doc.source)
            vouched.append(VouchedStatement(statement, doc.source, (who,)))
            findings.append(
                passed(
                    "attest.sigstore",
                    f"bundle verified offline against {fact.trust_root}; signed by {who}",
                    doc.source,
                    **evidence,
                )
            )
        else:
            if artifact is not None:
                covered.add(str(artifact.path))
            target = artifact.name if artifact else "the artifact"
            findings.append(
                passed(
                    "attest.sigstore",
                    f"signature over {target} verified offline against {fact.trust_root}; signed by {who}",
                    doc.source,
                    **evidence,
                )
            )
    return findings, vouched, covered


def _is_key_signed(raw: bytes) -> bool:
    try:
        material = strict_json.loads(raw, "bundle")["verificationMaterial"]
    except (InputError, KeyError, TypeError):
        return False
    return isinstance(material, dict) and "publicKey" in material and "certificate" not in material


def _describe_bundle_signer(fact: VerifiedBundle) -> str:
    if fact.signer is not None:
        issuer = f" (issuer {fact.signer.issuer})" if fact.signer.issuer else ""
        return f"{fact.signer.san}{issuer}"
    if fact.public_key_id:
        return f"public key {str(fact.public_key_id)[:16]}"
    return "unknown signer"


def _best_mismatch(artifact: Artifact, vouched: Sequence[VouchedStatement]) -> tuple[Subject, str] | None:
    for item in vouched:
        for subject in item.statement.subjects:
            if subject.name and Path(subject.name).name == artifact.name:
                return subject, item.source
    return None


def check_subjects(
    artifacts: Sequence[Artifact], vouched: Sequence[VouchedStatement], covered: set[str], unverified: int = 0
) -> list[Finding]:
    """Each artifact must equal a subject of a verified statement (or be signed by a verified bundle)."""
    findings: list[Finding] = []
    if not artifacts:
        return [
            skipped("attest.subject", "no artifact given: subjects were not compared with any file", required=False)
        ]
    for artifact in artifacts:
        matches = [
            (item, subject)
            for item in vouched
            for subject in item.statement.subjects
            if subject_matches(subject, artifact.digests)
        ]
        if matches:
            item, subject = matches[0]
            findings.append(
                passed(
                    "attest.subject",
                    f"{artifact.name} equals subject {subject.short()} of {item.source}",
                    str(artifact.path),
                    statements=[m[0].source for m in matches],
                )
            )
            continue
        if str(artifact.path) in covered:
            findings.append(
                passed(
                    "attest.subject", f"{artifact.name} is the artifact a verified bundle signed", str(artifact.path)
                )
            )
            continue
        if unverified:
            # What could not be verified might have vouched for it: unknown, not tampered.
            findings.append(
                skipped(
                    "attest.subject",
                    f"{artifact.name} matches no verified statement, and {unverified} attestation(s) could not be "
                    "verified, so whether one of them covers it is unknown",
                    str(artifact.path),
                )
            )
            continue
        near = _best_mismatch(artifact, vouched)
        if near is not None:
            subject, source = near
            alg = next(
                (a for a in ("sha256", "sha512", "sha384") if a in subject.digests and a in artifact.digests), None
            )
            if alg is None:
                detail = f"it declares only {', '.join(sorted(subject.digests))} digests, which cannot be computed here"
            else:
                detail = f"it declares {alg} {subject.digests[alg][:16]}…, the file has {artifact.digests[alg][:16]}…"
            message = f"{artifact.name} does not match subject {subject.name!r} of {source}: {detail}"
        else:
            names = sorted({s.name for item in vouched for s in item.statement.subjects})
            listed = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
            message = (
                f"{artifact.name} (sha256 {artifact.digests.get('sha256', '')[:16]}…) matches no subject of the "
                f"{len(vouched)} verified statement(s)" + (f" (subjects: {listed})" if names else "")
            )
        findings.append(failed("attest.subject", message, str(artifact.path), digests=dict(artifact.digests)))
    return findings


def _targets(
    vouched: Sequence[VouchedStatement], artifacts: Sequence[Artifact]
) -> list[tuple[VouchedStatement, slsa.Provenance]]:
    """The provenance statements that speak about the given artifacts (or all, when none is given)."""
    out = []
    for item in vouched:
        if not slsa.is_provenance(item.statement.predicate_type):
            continue
        if artifacts and not any(subject_matches(s, a.digests) for s in item.statement.subjects for a in artifacts):
            continue
        out.append((item, slsa.parse_provenance(item.statement.predicate_type, item.statement.predicate)))
    return out


def _builder_matches(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    # A builder id given without a version accepts any version of that builder, as slsa-verifier does.
    return "@" not in expected and actual.partition("@")[0] == expected


def _expected_source(text: str) -> slsa.SourceLocation:
    expected = slsa.parse_source(text.strip())
    if expected is None:
        raise UsageError(
            f"source URI {text!r} (--source-uri / policy source_uri) is not one repository: give "
            "host/owner/repo, optionally as git+https://… and with @refs/tags/… or @refs/heads/…"
        )
    return expected


def _ref_hint(expected: slsa.SourceLocation, claims: Sequence[slsa.SourceClaim]) -> str:
    """Why a repository that matched did not: the ref, written another way than the policy writes it."""
    refs = [c.location.ref for c in claims if c.location and c.location.repository == expected.repository]
    if not expected.ref or not refs or any(ref == expected.ref for ref in refs):
        return ""
    spelled = [ref for ref in refs if expected.ref in (ref.removeprefix("refs/tags/"), ref.removeprefix("refs/heads/"))]
    if spelled:
        return f"; refs are compared exactly: the provenance names {spelled[0]}, write that in the policy"
    return ""


def _check_source(item: VouchedStatement, provenance: slsa.Provenance, wanted: str) -> Finding:
    """``attest.source``: every source the provenance names is the expected repository (and ref).

    Only the fields that name the build's own source count (``externalParameters`` in v1, ``invocation.
    configSource`` in v0.2). A repository in resolvedDependencies or materials is an input the build
    fetched, not what it was built from; one that names two sources must name the expected one in both.
    """
    expected = _expected_source(wanted)
    claims = provenance.sources
    evidence: dict[str, object] = {"sources": [{"uri": c.uri, "field": c.field} for c in claims]}
    if not claims:
        fetched = [d.uri for d in provenance.dependencies if d.uri]
        also = f" (resolvedDependencies/materials list {', '.join(fetched[:3])}, which are inputs, not the source)"
        return failed(
            "attest.source",
            f"the provenance names no source (externalParameters.workflow/source, invocation.configSource), "
            f"so it cannot show it was built from {wanted}" + (also if fetched else ""),
            item.source,
            **evidence,
        )
    wrong = [c for c in claims if not slsa.source_matches(expected, c)]
    if not wrong:
        built = ", ".join(f"{c.uri} ({c.field})" for c in claims)
        return passed("attest.source", f"built from {built}", item.source, **evidence)
    named = ", ".join(f"{c.uri} ({c.field})" for c in wrong)
    return failed(
        "attest.source",
        f"built from {named}, not {wanted}{_ref_hint(expected, claims)}",
        item.source,
        **evidence,
    )


def check_build_policy(
    vouched: Sequence[VouchedStatement], artifacts: Sequence[Artifact], policy: AttestPolicy
) -> list[Finding]:
    findings: list[Finding] = []
    if policy.builder_id is None and policy.source_uri is None:
        return findings
    if policy.source_uri is not None:
        _expected_source(policy.source_uri)  # a policy that names no repository is bad input, provenance or not
    targets = _targets(vouched, artifacts)
    if not targets:
        what = "the given artifacts" if artifacts else "any statement"
        findings.append(
            failed(
                "attest.provenance",
                f"no verified SLSA provenance covers {what}, so --builder-id/--source-uri cannot be satisfied",
            )
        )
        return findings
    for item, provenance in targets:
        if policy.builder_id is not None:
            if _builder_matches(policy.builder_id, provenance.builder_id):
                findings.append(passed("attest.builder-id", f"built by {provenance.builder_id}", item.source))
            else:
                findings.append(
                    failed(
                        "attest.builder-id",
                        f"built by {provenance.builder_id or 'an unnamed builder'}, not {policy.builder_id}",
                        item.source,
                        builder_id=provenance.builder_id,
                    )
                )
        if policy.source_uri is not None:
            findings.append(_check_source(item, provenance, policy.source_uri))
    return findings


def check_vsas(vouched: Sequence[VouchedStatement]) -> list[Finding]:
    findings = []
    for item in vouched:
        if not slsa.is_vsa(item.statement.predicate_type):
            continue
        vsa = slsa.parse_vsa(item.statement.predicate)
        levels = ", ".join(vsa.verified_levels) or "no levels"
        if vsa.result == "PASSED":
            findings.append(
                passed(
                    "attest.vsa",
                    f"{vsa.verifier_id} verified {vsa.resource_uri or 'the subject'}: PASSED ({levels})",
                    item.source,
                    verifier=vsa.verifier_id,
                )
            )
        else:
            findings.append(
                failed(
                    "attest.vsa",
                    f"{vsa.verifier_id} reports {vsa.result or 'no result'} for {vsa.resource_uri or 'the subject'}",
                    item.source,
                    verifier=vsa.verifier_id,
                )
            )
    return findings


def check_predicate_type(
    vouched: Sequence[VouchedStatement], wanted: str, unverified: int = 0
) -> tuple[list[VouchedStatement], list[Finding]]:
    """Only statements of type ``wanted`` count: the others are dropped, each with a failure naming its type."""
    matching = [item for item in vouched if item.statement.predicate_type == wanted]
    findings = [
        failed(
            "attest.predicate-type",
            f"a {describe(item.statement.predicate_type)} statement ({item.statement.predicate_type}), "
            f"not {describe(wanted)} ({wanted}): only statements of that type count",
            item.source,
            predicate_type=item.statement.predicate_type,
            expected=wanted,
        )
        for item in vouched
        if item.statement.predicate_type != wanted
    ]
    if matching and not findings:
        findings.append(
            passed(
                "attest.predicate-type",
                f"{len(matching)} verified statement(s), all of type {describe(wanted)} ({wanted})",
                expected=wanted,
            )
        )
    elif not matching and not findings:
        message = f"no verified statement of type {describe(wanted)} ({wanted})"
        if unverified:
            findings.append(skipped("attest.predicate-type", f"{message}: {unverified} could not be verified"))
        else:
            findings.append(failed("attest.predicate-type", message, expected=wanted))
    return matching, findings


def _names(names: Sequence[str], limit: int = 8) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_test_results(vouched: Sequence[VouchedStatement]) -> list[Finding]:
    """What each verified in-toto test-result statement reports: PASSED passes, WARNED warns, FAILED fails.

    A result that contradicts its own lists (PASSED or WARNED with failed tests) fails: the lists are what a
    reader of the statement checks, so the summary may not hide them.
    """
    findings: list[Finding] = []
    for item in vouched:
        if item.statement.predicate_type != INTOTO_TEST_RESULT:
            continue
        result = TestResult.from_dict(item.statement.predicate)
        about = ", ".join(s.short() for s in item.statement.subjects)
        evidence: dict[str, object] = {
            "result": result.result,
            "passed_tests": list(result.passed_tests),
            "warned_tests": list(result.warned_tests),
            "failed_tests": list(result.failed_tests),
            "configuration": [c.to_json() for c in result.configuration],
            "url": result.url,
            "subjects": [s.to_json() for s in item.statement.subjects],
            "signers": list(item.signers),
        }
        counts = (
            f"{len(result.passed_tests)} passed, {len(result.warned_tests)} warned, "
            f"{len(result.failed_tests)} failed"
        )
        if result.result == "FAILED":
            failing = f": {_names(result.failed_tests)}" if result.failed_tests else ""
            findings.append(
                failed("attest.test-result", f"tests FAILED for {about} ({counts}){failing}", item.source, **evidence)
            )
        elif result.failed_tests:
            findings.append(
                failed(
                    "attest.test-result",
                    f"says {result.result} for {about} but lists failed tests: {_names(result.failed_tests)}",
                    item.source,
                    **evidence,
                )
            )
        elif result.result == "WARNED" or result.warned_tests:
            findings.append(
                warned(
                    "attest.test-result",
                    f"tests {result.result} for {about} ({counts}); warned: {_names(result.warned_tests)}",
                    item.source,
                    **evidence,
                )
            )
        else:
            findings.append(
                passed("attest.test-result", f"tests PASSED for {about} ({counts})", item.source, **evidence)
            )
    return findings


def _producers(
    digests: Mapping[str, str], vouched: Sequence[VouchedStatement]
) -> list[tuple[VouchedStatement, Subject]]:
    return [
        (item, subject) for item in vouched for subject in item.statement.subjects if subject_matches(subject, digests)
    ]


def check_chain(vouched: Sequence[VouchedStatement], artifacts: Sequence[Artifact]) -> list[Finding]:
    """Link build steps: each step's inputs must be the vouched outputs of the step before it.

    Only SLSA provenance statements form the chain. With one of them there is
    nothing to link. With several, every step that is not the last must be
    consumed by a later one, and an input named like a vouched output must have
    its digest.
    """
    steps = [
        (item, slsa.parse_provenance(item.statement.predicate_type, item.statement.predicate))
        for item in vouched
        if slsa.is_provenance(item.statement.predicate_type)
    ]
    if len(steps) < 2:
        return []
    findings: list[Finding] = []
    links: list[dict[str, str]] = []
    consumed: set[int] = set()
    broken = False
    for item, provenance in steps:
        for dependency in provenance.dependencies:
            producers = _producers(dependency.digests, [s for s, _ in steps if s is not item])
            for producer, subject in producers:
                consumed.add(id(producer))
                links.append(
                    {
                        "consumer": item.source,
                        "input": dependency.uri or dependency.name,
                        "producer": producer.source,
                        "subject": subject.short(),
                        "signed_by": ", ".join(producer.signers),
                    }
                )
            if producers:
                continue
            label = dependency.name or Path(dependency.uri.partition("@")[0]).name
            for other, _ in steps:
                if other is item:
                    continue
                for subject in other.statement.subjects:
                    same_name = bool(label) and Path(subject.name).name == label
                    if same_name and subject_matches(subject, dependency.digests) is False:
                        broken = True
                        findings.append(
                            failed(
                                "attest.chain",
                                f"step {item.source} consumed {label!r} with a different digest than "
                                f"{other.source} vouches for ({subject.short()})",
                                item.source,
                            )
                        )
    finals = {
        id(item)
        for item, _ in steps
        if (artifacts and any(subject_matches(s, a.digests) for s in item.statement.subjects for a in artifacts))
    }
    heads = [item for item, _ in steps if id(item) not in consumed]
    for item in heads:
        if id(item) in finals:
            continue
        if not artifacts and len(heads) == 1:
            continue
        broken = True
        outputs = ", ".join(s.short() for s in item.statement.subjects)
        findings.append(
            failed(
                "attest.chain",
                f"{item.source} vouches for {outputs}, which no later step consumed: the chain is broken after it",
                item.source,
            )
        )
    if not broken:
        summary = "; ".join(f"{link['producer']} → {link['consumer']} via {link['subject']}" for link in links)
        findings.append(passed("attest.chain", f"{len(steps)} build steps linked end to end: {summary}", links=links))
    return findings


def vouch_list(vouched: Sequence[VouchedStatement]) -> list[Finding]:
    """Who vouched for which digest: one finding per verified statement, for the report."""
    return [
        passed(
            "attest.vouch",
            f"{describe(item.statement.predicate_type)} for "
            f"{', '.join(s.short() for s in item.statement.subjects)}; signed by {', '.join(item.signers)}",
            item.source,
            predicate_type=item.statement.predicate_type,
            subjects=[s.to_json() for s in item.statement.subjects],
            signers=list(item.signers),
        )
        for item in vouched
    ]


def split_documents(
    documents: Sequence[Document],
) -> tuple[list[Envelope], list[SigstoreBundleDocument], list[MetablockDocument]]:
    envelopes = [d for d in documents if isinstance(d, Envelope)]
    bundles = [d for d in documents if isinstance(d, SigstoreBundleDocument)]
    metablocks = [d for d in documents if isinstance(d, MetablockDocument)]
    return envelopes, bundles, metablocks
