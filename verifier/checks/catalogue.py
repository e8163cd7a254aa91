"""Every check id provcheck can emit: a one-line summary, its documentation anchor, the module of its judge.

This is the one list of checks (capa keeps its rules the same way): policies are validated against it (a
pattern that names no check is bad input), SARIF takes its rule descriptions from it, ``provcheck checks``
prints it, and ``docs/checks.md`` is generated from it. ``tests/verifier/test_catalogue.py`` fails when the
source emits an id that is not listed here, or when an id listed here no longer occurs in the source; the
test suite's own reports are checked against it too (``tests/conftest.py``).

A *family* is a set of ids built from one template (``firmware.diff.{category}``); its members are still
listed one by one, so a policy pattern or a report can be checked against exact ids.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

#: Where docs/checks.md is published; a rule's helpUri is this plus "#<id>".
DOCS_URL = "https://provcheck.dev/docs/checks.md"
#: The catalogue's documentation, relative to the repository root.
DOCS_PATH = "docs/checks.md"


@dataclass(frozen=True)
class Check:
    """One check id: what it judges, where it is documented and which module judges it."""

    id: str
    summary: str
    judge: str  # dotted module name
    family: str | None = None  # the template of the family it belongs to, if any

    @property
    def anchor(self) -> str:
        return f"{DOCS_PATH}#{self.id}"

    @property
    def help_uri(self) -> str:
        return f"{DOCS_URL}#{self.id}"

    def to_json(self) -> dict[str, str | None]:
        return {"id": self.id, "summary": self.summary, "anchor": self.anchor, "judge": self.judge,
                "family": self.family}


def _family(template: str, judge: str, members: Mapping[str, str]) -> tuple[Check, ...]:
    """The members of one family: ``template`` has one ``{placeholder}``, ``members`` maps its values to summaries."""
    head, _, rest = template.partition("{")
    tail = rest.partition("}")[2]
    return tuple(Check(f"{head}{value}{tail}", summary, judge, template) for value, summary in members.items())


_ATTEST = "verifier.checks.attestations"
_LAYOUT = "verifier.checks.layout"
_DEVICE = "verifier.checks.device"
_SIGNATURE = "verifier.checks.device_signature"
_STRENGTH = "verifier.checks.strength"
_BOOT = "verifier.checks.measured_boot"
_SPDM = "verifier.checks.spdm"
_SUPPLY = "verifier.checks.suppliers"
_INTAKE_RELEASE = "verifier.workflows.intake_release"
_RELEASE_RULES = "verifier.checks.release_rules"
_INTAKE_FIRMWARE = "verifier.workflows.intake_firmware"
_INTAKE_DEVICE = "verifier.workflows.intake_device"
_INTAKE = "verifier.workflows.intake"
_SCAN = "verifier.checks.firmware"
_LOADED = "verifier.checks.loaded_bytes"
_RAW = "verifier.checks.raw_image"
_DIFF = "verifier.checks.firmware_diff"
_FW_MANIFEST = "verifier.declared.firmware_manifest"
_CORIM = "verifier.checks.corim"
_REVIEW = "verifier.checks.reviews"
_REFVAL = "verifier.checks.reference_values"
_SECUREBOOT = "verifier.checks.secureboot"

_CHECKS: tuple[Check, ...] = (
    # --- attestations and releases ---
    Check("attest.age", "Verified statements are no older than the policy's max_age_days, and none is dated in "
          "the future.", _RELEASE_RULES),
    Check("attest.builder-id", "The SLSA provenance names the builder the policy requires.", _ATTEST),
    Check("attest.chain", "Each step of a multi-statement supply chain consumed exactly what the step before it "
          "produced.", _ATTEST),
    Check("attest.format", "The input is an attestation format that can stand alone (not a bare in-toto link "
          "or layout).", "verifier.workflows.attest_verify"),
    Check("attest.layout", "An in-toto layout and its links verify: signatures, expiry, thresholds and "
          "artifact rules.", _LAYOUT),
    Check("attest.layout-product", "The artifact is one of the products the verified supply chain produced.",
          _LAYOUT),
    Check("attest.layout-rules", "Every artifact rule of the layout ends in DISALLOW, so nothing unnamed is "
          "accepted.", _LAYOUT),
    Check("attest.predicate-type", "Every verified statement has the predicate type asked for "
          "(attest verify --predicate-type); a statement of another type counts as a failure.", _ATTEST),
    Check("attest.provenance", "A SLSA provenance statement for the artifact was found and checked.", _ATTEST),
    Check("attest.release", "The release holds at least one signed statement.", _INTAKE_RELEASE),
    Check("attest.signature", "Enough distinct trusted keys signed the statement (the threshold).", _ATTEST),
    Check("attest.sigstore", "A Sigstore bundle verifies offline against its pinned trust root.", _ATTEST),
    *_family("attest.sigstore.{stage}", _ATTEST, {
        "identity": "The Sigstore signer is an identity the policy allows.",
        "artifact": "The artifact's digest is the one the Sigstore bundle signs.",
        "signature": "The Sigstore bundle's signature verifies.",
        "certificate": "The Sigstore signing certificate chains to the trust root and carries valid SCTs.",
        "log": "The bundle's transparency-log entry verifies: inclusion proof, checkpoint and SET.",
        "time": "The signature was made while the certificate was valid, and not in the future.",
        "key": "A key-signed bundle verifies with one of the trusted keys.",
    }),
    Check("attest.source", "The SLSA provenance names the source repository and ref the policy requires.",
          _ATTEST),
    Check("attest.subject", "The artifact's digest is a subject of a verified statement.", _ATTEST),
    Check("attest.test-result", "An in-toto test-result statement reports that the tests passed (FAILED fails, "
          "WARNED warns, a result that contradicts its own lists of tests fails).", _ATTEST),
    Check("attest.vouch", "A verified statement vouches for the artifact; what it says and who signed it.",
          _ATTEST),
    Check("attest.vsa", "A verification summary attestation (VSA) reports that the subject passed.", _ATTEST),
    # --- bench and history ---
    Check("bench.device", "One device of a bench plan: the verdict of its own intake.", "verifier.workflows.bench"),
    Check("history.chain", "The intake history links up by hash and its head's seal verifies.",
          "verifier.workflows.history"),
    Check("measure.baseline", "A reference measurement was recorded from a known-good boot.",
          "verifier.commands.measure"),
    # --- firmware ---
    Check("firmware.authenticode", "The PE's Authenticode certificate table is present and well formed.", _SCAN),
    Check("firmware.authenticode-chain", "The Authenticode signature chains to a given --trust-anchor.", _SCAN),
    Check("firmware.authenticode-hash", "The Authenticode hash equals the reference's.", _SCAN),
    Check("firmware.authenticode-signer", "The image is signed by the same certificates as the reference.", _SCAN),
    Check("firmware.authenticode-table", "The certificate table has the size the reference declares.", _SCAN),
    Check("firmware.capability", "No YARA capability rule matches beyond those the reference has.", _SCAN),
    Check("firmware.changed-code", "A raw image is the reference ELF laid out by load address, byte for byte.",
          _RAW),
    Check("firmware.changed-control-flow", "No control-flow table (GOT, PLT, vtables, jump tables) changed.",
          _LOADED),
    Check("firmware.changed-data", "No loaded data range changed.", _LOADED),
    Check("firmware.changed-function", "Every declared function has the declared bytes.", _SCAN),
    Check("firmware.comparison-mode", "Which comparison was made: byte-exact or function-level, and why.", _LOADED),
    Check("firmware.constructor", "No init/fini, IFUNC or TLS entry point beyond those declared.", _SCAN),
    Check("firmware.diff", "Two firmware images are byte-identical, or which categories differ.", _DIFF),
    Check("firmware.diff.format", "Both images of a diff have the same format.", _DIFF),
    *_family("firmware.diff.{category}", _DIFF, {
        "functions": "No function was added, removed or changed between the two images.",
        "imports": "No import was added or removed between the two images.",
        "exports": "No export was added, removed or moved between the two images.",
        "constructors": "No constructor or other entry point changed between the two images.",
        "sections": "No section was added, removed, changed or re-flagged between the two images.",
        "modules": "No firmware-volume module was added, removed or changed between the two images.",
        "embedded": "No embedded image was added, removed or changed between the two images.",
    }),
    Check("firmware.digest", "The image is byte-identical to the reference; if not, it is judged structurally.",
          _SCAN),
    Check("firmware.embedded", "Every embedded image is declared, and every declared one is present.", _SCAN),
    Check("firmware.entropy", "No executable section's entropy rose above the threshold (packed or encrypted "
          "code).", _SCAN),
    Check("firmware.entry-point", "The entry point lies inside an executable section and is the declared one.",
          _SCAN),
    Check("firmware.exec-stack", "The stack is not executable (PT_GNU_STACK), or no more than declared.", _SCAN),
    Check("firmware.export", "Every export is declared.", _SCAN),
    Check("firmware.format", "The image has the format the reference declares.", _SCAN),
    Check("firmware.functions", "Every discovered function is declared and every declared one is unchanged.",
          _SCAN),
    Check("firmware.hidden-function", "No function is found that the reference does not declare.", _SCAN),
    Check("firmware.import", "No dangerous API is imported beyond those declared.", _SCAN),
    Check("firmware.limit", "The analysis finished within its limits (size, count, depth).", _SCAN),
    Check("firmware.load", "The image parses, and as which formats.", _SCAN),
    Check("firmware.loaded-bytes", "Every loaded byte equals the reference's (byte-exact comparison).", _LOADED),
    Check("firmware.loaded-layout", "What is loaded where is unchanged from the reference.", _LOADED),
    Check("firmware.manifest", "A verified firmware manifest in the release declares the image.", _INTAKE_FIRMWARE),
    Check("firmware.manifest-signature", "The firmware manifest's signature was checked with a trusted key.",
          _FW_MANIFEST),
    Check("firmware.missing-function", "Every declared function is present in the image.", _SCAN),
    Check("firmware.module", "Every firmware-volume module is declared, and every declared one is present.",
          _SCAN),
    Check("firmware.module-signature", "A module signature is present when the reference has one.", _SCAN),
    Check("firmware.overlay", "No data is appended after the image beyond what the reference has.", _SCAN),
    Check("firmware.raw-layout", "A raw image has the size and section layout the reference declares.", _RAW),
    Check("firmware.reference", "There is a manifest or baseline to judge the image against.", _SCAN),
    Check("firmware.rwx", "No segment is writable and executable beyond those declared.", _SCAN),
    Check("firmware.sbat", "The .sbat section equals the reference's.", _SCAN),
    Check("firmware.scan", "The firmware scan ran (the policy requires it); errors here are inconclusive.",
          _INTAKE),
    Check("firmware.section", "The loaded sections, and their flags, are those of the reference.", _SCAN),
    Check("firmware.segment-flags", "Segment and section permissions are unchanged from the reference.", _LOADED),
    Check("firmware.subject", "The image is the one the manifest statement declares under that name (by digest).",
          _FW_MANIFEST),
    Check("firmware.uncovered-code", "No executable bytes lie outside every section beyond those declared.", _SCAN),
    Check("firmware.undeclared-code", "No changed executable range lies outside every declared function.", _LOADED),
    # --- the device ---
    Check("hw.attest-signature", "The device's signed measurements verify with its device key.", _SIGNATURE),
    Check("hw.board-revision", "The device reports the declared board revision.", _DEVICE),
    Check("hw.compare", "Comparing the device with its manifest completed; errors here are inconclusive.",
          _INTAKE_DEVICE),
    Check("hw.components", "Every declared component is found as declared.", _DEVICE),
    Check("hw.evidence", "The evidence records its profile and a transcript hash, so the session can be audited.",
          _DEVICE),
    Check("hw.identity-key", "The device's key is the one the manifest pins, and it is proven.", _SIGNATURE),
    Check("hw.manifest", "The release declares a verified device manifest to compare the device with.", _INTAKE_DEVICE),
    Check("hw.manufacturer", "The device reports the declared manufacturer.", _DEVICE),
    Check("hw.model", "The device reports the declared model.", _DEVICE),
    Check("hw.nonce", "The measurements are bound to this verification's fresh nonce.", _SIGNATURE),
    Check("hw.read", "The device was read over its console or attest protocol.", _INTAKE_DEVICE),
    Check("hw.region", "Every declared firmware region was measured and has the declared digest.", _DEVICE),
    Check("hw.self-reported", "No fact rests on the device's word alone.", _STRENGTH),
    Check("hw.serial-number", "The device's serial number is a declared one.", _DEVICE),
    Check("hw.strength", "Each fact is as strongly proven (signed, measured, reported) as it claims and as "
          "the policy requires.", _STRENGTH),
    # --- SPDM responders ---
    Check("spdm.algorithm", "The SPDM responder selected algorithms the policy allows.", _SPDM),
    Check("spdm.chain", "The slot's certificate chain reaches the trust anchor (by key) and is the one its digest "
          "and CHALLENGE_AUTH name.", _SPDM),
    Check("spdm.measurement-mismatch", "Every declared SPDM measurement index has the declared value.", _SPDM),
    Check("spdm.measurement-missing", "Every declared SPDM measurement index was reported.", _SPDM),
    Check("spdm.signature", "CHALLENGE_AUTH and MEASUREMENTS signatures verify over this session's transcript "
          "and nonce.", _SPDM),
    Check("spdm.version", "The negotiated SPDM version is at least the policy's minimum.", _SPDM),
    # --- policy requirements ---
    Check("policy.component-serial", "Every component declares and reports a serial (component_serials = "
          "\"require\").", _INTAKE_DEVICE),
    Check("policy.device-field", "The device gave every field the policy requires.", _INTAKE_DEVICE),
    Check("policy.required-attestation", "The release carries a verified statement of each required type.",
          _RELEASE_RULES),
    # --- reference values (CoRIM) ---
    Check("refval.format", "The reference values are one well-formed CoRIM, signed CoRIM, CoMID or CoEV "
          "(strict CBOR; bad input is exit 2 naming the field).", _CORIM),
    Check("refval.match", "A component provcheck measured equals, on every algorithm it computed, the reference "
          "values trusted CoRIMs declare for the device's class.", _REFVAL),
    Check("refval.mismatch", "No trusted reference value for the device's class and the component differs from "
          "what provcheck measured (on any algorithm, from any CoRIM).", _REFVAL),
    Check("refval.missing", "Every component provcheck measured has a trusted reference value it can match (the "
          "policy's missing = warn or fail).", _REFVAL),
    Check("refval.signature", "The CoRIM's COSE_Sign1 signature verifies with one of the given keys "
          "(ES256/384/512, EdDSA); an unsigned CoRIM fails.", _CORIM),
    Check("refval.validity", "The evaluation time is inside the CoRIM's validity and its signer's "
          "signature-validity.", _CORIM),
    # --- third-party security reviews (OCP S.A.F.E. short-form reports) ---
    Check("review.age", "The review was completed no more than max_age_days ago, and is not dated in the future.",
          _REVIEW),
    Check("review.issue", "An open issue of the review: at or above max_cvss fails, below warns (title, CVSS, CWE, "
          "CVE).", _REVIEW),
    Check("review.not-covered", "The firmware file is the one reviewed: every digest the report gives is the "
          "file's (a report without digests covers nothing).", _REVIEW),
    Check("review.signature", "The short-form report is signed, and an accepted SRP key verifies it (never a key "
          "it names or carries).", _REVIEW),
    # --- UEFI Secure Boot keys ---
    Check("secureboot.ca-2023-missing", "Every enrolled Microsoft 2011 CA has its 2023 successor (KEK 2K CA 2023, "
          "Windows UEFI CA 2023, Microsoft UEFI CA 2023, Option ROM UEFI CA 2023).", _SECUREBOOT),
    Check("secureboot.dbx-outdated", "dbx holds every hash of the reference dbx (Microsoft's, or --dbx-reference).",
          _SECUREBOOT),
    Check("secureboot.expired", "No PK, KEK or db certificate has expired at the evaluation time.", _SECUREBOOT),
    Check("secureboot.expiring", "No PK, KEK or db certificate expires within the window (default 180 days).",
          _SECUREBOOT),
    Check("secureboot.not-enforcing", "A PK is enrolled and SecureBoot, SetupMode, AuditMode do not turn "
          "enforcement off.", _SECUREBOOT),
    Check("secureboot.pcr7-mismatch", "An event log's Secure Boot variables hash to their digests and replay to the "
          "quoted PCR 7, and the variables a device reports are the ones measured.", _SECUREBOOT),
    Check("secureboot.revoked-in-db", "No db certificate or hash is revoked by dbx or by the reference's "
          "revoked certificates.", _SECUREBOOT),
    Check("secureboot.test-key", "No PK or KEK (nor an update's signer) is a known test or placeholder key "
          "(PKfail), by fingerprint or by a DO NOT TRUST / DO NOT SHIP subject.", _SECUREBOOT),
    Check("secureboot.unexpected-owner", "PK and KEK hold exactly the keys the policy expects.", _SECUREBOOT),
    Check("secureboot.update-signature", "A signed variable update's PKCS#7 verifies as firmware checks it "
          "(name, GUID, attributes, time and data).", _SECUREBOOT),
    Check("secureboot.weak-key", "No PK, KEK or db certificate has an RSA key below 2048 bits, or a SHA-1 or MD5 "
          "signature.", _SECUREBOOT),
    # --- suppliers ---
    Check("supply.blocked-country", "No named supplier is from a blocked country.", _SUPPLY),
    Check("supply.blocked-supplier", "No named supplier is a blocked one.", _SUPPLY),
    Check("supply.concentration", "No single supplier provides more components than the policy's share.",
          _SUPPLY),
    Check("supply.country-not-allowed", "Every named supplier is from an allowed country.", _SUPPLY),
    Check("supply.supplier-not-allowed", "Every named supplier is on the allowed list.", _SUPPLY),
    Check("supply.suppliers", "The manifests name suppliers, and all of them meet the supplier rules.", _SUPPLY),
    Check("supply.unknown-origin", "Every named supplier has a country of origin.", _SUPPLY),
    # --- TPM and measured boot ---
    Check("tpm", "The TPM checks completed; errors here are inconclusive.", _INTAKE_DEVICE),
    Check("tpm.ak.binding", "The quoting attestation key is bound to a real TPM as strongly as the policy asks.",
          _BOOT),
    Check("tpm.boot.application", "Every boot application or driver measured has a declared Authenticode hash.",
          _BOOT),
    Check("tpm.boot.firmware-blob", "Every measured firmware blob is declared.", _BOOT),
    Check("tpm.boot.kernel-cmdline", "The measured kernel command line is the declared one.", _BOOT),
    Check("tpm.boot.pcrs", "The PCR values are the declared ones.", _BOOT),
    Check("tpm.boot.secure-boot", "Secure Boot is in the declared state.", _BOOT),
    Check("tpm.boot.secure-boot-variable", "The measured Secure Boot variables (PK, KEK, db, dbx) are the "
          "declared ones.", _BOOT),
    Check("tpm.boot.separator", "Every firmware PCR 0-7 has its separator and none reports an error.", _BOOT),
    Check("tpm.ek.chain", "The EK certificate chains to the TPM manufacturer's CA.", _BOOT),
    Check("tpm.eventlog", "The device gave a well-formed event log.", _BOOT),
    Check("tpm.eventlog.event-data", "Every data-bound event's data hashes to its logged digest.", _BOOT),
    Check("tpm.eventlog.replay", "Replaying the event log gives the quoted PCR values.", _BOOT),
    Check("tpm.evidence", "The device gave TPM evidence.", _BOOT),
    Check("tpm.platform-cert", "The platform certificate chains to a trusted CA.", _BOOT),
    Check("tpm.quote", "The device gave a TPM quote and the key that made it.", _BOOT),
    Check("tpm.quote.nonce", "The quote carries this verification's nonce: it is fresh.", _BOOT),
    Check("tpm.quote.pcr-digest", "The PCR values hash to the quoted pcrDigest.", _BOOT),
    Check("tpm.quote.pcrs-reported", "PCR values read outside the quote agree with the quoted ones.", _BOOT),
    Check("tpm.quote.signature", "The quote is signed by the attestation key.", _BOOT),
    Check("tpm.quote.signer-name", "The quote's qualifiedSigner is this AK under this EK.", _BOOT),
)

#: Every catalogued check, by id.
CATALOGUE: Mapping[str, Check] = {check.id: check for check in _CHECKS}
assert len(CATALOGUE) == len(_CHECKS), "a check id is catalogued twice"

#: The templates of the declared families, e.g. "firmware.diff.{category}".
FAMILIES: frozenset[str] = frozenset(c.family for c in _CHECKS if c.family is not None)


def lookup(check_id: str) -> Check | None:
    return CATALOGUE.get(check_id)


def matching(pattern: str, within: str = "") -> tuple[str, ...]:
    """The catalogued ids starting with ``within`` that the glob ``pattern`` matches."""
    return tuple(i for i in CATALOGUE if i.startswith(within) and fnmatchcase(i, pattern))


def nearest(pattern: str, within: str = "") -> str | None:
    """The catalogued id (starting with ``within``) closest to ``pattern``, to name in an error."""
    ids = [i for i in CATALOGUE if i.startswith(within)]
    found = difflib.get_close_matches(pattern, ids, n=1, cutoff=0.0)
    return found[0] if found else None


def ordered(checks: Iterable[Check] | None = None) -> tuple[Check, ...]:
    """The checks sorted by id, as ``provcheck checks`` and docs/checks.md list them."""
    return tuple(sorted(CATALOGUE.values() if checks is None else checks, key=lambda c: c.id))
