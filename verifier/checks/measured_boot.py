"""Measured boot: judge a TPM quote and event log against the declared release.

``hw.tpm`` supplies facts (a verified-or-not quote, a parsed and replayed log);
this module decides. The chain of trust it checks:

1. the quote is signed by the attestation key, over our nonce, and its pcrDigest
   covers the PCR values we were given (``tpm.quote.*``);
2. the AK is bound to something the operator trusts, as the policy requires
   (``tpm.ak.binding``; see docs/tpm-trust-model.md);
3. the event log replays to exactly those PCRs (``tpm.eventlog.replay``), so each
   logged event is what the TPM measured;
4. each logged boot application and driver is the Authenticode hash of a PE image
   the release declares, and Secure Boot, its keys, separators, firmware blobs
   and the kernel command line match the device manifest (``tpm.boot.*``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hw.errors import HardwareError
from hw.tpm.bootstate import SECURE_BOOT_VARIABLES, BootFacts, boot_facts
from hw.tpm.ekcert import verify_chain
from hw.tpm.eventlog import EventLog, parse_event_log
from hw.tpm.quote import QuoteVerification, load_attestation_key, verify_quote
from hw.tpm.replay import Comparison, compare, replay
from verifier.declared.boot import BootReference, hex_text
from verifier.declared.fields import JsonValue
from verifier.errors import BadInputError
from verifier.model import Finding, Status, errored, failed, passed, skipped, warned
from verifier.policy.model import AK_BINDINGS

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from hw.evidence import TpmEvidence
    from hw.tpm.credential import ActivationCheck
    from hw.tpm.public import TpmPublic

PcrBanks = dict[str, dict[int, bytes]]
_PCR_INDEX = re.compile(r"[0-9]+")
FIRMWARE_PCRS = range(8)


def declared_authenticode(predicates: Iterable[object]) -> set[str]:
    """The ``authenticode.sha256`` of every firmware-manifest predicate (or statement carrying one)."""
    out: set[str] = set()
    for item in predicates:
        predicate = item.get("predicate", item) if isinstance(item, Mapping) else {}
        auth = predicate.get("authenticode") if isinstance(predicate, Mapping) else None
        digest = auth.get("sha256") if isinstance(auth, Mapping) else None
        if isinstance(digest, str):
            out.add(digest.lower())
    return out


# -- inputs --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TpmInputs:
    """The DeviceEvidence ``tpm`` object, decoded: what the measured-boot judge reads."""

    reported_pcrs: PcrBanks
    event_log: bytes | None
    quote: tuple[bytes, bytes, bytes] | None
    ak: bytes | None
    strength: str = "measured"


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise BadInputError(f"evidence tpm.{where} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInputError(f"evidence tpm.{where} is not valid base64") from exc


def tpm_inputs(tpm: TpmEvidence) -> TpmInputs:
    """Decode the ``tpm`` object of DeviceEvidence; a value that does not decode is bad input naming it."""
    pcrs: PcrBanks = {}
    for bank, values in tpm.pcrs.items():
        for index, value in values.items():
            if not _PCR_INDEX.fullmatch(index):
                raise BadInputError(f"evidence tpm.pcrs.{bank}: {index!r} is not a PCR index")
            pcrs.setdefault(bank, {})[int(index)] = bytes.fromhex(hex_text(value, f"evidence pcrs.{bank}.{index}"))
    log = _b64(tpm.event_log_b64, "event_log_b64") if tpm.event_log_b64 else None
    quote = None
    if tpm.quote is not None:
        q = tpm.quote
        quote = (_b64(q.message_b64, "quote.message_b64"), _b64(q.signature_b64, "quote.signature_b64"),
                 _b64(q.pcrs_b64, "quote.pcrs_b64"))
    ak_pem = tpm.ak_public_pem
    ak = ak_pem.encode() if ak_pem is not None and ak_pem.strip() else None
    return TpmInputs(pcrs, log, quote, ak, tpm.strength)


# -- strength ------------------------------------------------------------------------------------------------------


def quoted_strength(evidence_tpm: TpmEvidence, nonce: bytes | None) -> tuple[str, str]:
    """How strongly provcheck itself can vouch for the TPM object's PCR values, and why not more.

    ``signed`` only when the quote verifies with the AK the evidence carries, carries ``nonce``
    as extraData, its pcrDigest covers the quoted values, and every PCR value the object lists
    is one the quote covers; otherwise ``measured`` (the values came from the TPM but nothing
    signed them). The AK's binding to a real TPM is a separate rule (``tpm.ak.binding``).
    """
    try:
        inputs = tpm_inputs(evidence_tpm)
    except (BadInputError, ValueError) as exc:
        return "reported", f"the TPM evidence is malformed: {exc}"
    if inputs.quote is None:
        return "measured", "the device gave no quote"
    if inputs.ak is None:
        return "measured", "the quote comes without an attestation key"
    if nonce is None:
        return "measured", "there is no nonce to check the quote's freshness against"
    try:
        verification = verify_quote(*inputs.quote, load_attestation_key(inputs.ak), nonce=nonce)
    except HardwareError as exc:
        return "measured", f"the quote is malformed: {exc}"
    if not verification.signature_valid:
        return "measured", f"the quote does not verify with the AK ({verification.signature_error})"
    if verification.nonce_matches is not True:
        return "measured", "the quote carries another nonce"
    if not verification.pcr_digest_matches:
        return "measured", "the quoted PCR values do not hash to the quote's pcrDigest"
    uncovered = sorted(
        f"{bank}:{index}"
        for bank, values in inputs.reported_pcrs.items()
        for index, value in values.items()
        if verification.pcrs.get(bank, {}).get(index) != value
    )
    if uncovered:
        return "measured", f"PCR(s) {', '.join(uncovered[:8])} are not covered by the quote"
    return "signed", "the quote verifies with the AK over the nonce and covers every PCR given"


# -- quote ---------------------------------------------------------------------------------------------------------


def quote_findings(v: QuoteVerification, *, nonce_expected: bool) -> list[Finding]:
    subject = f"AK {v.ak_keyid[:16]}"
    out: list[Finding] = []
    if v.signature_valid:
        out.append(passed("tpm.quote.signature", f"the quote is signed by the attestation key ({v.signature_scheme}, "
                          f"{v.signature_hash})", subject, ak_keyid=v.ak_keyid))
    else:
        out.append(failed("tpm.quote.signature", f"{v.signature_error}: the quote is forged or the AK is wrong",
                          subject, ak_keyid=v.ak_keyid))
    if v.nonce_matches is None:
        out.append(skipped("tpm.quote.nonce", "no nonce was given, so the quote may be a replay; pass the nonce "
                           "the device was challenged with", subject, required=nonce_expected,
                           extra_data=v.attest.extra_data.hex()))
    elif v.nonce_matches:
        out.append(passed("tpm.quote.nonce", "the quote carries our nonce (extraData): it is fresh", subject))
    else:
        out.append(failed("tpm.quote.nonce", "the quote's extraData is not our nonce: it is a replay or for another "
                          "challenge", subject, extra_data=v.attest.extra_data.hex()))
    if v.pcr_digest_matches:
        out.append(passed("tpm.quote.pcr-digest", "the quoted pcrDigest covers the PCR values given", subject,
                          pcr_digest=v.attest.pcr_digest.hex()))
    else:
        out.append(failed("tpm.quote.pcr-digest", "the PCR values do not hash to the quoted pcrDigest: they were "
                          "altered after the quote", subject, quoted=v.attest.pcr_digest.hex(),
                          computed=v.computed_pcr_digest.hex()))
    if v.signer_name_matches is True:
        out.append(passed("tpm.quote.signer-name", "qualifiedSigner is the AK's qualified name under this EK",
                          subject, qualified_signer=v.attest.qualified_signer.hex()))
    elif v.signer_name_matches is False:
        out.append(failed("tpm.quote.signer-name", "qualifiedSigner is not this AK under this EK: the quote was made "
                          "by another key", subject, qualified_signer=v.attest.qualified_signer.hex(),
                          expected=v.expected_signer.hex() if v.expected_signer else None))
    else:
        out.append(skipped("tpm.quote.signer-name", "; ".join(v.notes) or "qualifiedSigner not checked", subject,
                           required=False))
    return out


def ak_binding_findings(
    binding: str,
    v: QuoteVerification | None,
    *,
    ak_public: TpmPublic | None,
    pinned_keyids: Sequence[str],
    ek_chain: Finding | None,
    activation: ActivationCheck | None = None,
) -> list[Finding]:
    """Is the AK bound to something trusted, as strongly as the policy asks? See docs/tpm-trust-model.md."""
    if binding not in AK_BINDINGS:
        raise BadInputError(f"unknown AK binding {binding!r}; choose one of {', '.join(AK_BINDINGS)}")
    if v is None:
        return []
    keyid = v.ak_keyid
    pinned = keyid in {k.lower() for k in pinned_keyids}
    facts = {"ak_keyid": keyid, "required": binding, "pinned": pinned}
    if binding == "none":
        return [Finding("tpm.ak.binding", Status.SKIP, "the AK is taken as the device's word: nothing binds it to "
                        "a TPM (the policy asks for no binding)", "attestation key", facts, required=False)]
    if binding == "pinned":
        if pinned:
            return [passed("tpm.ak.binding", "the AK is the one pinned for this device", "attestation key", **facts)]
        return [failed("tpm.ak.binding", "the AK is not the key pinned for this device", "attestation key", **facts)]
    if binding == "activated":
        return [_activation_finding(v, ak_public, ek_chain, activation, facts)]
    # binding == "ek": the AK is a restricted fixedTPM signing key whose quotes name it as a child of a certified EK.
    problems = []
    if ak_public is None:
        problems.append("the AK public area (TPM2B_PUBLIC) is needed, not only its PEM")
    elif not (ak_public.is_restricted_signing_key and ak_public.is_fixed_tpm):
        problems.append("the AK is not a restricted, fixedTPM signing key")
    if v.signer_name_matches is not True:
        problems.append("the quote's qualifiedSigner was not shown to be this AK under the EK")
    if ek_chain is None or ek_chain.status is not Status.PASS:
        problems.append("the EK certificate does not chain to a trusted TPM manufacturer CA")
    if problems:
        status = Status.FAIL if v.signer_name_matches is False or (ek_chain and ek_chain.status is Status.FAIL) \
            else Status.SKIP
        return [Finding("tpm.ak.binding", status, "the AK is not bound to a certified EK: " + "; ".join(problems),
                        "attestation key", facts)]
    return [passed("tpm.ak.binding", "the AK is a restricted fixedTPM key named in the quote as a child of the "
                   "certified EK (not proven by credential activation; see docs/tpm-trust-model.md)",
                   "attestation key", **facts)]


def _activation_finding(
    v: QuoteVerification,
    ak_public: TpmPublic | None,
    ek_chain: Finding | None,
    activation: ActivationCheck | None,
    facts: dict[str, object],
) -> Finding:
    """Credential activation: the device released a secret only the TPM with the certified EK and this AK could."""
    subject = "attestation key"
    if activation is None or ak_public is None:
        return Finding("tpm.ak.binding", Status.SKIP, "credential activation is required but no activation result "
                       "was given (provcheck tpm make-credential, then the device's tpm2_activatecredential)",
                       subject, facts)
    facts = {**facts, "ak_name": activation.ak_name.hex(), "ek_name": activation.ek_name.hex()}
    if not activation.names_match:
        return Finding("tpm.ak.binding", Status.FAIL, "the credential was made for another AK or EK than the ones "
                       "that signed this quote", subject, facts)
    if not activation.secret_released:
        return Finding("tpm.ak.binding", Status.FAIL, "the device did not release the credential secret: the AK is "
                       "not in the TPM that holds the certified EK", subject, facts)
    if ek_chain is None or ek_chain.status is not Status.PASS:
        return Finding("tpm.ak.binding", Status.SKIP if ek_chain is None else ek_chain.status,
                       "the AK was activated against an EK whose certificate did not verify", subject, facts)
    return Finding("tpm.ak.binding", Status.PASS, "the TPM that holds the certified EK released the credential "
                   "bound to this AK's name: the AK is resident in that TPM", subject, facts)


def ek_chain_findings(
    ek_cert: Certificate | None,
    bundle: Sequence[Certificate],
    *,
    ek_public: TpmPublic | None,
    platform_cert: Certificate | None = None,
) -> list[Finding]:
    out: list[Finding] = []
    if ek_cert is None:
        return out
    if not bundle:
        out.append(skipped("tpm.ek.chain", "no TPM manufacturer CA given (--tpm-ca): the EK certificate is "
                           "unverified", "EK certificate"))
        return out
    chain = verify_chain(ek_cert, bundle, ek_public=ek_public)
    if not chain.verified:
        out.append(failed("tpm.ek.chain", f"the EK certificate does not chain to the TPM CA: {chain.error}",
                          "EK certificate", chain=chain.to_json()))
    elif chain.key_matches_ek is False:
        out.append(failed("tpm.ek.chain", "the EK certificate is for another key than this TPM's EK",
                          "EK certificate", chain=chain.to_json()))
    else:
        note = "" if chain.key_matches_ek else " (EK public area not given: key not compared)"
        out.append(passed("tpm.ek.chain", f"the EK certificate chains to {chain.path[-1]}{note}", "EK certificate",
                          chain=chain.to_json()))
    if platform_cert is not None:
        pchain = verify_chain(platform_cert, bundle)
        if pchain.verified:
            out.append(passed("tpm.platform-cert", f"the platform certificate chains to {pchain.path[-1]}",
                              "platform certificate", chain=pchain.to_json()))
        else:
            out.append(failed("tpm.platform-cert", f"the platform certificate does not chain: {pchain.error}",
                              "platform certificate", chain=pchain.to_json()))
    return out


# -- event log -----------------------------------------------------------------------------------------------------


def _mismatch_message(comparison: Comparison) -> str:
    first = comparison.mismatches[0]
    where = first.event.label() if first.event else "no event"
    more = f" (and {len(comparison.mismatches) - 1} more)" if len(comparison.mismatches) > 1 else ""
    return f"PCR {first.pcr} ({first.bank}) does not replay from the log{more}: {where}: {first.reason}"


def event_log_findings(
    log: EventLog, pcrs: PcrBanks | None, source: str, *, replay_required: bool = True
) -> list[Finding]:
    out: list[Finding] = []
    altered = [e for e in log.events if e.data_matches_digest() is False]
    if altered:
        out.append(failed("tpm.eventlog.event-data", f"{altered[0].label()}: its data does not hash to its logged "
                          f"digest ({len(altered)} such event(s))", "event log",
                          events=[e.number for e in altered]))
    else:
        checked = sum(1 for e in log.events if e.data_matches_digest())
        out.append(passed("tpm.eventlog.event-data", f"{checked} data-bound events hash to their digests",
                          "event log", checked=checked))
    if not pcrs:
        out.append(skipped("tpm.eventlog.replay", "no PCR values to compare the replayed log with", "event log",
                           required=replay_required))
    else:
        comparison = compare(log, pcrs)
        facts = {"source": source, "matched": len(comparison.matched),
                 "mismatches": [m.to_json() for m in comparison.mismatches],
                 "banks_not_in_log": list(comparison.not_in_log),
                 "os_pcrs_not_in_log": [f"{b}:{i}" for b, i in comparison.uncovered]}
        if comparison.mismatches:
            out.append(failed("tpm.eventlog.replay", _mismatch_message(comparison), "event log", **facts))
        elif not comparison.matched:
            out.append(Finding("tpm.eventlog.replay", Status.SKIP, "the log and the PCRs share no bank", "event log",
                               facts))
        else:
            out.append(passed("tpm.eventlog.replay", f"the log replays to all {len(comparison.matched)} {source} PCR "
                              "values it covers", "event log", **facts))
    return out


def _separator_findings(facts: BootFacts) -> list[Finding]:
    missing = [i for i in FIRMWARE_PCRS if i not in facts.separators]
    errors = [e for events in facts.separators.values() for e in events if e.decoded.get("error")]
    if errors:
        return [failed("tpm.boot.separator", f"{errors[0].label()} is an error separator: the firmware reported a "
                       "failure before handing over", "event log")]
    if missing:
        return [failed("tpm.boot.separator", f"no EV_SEPARATOR for PCR(s) {', '.join(map(str, missing))}: the log "
                       "stops before the firmware handed over, or was cut", "event log", missing=missing)]
    return [passed("tpm.boot.separator", "every firmware PCR 0-7 has its separator", "event log")]


def declared_findings(
    log: EventLog,
    reference: BootReference,
    authenticode: set[str],
    *,
    require_secure_boot: bool = False,
) -> list[Finding]:
    facts = boot_facts(log)
    out: list[Finding] = _separator_findings(facts)
    allowed = set(reference.allowed_event_digests.get("sha256", frozenset()))
    declared_images = {d.lower() for d in authenticode} | allowed
    if not facts.images:
        out.append(skipped("tpm.boot.application", "the log has no boot application or driver events", "event log",
                           required=False))
    elif not declared_images:
        out.append(skipped("tpm.boot.application", "no Authenticode hashes declared (release firmware manifests or "
                           "boot_measurements.allowed_event_digests): boot images not checked", "event log"))
    else:
        unknown = [i for i in facts.images if i.sha256 not in declared_images]
        for image in unknown:
            where = image.device_path or "(loaded from memory, no device path)"
            digest = (image.sha256 or "no sha256 digest")[:16]
            out.append(failed("tpm.boot.application", f"boot {image.kind} {where} (event #{image.event.number}, "
                              f"Authenticode {digest}...) is not an image the release declares", where,
                              authenticode_sha256=image.sha256, event=image.event.number))
        if not unknown:
            out.append(passed("tpm.boot.application", f"all {len(facts.images)} boot applications and drivers are "
                              "declared images", "event log", images=[i.sha256 for i in facts.images]))
    # Secure Boot
    want = True if require_secure_boot else reference.secure_boot
    state = facts.secure_boot
    label = "on" if state else "off" if state is False else "not logged"
    if want is None:
        out.append(skipped("tpm.boot.secure-boot", f"Secure Boot is {label}; the manifest declares no state",
                           "SecureBoot", required=False, secure_boot=state))
    elif state is None:
        out.append(failed("tpm.boot.secure-boot", "the log has no SecureBoot variable event, so its state is unknown",
                          "SecureBoot"))
    elif state == want:
        out.append(passed("tpm.boot.secure-boot", f"Secure Boot is {label}, as declared", "SecureBoot",
                          event=facts.secure_boot_event.number if facts.secure_boot_event else None))
    else:
        out.append(failed("tpm.boot.secure-boot", f"Secure Boot is {label} but {'on' if want else 'off'} is required",
                          "SecureBoot", event=facts.secure_boot_event.number if facts.secure_boot_event else None))
    for name in SECURE_BOOT_VARIABLES:
        declared = reference.secure_boot_variables.get(name)
        seen = facts.variables.get(name)
        if declared is None:
            continue
        if seen is None:
            out.append(failed("tpm.boot.secure-boot-variable", f"{name} is declared but not in the log", name))
        elif seen == declared:
            out.append(passed("tpm.boot.secure-boot-variable", f"{name} is the declared key database", name,
                              sha256=seen))
        else:
            out.append(failed("tpm.boot.secure-boot-variable", f"{name} differs from the declared key database",
                              name, logged=seen, declared=declared))
    if facts.firmware_blobs:
        if not allowed:
            out.append(skipped("tpm.boot.firmware-blob", "no firmware blob digests declared", "firmware",
                               required=False))
        else:
            bad = [e for e in facts.firmware_blobs if e.digests.get("sha256", b"").hex() not in allowed]
            if bad:
                out.append(failed("tpm.boot.firmware-blob", f"{bad[0].label()} measured firmware that is not declared",
                                  "firmware", events=[e.number for e in bad]))
            else:
                out.append(passed("tpm.boot.firmware-blob", f"all {len(facts.firmware_blobs)} firmware blobs are "
                                  "declared", "firmware"))
    if reference.kernel_cmdline is not None:
        lines = [line for _, line in facts.kernel_cmdlines]
        if any(_same_cmdline(line, reference.kernel_cmdline) for line in lines):
            out.append(passed("tpm.boot.kernel-cmdline", "the measured kernel command line is the declared one",
                              "kernel", cmdline=lines))
        elif not lines:
            out.append(failed("tpm.boot.kernel-cmdline", "a kernel command line is declared but none was measured",
                              "kernel"))
        else:
            out.append(failed("tpm.boot.kernel-cmdline", f"the measured kernel command line {lines[-1]!r} is not the "
                              "declared one", "kernel", measured=lines, declared=reference.kernel_cmdline))
    return out


def _same_cmdline(measured: str, declared: str) -> bool:
    """GRUB logs the kernel path first ("/vmlinuz console=..."); the declaration may leave it out."""
    norm = " ".join(measured.split())
    want = " ".join(declared.split())
    if norm == want:
        return True
    head, _, tail = norm.partition(" ")
    return head.startswith(("/", "BOOT_IMAGE=")) and tail == want


def reference_pcr_findings(reference: BootReference, pcrs: PcrBanks | None, source: str) -> list[Finding]:
    if not reference.pcrs:
        return []
    if not pcrs:
        return [skipped("tpm.boot.pcrs", "PCR values are declared but the device gave none", "PCRs")]
    out: list[Finding] = []
    for bank, values in reference.pcrs.items():
        for index, want in sorted(values.items()):
            got = pcrs.get(bank, {}).get(index)
            subject = f"PCR {bank}:{index}"
            if got is None:
                out.append(skipped("tpm.boot.pcrs", f"{subject} is declared but was not {source}", subject))
            elif got == want:
                out.append(passed("tpm.boot.pcrs", f"{subject} is the declared value", subject, value=got.hex()))
            else:
                out.append(failed("tpm.boot.pcrs", f"{subject} differs from the declared value", subject,
                                  value=got.hex(), declared=want.hex()))
    return out


# -- the whole check -----------------------------------------------------------------------------------------------


def check_measured_boot(
    inputs: TpmInputs | None,
    *,
    declared_authenticode: set[str],
    boot: BootReference | None,
    nonce: bytes | None,
    require_quote: bool = False,
    require_secure_boot: bool = False,
    ak_binding: str = "none",
    pinned_ak_keyids: Sequence[str] = (),
    ek_public: TpmPublic | None = None,
    ek_cert: Certificate | None = None,
    tpm_ca: Sequence[Certificate] = (),
    platform_cert: Certificate | None = None,
    ak: bytes | None = None,
    activation: Callable[[TpmPublic], ActivationCheck] | None = None,
) -> list[Finding]:
    """Judge the decoded TPM evidence: quote, AK binding, log replay and the declared boot (``boot``; None
    when no device manifest is given)."""
    if inputs is None:
        return [skipped("tpm.evidence", "the device gave no TPM evidence", "TPM",
                        required=require_quote or require_secure_boot)]
    if ak is not None:  # an AK the operator holds (PEM or TPM2B_PUBLIC) overrides the one the device printed
        inputs = TpmInputs(inputs.reported_pcrs, inputs.event_log, inputs.quote, ak, inputs.strength)
    reference = boot or BootReference()
    out: list[Finding] = []
    verification: QuoteVerification | None = None
    ak_public: TpmPublic | None = None
    if inputs.quote is None:
        out.append(skipped("tpm.quote", "the device gave no quote: its PCRs are not signed", "TPM",
                           required=require_quote))
    elif inputs.ak is None:
        out.append(errored("tpm.quote", "the device gave a quote but no attestation key", "TPM"))
    else:
        try:
            key = load_attestation_key(inputs.ak)
            ak_public = key.public_area
            verification = verify_quote(*inputs.quote, key, nonce=nonce, ek_public=ek_public)
        except HardwareError as exc:
            out.append(errored("tpm.quote", f"the quote from the device is malformed: {exc}", "TPM"))
        else:
            out.extend(quote_findings(verification, nonce_expected=True))
    chain = ek_chain_findings(ek_cert, tpm_ca, ek_public=ek_public, platform_cert=platform_cert)
    out.extend(chain)
    ek_finding = next((f for f in chain if f.check == "tpm.ek.chain"), None)
    activated = activation(ak_public) if activation is not None and ak_public is not None else None
    out.extend(ak_binding_findings(ak_binding, verification, ak_public=ak_public, pinned_keyids=pinned_ak_keyids,
                                   ek_chain=ek_finding, activation=activated))
    quote_ok = verification is not None and verification.signature_valid and verification.pcr_digest_matches
    pcrs: PcrBanks | None
    if quote_ok and verification is not None:
        pcrs, source = verification.pcrs, "quoted"
    else:
        pcrs, source = (inputs.reported_pcrs or None), "reported"
        if verification is not None and inputs.reported_pcrs:
            source = "reported (the quote did not verify)"
    if verification is not None and quote_ok and inputs.reported_pcrs:
        differing = [f"{b}:{i}" for b, vals in verification.pcrs.items() for i, v in vals.items()
                     if inputs.reported_pcrs.get(b, {}).get(i, v) != v]
        if differing:
            out.append(warned("tpm.quote.pcrs-reported", f"PCR(s) {', '.join(differing)} read from sysfs differ from "
                              "the quoted values; the quoted ones are used", "PCRs", differing=differing))
    out.extend(reference_pcr_findings(reference, pcrs, source))
    if inputs.event_log is None:
        needed = bool(declared_authenticode or reference.declared or require_secure_boot)
        out.append(skipped("tpm.eventlog", "the device gave no event log: boot images cannot be checked",
                           "event log", required=needed))
        return out
    try:
        log = parse_event_log(inputs.event_log)
    except HardwareError as exc:
        out.append(errored("tpm.eventlog", f"the event log from the device is malformed: {exc}", "event log"))
        return out
    out.extend(event_log_findings(log, pcrs, source))
    out.extend(declared_findings(log, reference, declared_authenticode, require_secure_boot=require_secure_boot))
    return out


# -- reference state -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootBaseline:
    """The boot measurements of a known-good boot in one bank: what ``measure baseline`` records."""

    bank: str
    pcrs: Mapping[int, bytes]
    allowed_event_digests: tuple[str, ...]
    secure_boot: bool | None
    secure_boot_variables: Mapping[str, str]
    kernel_cmdline: str | None

    def to_json(self) -> dict[str, JsonValue]:
        """A ``boot_measurements`` fragment, for the operator to review and the vendor to sign."""
        out: dict[str, JsonValue] = {
            "pcrs": {self.bank: {str(i): v.hex() for i, v in sorted(self.pcrs.items())}},
            "allowed_event_digests": {self.bank: list(self.allowed_event_digests)},
        }
        if self.secure_boot is not None:
            out["secure_boot"] = self.secure_boot
        if self.secure_boot_variables:
            out["secure_boot_variables"] = dict(sorted(self.secure_boot_variables.items()))
        if self.kernel_cmdline is not None:
            out["kernel_cmdline"] = self.kernel_cmdline
        return {"boot_measurements": out}


def baseline(log: EventLog, pcrs: PcrBanks | None, *, bank: str = "sha256") -> BootBaseline:
    """The boot measurements of a known-good boot, replayed from its log (and the device's PCRs when given)."""
    facts = boot_facts(log)
    replayed = replay(log).pcrs.get(bank, {})
    values = {i: v for i, v in replayed.items() if i in FIRMWARE_PCRS or (pcrs and i in pcrs.get(bank, {}))}
    if pcrs and bank in pcrs:
        values = {i: pcrs[bank][i] for i in values if i in pcrs[bank]}
    digests = sorted({i.sha256 for i in facts.images if i.sha256}
                     | {e.digests[bank].hex() for e in facts.firmware_blobs if bank in e.digests})
    cmdline = None
    if facts.kernel_cmdlines:
        line = facts.kernel_cmdlines[-1][1]
        head, _, tail = line.partition(" ")
        cmdline = tail if head.startswith(("/", "BOOT_IMAGE=")) else line
    return BootBaseline(bank, values, tuple(digests), facts.secure_boot, dict(facts.variables), cmdline)
