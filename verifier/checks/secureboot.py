"""Judging a platform's Secure Boot keys: who holds them, whether they are enforced, current, strong and revoked.

Facts come from ``verifier.firmware.secureboot`` (one ``SecureBootState`` per store, efivarfs set, event log, signed
update or certificate); the known test keys and the dbx reference are data passed in (``SecureBootRules``); the
evaluation time is a parameter, so a report can be reproduced. A database missing from a lone list, update or
certificate says nothing about the platform, so the checks about what a platform lacks (not-enforcing,
ca-2023-missing, dbx-outdated) judge only complete inputs (a store, an efivarfs set, an event log).

Microsoft CAs and test keys are recognised by the SHA-256 of the certificate, never by the name it gives itself: a
certificate named "Microsoft UEFI CA 2023" that is not that CA does not stand in for it. The markers "DO NOT TRUST"
and "DO NOT SHIP" are the exception: a certificate that says it is a test key is believed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from verifier.firmware.secureboot.certificates import CertificateFacts, iso
from verifier.firmware.secureboot.databases import SecureBootState
from verifier.firmware.secureboot.reference import (
    ALWAYS_TEST_MARKERS,
    MICROSOFT_CAS,
    DbxImage,
    DbxReference,
    TestKeyList,
)
from verifier.firmware.secureboot.siglist import SignatureEntry
from verifier.model import Finding, Status, failed, passed, skipped, warned

#: Where an RSA key, an elliptic curve, or a signature hash is too weak for a key that signs boot code.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
WEAK_HASHES = frozenset({"sha1", "md5"})
WEAK_HASH_ENTRIES = frozenset({"SHA1", "RSA2048_SHA1"})
#: Words of the reference's descriptions that mark the BlackLotus boot managers (CVE-2023-24932).
BLACKLOTUS_MARKERS = ("black lotus", "blacklotus", "cve-2023-24932")
#: Key databases whose certificates sign or authorise (dbx revokes: its entries are judged as revocations).
AUTHORISING = ("PK", "KEK", "db", "dbt", "dbr")


@dataclass(frozen=True)
class SecureBootRules:
    """What the judges compare with: the time, the known test keys, the dbx reference and the policy's values."""

    at: datetime
    test_keys: TestKeyList
    dbx_reference: DbxReference | None = None
    expiring_days: int = 180
    arch: str = "x64"
    expected_pk: str | None = None  # SHA-256 of the PK certificate
    expected_kek: tuple[str, ...] | None = None  # SHA-256 of each KEK certificate
    require_2023_ca: bool = True
    forbid_test_keys: bool = True
    use_reference_certificates: bool = True
    #: PCR 7 as the TPM quoted it (bank -> value), to compare with an event log's replay
    quoted_pcr7: Mapping[str, bytes] | None = None


@dataclass(frozen=True)
class _Cert:
    where: str  # PK, KEK, db, ..., "certificate", "signer of the update"
    cert: CertificateFacts
    owner: str = ""


@dataclass(frozen=True)
class _Match:
    how: str  # "fingerprint" | "subject"
    detail: str
    key_class: str = ""
    sources: str = ""


def short_name(subject: str) -> str:
    """The CN of an RFC 4514 subject (the whole subject when it has none), for messages."""
    for part in subject.split(","):
        if part.startswith("CN="):
            return part[3:]
    return subject or "(empty subject)"


def _label(c: _Cert) -> str:
    return f"{c.where} {short_name(c.cert.subject)!r}"


def _entry_certs(state: SecureBootState, names: Iterable[str]) -> list[_Cert]:
    out: list[_Cert] = []
    for name in names:
        database = state.databases.get(name)
        if database is None:
            continue
        out.extend(_Cert(name, e.certificate, e.owner) for e in database.entries if e.certificate is not None)
    return out


def _loose_certs(state: SecureBootState) -> list[_Cert]:
    """Certificates not in a key database: a lone certificate file, or the certificates a PKCS#7 carries."""
    if state.kind == "x509":
        return [_Cert("certificate", c) for c in state.certificates]
    if state.kind == "pkcs7":
        return [_Cert("PKCS#7 certificate", c) for c in state.certificates]
    return []


def _judged_certs(state: SecureBootState) -> list[_Cert]:
    names = [*AUTHORISING, "list"] + (["update"] if state.kind == "auth2" else [])
    return _entry_certs(state, names) + _loose_certs(state)


def _signer_certs(state: SecureBootState) -> list[_Cert]:
    if state.update is None:
        return []
    signers = {s.sha256 for s in state.update.signature.signers}
    return [_Cert("signer of the update", c) for c in state.certificates if c.sha256 in signers]


# --- secureboot.test-key ---------------------------------------------------------------------------------------------

def test_key_matches(cert: CertificateFacts, keys: TestKeyList) -> list[_Match]:
    """Why ``cert`` is a known test key: its fingerprint is listed, or its subject or issuer carries a marker."""
    out: list[_Match] = []
    for key in keys.entries:
        if (key.match == "sha256" and key.value == cert.sha256) or (key.match == "sha1" and key.value == cert.sha1):
            out.append(_Match("fingerprint", f"{key.match} {key.value}", key.key_class, key.sources))
    markers = {m.upper() for m in ALWAYS_TEST_MARKERS} | {
        k.value.upper() for k in keys.entries if k.match == "subject-contains"}
    names = f"{cert.subject}\n{cert.issuer}".upper()
    for marker in sorted(markers):
        if marker in names:
            out.append(_Match("subject", f"subject or issuer contains {marker!r}", "marker"))
    return out


def _test_key_findings(state: SecureBootState, rules: SecureBootRules) -> list[Finding]:
    out: list[Finding] = []
    subject = state.source
    checked = _judged_certs(state) + _signer_certs(state)
    for item in checked:
        matches = test_key_matches(item.cert, rules.test_keys)
        if not matches:
            continue
        hows = sorted({m.how for m in matches})
        evidence = {"database": item.where, "certificate": item.cert.subject, "sha256": item.cert.sha256,
                    "sha1": item.cert.sha1, "matched_by": hows,
                    "matches": [{"how": m.how, "detail": m.detail, "class": m.key_class, "sources": m.sources}
                                for m in matches]}
        by = " and ".join(f"by {h}" for h in hows)
        if item.where == "signer of the update":
            message = (f"the update is signed by a known test key ({by}): {short_name(item.cert.subject)!r}; whoever "
                       "holds that "
                       "key can write this variable")
        else:
            message = f"{_label(item)} is a known test or placeholder key ({by})"
        strong = item.where in ("PK", "KEK", "signer of the update", "certificate", "PKCS#7 certificate", "list",
                                "update")
        if rules.forbid_test_keys and strong:
            out.append(failed("secureboot.test-key", message, subject, **evidence))
        else:
            out.append(warned("secureboot.test-key", message, subject, **evidence))
    if not out:
        if not checked:
            return [skipped("secureboot.test-key", "no certificate to compare with the known test keys", subject,
                            required=False)]
        out.append(passed("secureboot.test-key", f"none of {len(checked)} certificate(s) is a known test key "
                          f"({len(rules.test_keys.entries)} listed, plus the DO NOT TRUST / DO NOT SHIP markers)",
                          subject, checked=len(checked)))
    return out


# --- secureboot.not-enforcing ----------------------------------------------------------------------------------------

def _mode(state: SecureBootState, name: str) -> int | None:
    value = state.modes.get(name)
    if value is None or len(value) == 0:
        return None
    return value[0]


def _not_enforcing_findings(state: SecureBootState) -> list[Finding]:
    subject = state.source
    if not state.complete:
        return []
    reasons: list[str] = []
    if "PK" not in state.databases:
        reasons.append("no PK is enrolled: the platform is in setup mode, anyone can enrol keys")
    if _mode(state, "SecureBoot") == 0:
        reasons.append("SecureBoot is 0")
    if _mode(state, "SecureBootEnable") == 0:
        reasons.append("SecureBootEnable is 0 (EDK2 switch off)")
    if _mode(state, "SetupMode") == 1:
        reasons.append("SetupMode is 1")
    if _mode(state, "AuditMode") == 1:
        reasons.append("AuditMode is 1: signatures are checked but not enforced")
    modes = {name: value.hex() for name, value in state.modes.items()}
    if reasons:
        return [failed("secureboot.not-enforcing", "Secure Boot is not enforced: " + "; ".join(reasons), subject,
                       reasons=reasons, modes=modes)]
    if "SecureBoot" in state.modes and _mode(state, "SecureBoot") is None:
        return [warned("secureboot.not-enforcing", "a PK is enrolled but the SecureBoot variable was recorded "
                       "empty: whether it was enforced is not shown", subject, modes=modes)]
    return [passed("secureboot.not-enforcing", "a PK is enrolled and no mode variable turns enforcement off",
                   subject, modes=modes)]


# --- secureboot.expired / secureboot.expiring ------------------------------------------------------------------------

def _expiry_findings(state: SecureBootState, rules: SecureBootRules) -> list[Finding]:
    subject = state.source
    certs = _judged_certs(state)
    if not certs:
        return []
    window = rules.at + timedelta(days=rules.expiring_days)
    out: list[Finding] = []
    for item in certs:
        evidence = {"database": item.where, "certificate": item.cert.subject, "sha256": item.cert.sha256,
                    "not_after": iso(item.cert.not_after), "evaluated_at": iso(rules.at)}
        if item.cert.not_after <= rules.at:
            days = (rules.at - item.cert.not_after).days
            out.append(failed("secureboot.expired", f"{_label(item)} expired on {iso(item.cert.not_after)} "
                              f"({days} days before {iso(rules.at)})", subject, **evidence))
        elif item.cert.not_after <= window:
            days = (item.cert.not_after - rules.at).days
            out.append(warned("secureboot.expiring", f"{_label(item)} expires on {iso(item.cert.not_after)}, in "
                              f"{days} days (window {rules.expiring_days} days)", subject, days_left=days,
                              **evidence))
    if not any(f.check == "secureboot.expired" for f in out):
        out.append(passed("secureboot.expired", f"no certificate of {len(certs)} has expired at {iso(rules.at)}",
                          subject, checked=len(certs)))
    if not any(f.check == "secureboot.expiring" for f in out):
        out.append(passed("secureboot.expiring", f"no certificate expires within {rules.expiring_days} days of "
                          f"{iso(rules.at)}", subject, checked=len(certs)))
    return out


# --- secureboot.ca-2023-missing --------------------------------------------------------------------------------------

def _ca_2023_findings(state: SecureBootState, rules: SecureBootRules) -> list[Finding]:
    subject = state.source
    if not state.complete:
        return []
    present = {(c.where, c.cert.sha256) for c in _entry_certs(state, ("KEK", "db"))}
    missing: list[dict[str, str]] = []
    olds: list[str] = []
    for ca in MICROSOFT_CAS.values():
        if not ca.successors or (ca.database, ca.sha256) not in present:
            continue
        olds.append(ca.name)
        for successor in ca.successors:
            if (ca.database, successor) not in present:
                missing.append({"database": ca.database, "missing": MICROSOFT_CAS[successor].name,
                                "sha256": successor, "replaces": ca.name})
    if not olds:
        return [passed("secureboot.ca-2023-missing", "no Microsoft 2011 CA is enrolled, so no 2023 successor is "
                       "needed", subject)]
    if not missing:
        return [passed("secureboot.ca-2023-missing", "every enrolled Microsoft 2011 CA has its 2023 successor: "
                       + ", ".join(olds), subject, enrolled_2011=olds)]
    names = sorted({m["missing"] for m in missing})
    message = (f"the Microsoft 2011 CAs ({', '.join(olds)}) are enrolled without their 2023 successors "
               f"({', '.join(names)}): boot components signed only by the 2023 CAs will not boot")
    maker = failed if rules.require_2023_ca else warned
    return [maker("secureboot.ca-2023-missing", message, subject, missing=missing, enrolled_2011=olds)]


# --- secureboot.weak-key ---------------------------------------------------------------------------------------------

def weaknesses(cert: CertificateFacts) -> list[str]:
    out: list[str] = []
    if cert.key_type == "RSA" and cert.key_bits < MIN_RSA_BITS:
        out.append(f"RSA-{cert.key_bits} key (below {MIN_RSA_BITS})")
    elif cert.key_type.startswith("EC-") and cert.key_bits < MIN_EC_BITS:
        out.append(f"{cert.key_type} key (below {MIN_EC_BITS} bits)")
    elif cert.key_type == "DSA" or cert.key_type.startswith("unknown"):
        out.append(f"{cert.key_type} key")
    if cert.sig_hash in WEAK_HASHES:
        out.append(f"signed with {cert.sig_hash.upper()}")
    return out


def _weak_key_findings(state: SecureBootState) -> list[Finding]:
    subject = state.source
    certs = _judged_certs(state) + _signer_certs(state)
    out: list[Finding] = []
    for item in certs:
        problems = weaknesses(item.cert)
        if problems:
            out.append(failed("secureboot.weak-key", f"{_label(item)}: {', '.join(problems)}", subject,
                              database=item.where, certificate=item.cert.subject, sha256=item.cert.sha256,
                              key=item.cert.key, sig_hash=item.cert.sig_hash, problems=problems))
    for name in ("db", "dbt", "dbr"):
        database = state.databases.get(name)
        weak = [e for e in database.entries if e.type in WEAK_HASH_ENTRIES] if database else []
        if weak:
            out.append(warned("secureboot.weak-key", f"{name} allows {len(weak)} image(s) by SHA-1 hash",
                              subject, database=name, count=len(weak), types=sorted({e.type for e in weak})))
    if not out and certs:
        out.append(passed("secureboot.weak-key", f"every one of {len(certs)} certificate(s) has an RSA-2048+ or "
                          "P-256+ key and a SHA-2 signature", subject, checked=len(certs)))
    return out


# --- secureboot.dbx-outdated -----------------------------------------------------------------------------------------

def _dbx_hashes(state: SecureBootState) -> set[str]:
    database = state.databases.get("dbx")
    return {e.digest_hex for e in database.entries if e.type == "SHA256"} if database else set()


def _is_blacklotus(image: DbxImage) -> bool:
    text = f"{image.description} {image.filename}".lower()
    return any(marker in text for marker in BLACKLOTUS_MARKERS)


def _dbx_outdated_findings(state: SecureBootState, rules: SecureBootRules) -> list[Finding]:
    subject = state.source
    reference = rules.dbx_reference
    if not state.complete or reference is None:
        return []
    if "db" not in state.databases:
        return [skipped("secureboot.dbx-outdated", "no db is enrolled: dbx has nothing to revoke", subject,
                        required=False, reference=reference.origin)]
    images = reference.for_arch(rules.arch)
    if not images:
        return [skipped("secureboot.dbx-outdated", f"the dbx reference lists no {rules.arch} hash", subject,
                        reference=reference.origin)]
    have = _dbx_hashes(state)
    missing = [i for i in images if i.sha256 not in have]
    dbx_certs = {c.cert.sha1 for c in _entry_certs(state, ("dbx",))}
    missing_certs = [c.subject or c.sha1 for c in reference.certificates if c.sha1 not in dbx_certs]
    missing_svns = [s.filename or s.sha256 for s in reference.svns if s.sha256 not in have]
    evidence = {"reference": reference.origin, "arch": rules.arch, "reference_hashes": len(images),
                "missing": len(missing), "missing_certificates": missing_certs, "missing_svns": missing_svns}
    if not missing:
        return [passed("secureboot.dbx-outdated", f"dbx holds all {len(images)} {rules.arch} hashes of the "
                       "reference", subject, **evidence)]
    dated = [i for i in missing if i.date]
    newest = max(dated, key=lambda i: i.date) if dated else missing[0]
    lotus = sum(1 for i in missing if _is_blacklotus(i))
    what = newest.description or newest.filename or newest.sha256
    when = f"added {newest.date}" if newest.date else "undated"
    message = (f"dbx lacks {len(missing)} of {len(images)} {rules.arch} reference hashes; the newest missing one was "
               f"{when} ({what})" + (f"; {lotus} of them are BlackLotus / CVE-2023-24932 boot managers"
                                     if lotus else ""))
    return [failed("secureboot.dbx-outdated", message, subject, newest_missing={
        "sha256": newest.sha256, "date": newest.date, "description": newest.description,
        "filename": newest.filename}, blacklotus_missing=lotus,
        missing_sha256=[i.sha256 for i in missing[:20]], **evidence)]


# --- secureboot.revoked-in-db ----------------------------------------------------------------------------------------

def _revocation(entry: SignatureEntry, state: SecureBootState, rules: SecureBootRules) -> str | None:
    dbx = state.databases.get("dbx")
    entries = dbx.entries if dbx is not None else ()
    hashes = {e.digest_hex for e in entries if e.type == "SHA256"}
    cert = entry.certificate
    if cert is None:
        return "its hash is in dbx" if entry.type == "SHA256" and entry.digest_hex in hashes else None
    if any(e.certificate is not None and e.certificate.sha256 == cert.sha256 for e in entries):
        return "dbx holds the same certificate"
    if any(e.type == "X509_SHA256" and e.digest_hex == cert.tbs_sha256 for e in entries):
        return "dbx holds the SHA-256 of its TBSCertificate"
    if cert.sha256 in hashes:
        return "dbx holds its SHA-256"
    reference = rules.dbx_reference
    if rules.use_reference_certificates and reference is not None:
        for revoked in reference.certificates:
            if revoked.sha1 == cert.sha1:
                return f"the dbx reference revokes it ({revoked.description or revoked.subject})"
    return None


def _revoked_findings(state: SecureBootState, rules: SecureBootRules) -> list[Finding]:
    subject = state.source
    database = state.databases.get("db")
    if database is None or not state.complete:
        return []
    out: list[Finding] = []
    for entry in database.entries:
        why = _revocation(entry, state, rules)
        if why is None:
            continue
        name = (repr(short_name(entry.certificate.subject)) if entry.certificate is not None
                else f"{entry.type} {entry.digest_hex}")
        out.append(failed("secureboot.revoked-in-db", f"db allows {name}, which is revoked: {why}", subject,
                          entry=entry.certificate.subject if entry.certificate is not None else entry.digest_hex,
                          reason=why,
                          sha256=entry.certificate.sha256 if entry.certificate is not None else entry.digest_hex))
    if not out:
        out.append(passed("secureboot.revoked-in-db", f"no entry of db ({len(database.entries)}) is revoked by dbx"
                          + (" or the reference's certificates" if rules.dbx_reference is not None else ""),
                          subject))
    return out


# --- secureboot.unexpected-owner -------------------------------------------------------------------------------------

def _owner_findings(state: SecureBootState, rules: SecureBootRules) -> list[Finding]:
    subject = state.source
    if rules.expected_pk is None and rules.expected_kek is None:
        return [skipped("secureboot.unexpected-owner", "no expected PK or KEK is declared (policy [secureboot] "
                        "expected_pk / expected_kek)", subject, required=False)] if state.complete else []
    if not state.complete:
        return []
    out: list[Finding] = []
    if rules.expected_pk is not None:
        pks = [c.cert for c in _entry_certs(state, ("PK",))]
        found = [c.sha256 for c in pks]
        if found != [rules.expected_pk.lower()]:
            names = ", ".join(repr(short_name(c.subject)) for c in pks) or "no PK"
            out.append(failed("secureboot.unexpected-owner", f"the PK is not the expected one: {names}", subject,
                              database="PK", expected=[rules.expected_pk.lower()], found=found))
    if rules.expected_kek is not None:
        expected = {k.lower() for k in rules.expected_kek}
        keks = [c.cert for c in _entry_certs(state, ("KEK",))]
        others = [c for c in keks if c.sha256 not in expected]
        absent = sorted(expected - {c.sha256 for c in keks})
        if others:
            out.append(failed("secureboot.unexpected-owner", "KEK holds keys the policy does not expect: "
                              + ", ".join(repr(short_name(c.subject)) for c in others), subject, database="KEK",
                              unexpected=[c.sha256 for c in others], expected=sorted(expected)))
        if absent:
            out.append(warned("secureboot.unexpected-owner", f"KEK lacks {len(absent)} expected key(s)", subject,
                              database="KEK", absent=absent))
    if not out:
        out.append(passed("secureboot.unexpected-owner", "PK and KEK hold exactly the expected keys", subject))
    return out


# --- secureboot.update-signature -------------------------------------------------------------------------------------

def _update_findings(state: SecureBootState) -> list[Finding]:
    update = state.update
    if update is None:
        return []
    check = update.signature
    signers = [short_name(s.subject) for s in check.signers]
    if check.valid:
        return [passed("secureboot.update-signature", f"the signed update of {check.variable} verifies (attributes "
                       f"{check.attributes:#x}, signed by {', '.join(signers)}); whether firmware accepts it depends "
                       "on the PK/KEK enrolled", state.source, variable=check.variable,
                       attributes=f"{check.attributes:#x}" if check.attributes is not None else None,
                       signers=signers, timestamp=update.timestamp)]
    problems = sorted({s.problem for s in check.signers if s.problem})
    detail = check.note or "; ".join(problems) or "no signer verifies"
    return [failed("secureboot.update-signature", "the signed update's PKCS#7 does not verify for any key database "
                   f"as firmware checks it: {detail}", state.source, signers=signers, problems=problems,
                   tried_attributes=[f"{a:#x}" for a in check.tried_attributes])]


# --- secureboot.pcr7-mismatch ---------------------------------------------------------------------------------------

def _pcr7_findings(state: SecureBootState, rules: SecureBootRules) -> list[Finding]:
    """An event log's Secure Boot variables must be what was measured: each EV_EFI_VARIABLE_DRIVER_CONFIG event's
    digest is the hash of its data, and the log's PCR 7 replays to the quoted one. (EV_EFI_VARIABLE_AUTHORITY events
    may log other bytes than shim measured; they count through their digests, in the replay.)"""
    if state.kind != "tcg-eventlog":
        return []
    subject = state.source
    out: list[Finding] = []
    for event in state.events:
        wrong = sorted(bank for bank, ok in event.digest_matches.items() if not ok)
        if event.event == "EV_EFI_VARIABLE_DRIVER_CONFIG" and wrong:
            out.append(failed("secureboot.pcr7-mismatch", f"event #{event.number} logs {event.name!r}, but its "
                              f"{', '.join(wrong)} digest is not the hash of that data: the variable shown is not "
                              "the one measured into PCR 7", subject, event=event.number, variable=event.name,
                              banks=wrong))
    replayed = {bank: value.hex() for bank, value in state.pcr7.items()}
    if rules.quoted_pcr7 is not None:
        common = sorted(set(state.pcr7) & set(rules.quoted_pcr7))
        if not common:
            out.append(failed("secureboot.pcr7-mismatch", "the quoted PCR 7 is in no bank the log replays", subject,
                              replayed=replayed, quoted=sorted(rules.quoted_pcr7)))
        for bank in common:
            mine, quoted = state.pcr7[bank].hex(), rules.quoted_pcr7[bank].hex()
            if mine != quoted:
                out.append(failed("secureboot.pcr7-mismatch", f"the log's PCR 7 ({bank}) replays to {mine[:16]}..., "
                                  f"not the quoted {quoted[:16]}...: the logged Secure Boot variables are not the "
                                  "ones measured", subject, bank=bank, replayed=mine, quoted=quoted))
    if not out:
        compared = " and replays to the quoted PCR 7" if rules.quoted_pcr7 is not None else (
            " (no quoted PCR 7 given: --pcrs)")
        out.append(passed("secureboot.pcr7-mismatch", "every logged Secure Boot variable hashes to its digest"
                          + compared, subject, replayed=replayed))
    return out


def measured_against_reported(measured: SecureBootState, reported: SecureBootState) -> list[Finding]:
    """A device's reported variables (efivarfs, a store) against those its event log measured into PCR 7."""
    subject = f"{reported.source} vs {measured.source}"
    differ: list[str] = []
    for name in ("PK", "KEK", "db", "dbx"):
        logged = measured.databases.get(name)
        shown = reported.databases.get(name)
        if (logged.raw if logged else b"") != (shown.raw if shown else b""):
            differ.append(name)
    for name in ("SecureBoot",):
        if name in measured.modes and name in reported.modes and measured.modes[name] != reported.modes[name]:
            differ.append(name)
    if differ:
        return [failed("secureboot.pcr7-mismatch", f"the reported {', '.join(differ)} differ from what the event "
                       "log measured into PCR 7 at boot", subject, variables=differ)]
    return [passed("secureboot.pcr7-mismatch", "the reported PK, KEK, db and dbx are the ones measured at boot",
                   subject)]


def check_secureboot(state: SecureBootState, rules: SecureBootRules) -> list[Finding]:
    """Every Secure Boot finding about one input."""
    findings: list[Finding] = []
    findings += _not_enforcing_findings(state)
    findings += _test_key_findings(state, rules)
    findings += _expiry_findings(state, rules)
    findings += _ca_2023_findings(state, rules)
    findings += _weak_key_findings(state)
    findings += _dbx_outdated_findings(state, rules)
    findings += _revoked_findings(state, rules)
    findings += _owner_findings(state, rules)
    findings += _update_findings(state)
    findings += _pcr7_findings(state, rules)
    return findings


def carries_test_key(findings: Iterable[Finding]) -> bool:
    """Whether a PK or KEK (or an update's signer) is a known test key: what ``release sign`` refuses."""
    return any(f.check == "secureboot.test-key" and f.status is Status.FAIL for f in findings)
