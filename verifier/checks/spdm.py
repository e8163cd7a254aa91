"""SPDM evidence judged: ``spdm.signature``, ``spdm.chain``, ``spdm.version``, ``spdm.algorithm``,
``spdm.measurement-mismatch`` and ``spdm.measurement-missing``.

Nothing the evidence file says about itself is taken: the recorded messages are replayed (``hw.spdm.exchange``),
the signatures verified again with the leaf of the chain the responder served, that chain walked to the trust
anchor given here (by key), and the nonces compared with the session's. Measurement blocks are ``signed`` only when
all of that holds; otherwise they are the responder's word.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hw.errors import DeviceProtocolError
from hw.evidence import DeviceEvidence
from hw.spdm import messages as msg
from hw.spdm.exchange import Exchange, pairs_of, replay
from hw.spdm.requester import challenge_nonce
from hw.spdm.verify import chain_problem
from verifier.model import Finding, errored, failed, passed, skipped

ASYM_NAMES = frozenset(name for name, _ in msg.ASYM_ALGORITHMS.values())
HASH_NAMES = frozenset(name for name, _ in msg.HASH_ALGORITHMS.values())
SUBJECT = "spdm"


@dataclass(frozen=True)
class SpdmRules:
    """What a policy asks of an SPDM responder: a lowest version and the algorithms it accepts."""

    min_version: int = 0x11
    allowed_asym: frozenset[str] = ASYM_NAMES
    allowed_hash: frozenset[str] = HASH_NAMES


VERSIONS = {"1.1": 0x11, "1.2": 0x12, "1.3": 0x13}


def spdm_rules(min_version: str | None, allowed: Sequence[str]) -> SpdmRules:
    """Rules from a version name and algorithm names (the policy's [spdm], or ``device read`` options): an
    empty list allows every algorithm provcheck speaks; ``ValueError`` names an unknown one."""
    unknown = sorted(set(allowed) - ASYM_NAMES - HASH_NAMES)
    if unknown:
        known = ", ".join(sorted(ASYM_NAMES | HASH_NAMES))
        raise ValueError(f"{unknown[0]!r} is not an algorithm provcheck speaks ({known})")
    if min_version is not None and min_version not in VERSIONS:
        raise ValueError(f"SPDM version {min_version!r} is not one of {', '.join(VERSIONS)}")
    asym = frozenset(name for name in allowed if name in ASYM_NAMES)
    hashes = frozenset(name for name in allowed if name in HASH_NAMES)
    return SpdmRules(VERSIONS[min_version or "1.1"], asym or ASYM_NAMES, hashes or HASH_NAMES)


@dataclass(frozen=True)
class SpdmBlock:
    index: int
    type_name: str
    form: str
    value: str  # hex
    strength: str


@dataclass(frozen=True)
class SpdmVerdict:
    """The replayed exchange and what it proves; ``blocks`` carry the derived strength."""

    exchange: Exchange | None
    problem: str = ""
    signature_ok: bool = False
    chain_ok: bool = False
    findings: tuple[Finding, ...] = ()
    blocks: tuple[SpdmBlock, ...] = field(default_factory=tuple)


def replay_evidence(evidence: DeviceEvidence) -> tuple[Exchange | None, str]:
    """The evidence's SPDM exchange replayed, or why it cannot be."""
    if evidence.spdm is None:
        return None, "the evidence carries no SPDM exchange"
    try:
        messages = [base64.b64decode(text, validate=True) for text in evidence.spdm.messages_b64]
    except (binascii.Error, ValueError):
        return None, "the recorded SPDM messages are not base64"
    try:
        return replay(pairs_of(messages)), ""
    except DeviceProtocolError as exc:
        return None, f"the recorded SPDM exchange does not decode: {exc}"


def _signature(exchange: Exchange, nonce: bytes | None) -> Finding:
    c, m = exchange.challenge, exchange.measurements
    if c is None or m is None or not m.signed:
        return failed("spdm.signature", "the exchange holds no CHALLENGE_AUTH or no signed MEASUREMENTS", SUBJECT)
    if not c.signature_verified:
        return failed("spdm.signature", "the CHALLENGE_AUTH signature does not verify over the M1/M2 transcript "
                      "with the leaf key of the slot's chain", SUBJECT)
    if not m.signature_verified:
        return failed("spdm.signature", "the MEASUREMENTS signature does not verify over the L1/L2 transcript with "
                      "the leaf key of the slot's chain: a changed byte, another key, or an answer replayed from an "
                      "earlier request (another nonce)", SUBJECT)
    if nonce is None:
        return failed("spdm.signature", "the evidence records no nonce to check the signed requests against", SUBJECT)
    if m.requester_nonce != nonce or c.requester_nonce != challenge_nonce(nonce):
        return failed("spdm.signature", "the signed requests carry another nonce than this session's: a replay",
                      SUBJECT, signed=m.requester_nonce.hex(), expected=nonce.hex())
    return passed("spdm.signature", "CHALLENGE_AUTH and MEASUREMENTS signatures verify over this session's "
                  "transcript and nonce", SUBJECT, version=msg.version_text(exchange.version))


def _chain(exchange: Exchange, slot: int, anchors: Sequence[bytes], now: datetime.datetime | None) -> Finding:
    if not anchors:
        return skipped("spdm.chain", "no trust anchor was given (--trust-anchor, or the manifest's identity CA)",
                       SUBJECT)
    try:
        chain = exchange.chain(slot)
    except DeviceProtocolError as exc:
        return failed("spdm.chain", f"the slot {slot} certificate chain is malformed: {exc}", SUBJECT)
    if chain is None:
        return failed("spdm.chain", f"the certificate chain of slot {slot} was not read whole", SUBJECT)
    if not exchange.digest_matches(slot):
        return failed("spdm.chain", "GET_DIGESTS named another chain than the one GET_CERTIFICATE returned", SUBJECT)
    if exchange.challenge is not None and exchange.challenge.chain_hash_matches is False:
        return failed("spdm.chain", "CHALLENGE_AUTH names another chain than the one read", SUBJECT)
    assert exchange.algorithms is not None
    try:
        problem = chain_problem(chain, list(anchors), exchange.algorithms.hash_name, now=now)
    except DeviceProtocolError as exc:
        problem = str(exc)
    if problem is not None:
        return failed("spdm.chain", f"slot {slot}'s certificate chain: {problem}", SUBJECT)
    return passed("spdm.chain", f"slot {slot}'s certificate chain reaches the trust anchor and is the one GET_DIGESTS "
                  "named", SUBJECT, certificates=len(chain.certs))


def _version(exchange: Exchange, rules: SpdmRules) -> Finding:
    found = msg.version_text(exchange.version)
    if exchange.version < rules.min_version:
        return failed("spdm.version", f"SPDM {found} was negotiated; the policy requires at least "
                      f"{msg.version_text(rules.min_version)}", SUBJECT, found=found)
    return passed("spdm.version", f"SPDM {found} was negotiated", SUBJECT, found=found)


def _algorithm(exchange: Exchange, rules: SpdmRules) -> Finding:
    a = exchange.algorithms
    assert a is not None
    chosen = {"asym": a.asym_name, "hash": a.hash_name, "measurement_hash": a.measurement_hash_name}
    refused = [a.asym_name] if a.asym_name not in rules.allowed_asym else []
    refused += [name for name in {a.hash_name, a.measurement_hash_name} - {"raw"} if name not in rules.allowed_hash]
    if refused:
        return failed("spdm.algorithm", f"the responder selected {', '.join(sorted(refused))}, which the policy "
                      "does not allow", SUBJECT, **chosen)
    return passed("spdm.algorithm", f"{a.asym_name} with {a.hash_name} (measurements {a.measurement_hash_name})",
                  SUBJECT, **chosen)


def _measurements(blocks: Sequence[SpdmBlock], declared: Mapping[int, str], signed: bool) -> list[Finding]:
    if not declared:
        return []
    if not signed:
        reason = "the measurements are not proven (see spdm.signature and spdm.chain)"
        return [skipped("spdm.measurement-missing", reason, SUBJECT),
                skipped("spdm.measurement-mismatch", reason, SUBJECT)]
    found = {block.index: block.value for block in blocks}
    missing = sorted(index for index in declared if index not in found)
    wrong = sorted(index for index, value in declared.items() if index in found and found[index] != value.lower())
    out = []
    if missing:
        out.append(failed("spdm.measurement-missing", f"declared measurement indices {missing} were not reported",
                          SUBJECT, missing=missing))
    else:
        out.append(passed("spdm.measurement-missing", f"all {len(declared)} declared indices were reported", SUBJECT))
    if wrong:
        out.append(failed("spdm.measurement-mismatch", f"measurement indices {wrong} differ from the declared values",
                          SUBJECT, indices=wrong, found={i: found[i] for i in wrong},
                          declared={i: declared[i] for i in wrong}))
    else:
        present = len(declared) - len(missing)
        out.append(passed("spdm.measurement-mismatch", f"{present} declared measurement values match", SUBJECT))
    return out


def judge_spdm(
    evidence: DeviceEvidence,
    anchors: Sequence[bytes],
    *,
    nonce: bytes | None,
    rules: SpdmRules | None = None,
    declared: Mapping[int, str] | None = None,
    now: datetime.datetime | None = None,
) -> SpdmVerdict:
    """Replay and judge the evidence's SPDM exchange; ``anchors`` are DER certificates."""
    rules = rules or SpdmRules()
    exchange, problem = replay_evidence(evidence)
    if exchange is None:
        finding = failed("spdm.signature", problem, SUBJECT)
        if evidence.spdm is None:
            finding = errored("spdm.signature", problem, SUBJECT)
        return SpdmVerdict(None, problem, findings=(finding,))
    if exchange.algorithms is None or exchange.measurements is None:
        finding = failed("spdm.signature", "the recorded exchange stops before signed MEASUREMENTS", SUBJECT)
        return SpdmVerdict(exchange, "incomplete", findings=(finding,))
    slot = evidence.spdm.slot if evidence.spdm is not None else 0
    signature = _signature(exchange, nonce)
    chain = _chain(exchange, slot, anchors, now)
    findings = [_version(exchange, rules), _algorithm(exchange, rules), chain, signature]
    signed = signature.status.value == "pass" and chain.status.value == "pass"
    strength = "signed" if signed else "reported"
    blocks = tuple(
        SpdmBlock(b.index, b.type_name, b.form, b.value.hex(), strength) for b in exchange.measurements.blocks
    )
    findings += _measurements(blocks, declared or {}, signed)
    return SpdmVerdict(exchange, "", signature.status.value == "pass", chain.status.value == "pass",
                       tuple(findings), blocks)


def anchors_from_pem(texts: Sequence[str]) -> list[bytes]:
    """DER of every certificate in PEM ``texts``; ``ValueError`` naming the problem when one is not a certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    out = []
    for text in texts:
        for cert in x509.load_pem_x509_certificates(text.encode()):
            out.append(cert.public_bytes(serialization.Encoding.DER))
    return out
