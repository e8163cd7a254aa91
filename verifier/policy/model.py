"""The policy's rules: frozen values, each field declaring how ``all_of`` combines it.

A rule field without a declared merge is a programming error that ``verifier.policy.combine`` refuses
at runtime and ``tests/verifier/test_policy_merge.py`` refuses at test time: a combined policy must
never drop a field silently (the "forgotten field" that a hand-written combination once allowed).
Every key is documented in ``docs/policy.example.toml``; ``verifier.policy.loading`` reads them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from verifier.model import Strength


class Merge(enum.Enum):
    """How ``all_of`` combines one field of several policies; each is at least as strict as every part."""

    #: a switch that tightens when true: true in any part is true in the whole
    ANY = "any"
    #: requirements and check-id patterns: every part's entries, in order, once each
    UNION = "union"
    #: whole rules that must each hold on their own (signers, suppliers): kept side by side
    SIDE_BY_SIDE = "side by side"
    #: permissions (allowed deviations): only those every part grants
    INTERSECTION = "intersection"
    #: a pin list where empty means "no pin": the entries common to every part that pins
    NARROWEST = "narrowest"
    #: ordered levels (enums, per-field strengths): the strongest any part asks for
    STRONGEST = "strongest"
    #: limits such as a maximum age: the smallest any part sets
    SMALLEST = "smallest"
    #: one expected value: parts that set it must agree, else no input can satisfy them all (PolicyError)
    AGREE = "agree"
    #: a table of rules: combined field by field, by each field's own merge
    FIELDWISE = "fieldwise"
    #: the policy's digest: a digest over every part's digest
    DIGEST = "digest"


#: the dataclasses field-metadata key under which a field declares its ``Merge``
MERGE_KEY = "merge"


def merge_rule(how: Merge) -> Mapping[str, Merge]:
    """The field metadata that declares how ``all_of`` combines a field: ``field(metadata=merge_rule(...))``."""
    return {MERGE_KEY: how}


class _Ordered(enum.StrEnum):
    """Members declared weakest first; ``rank`` orders them for Merge.STRONGEST."""

    @property
    def rank(self) -> int:
        return list(type(self)).index(self)


class AkBinding(_Ordered):
    """What must bind the quoting AK to a real TPM (docs/tpm-trust-model.md), weakest first."""

    NONE = "none"
    PINNED = "pinned"
    EK = "ek"
    ACTIVATED = "activated"


#: The binding names, weakest first; verifier.checks.measured_boot validates against them.
AK_BINDINGS = tuple(b.value for b in AkBinding)


class SpdmVersion(_Ordered):
    """The SPDM versions a responder may negotiate, weakest first."""

    V1_1 = "1.1"
    V1_2 = "1.2"
    V1_3 = "1.3"


#: SPDM signature and hash algorithms a policy may allow (``[spdm] allowed_algorithms``); empty allows all of them.
SPDM_ALGORITHMS = (
    "RSASSA-2048", "RSAPSS-2048", "RSASSA-3072", "RSAPSS-3072", "ECDSA-P256", "ECDSA-P384", "SHA-256", "SHA-384",
    "SHA-512",
)


class ComponentSerials(_Ordered):
    """How component serials are compared, weakest first."""

    IGNORE = "ignore"
    MATCH = "match"
    REQUIRE = "require"


class FirmwareDisposition(enum.StrEnum):
    """What the policy does with one firmware finding."""

    ALLOW = "allow"  # an accepted deviation: the finding passes, its reason recorded
    FAIL = "fail"  # a warning raised to a failure
    WARN = "warn"  # a failure lowered to a warning
    KEEP = "keep"  # the policy says nothing about it


DEVICE_FIELDS = (
    "manufacturer",
    "model",
    "serial",
    "board_revision",
    "macs",
    "firmware_version",
    "components",
    "firmware_regions",
    "identity_key",
    "tpm",
)


@dataclass(frozen=True)
class SigstoreIdentity:
    """A keyless signer: the certificate identity and issuer, and the trust root to check it against."""

    identity: str
    issuer: str
    trusted_root: Path | None = None
    staging: bool = False


@dataclass(frozen=True)
class SignerRule:
    """Who may vouch for a release. ``threshold`` distinct keys must sign every statement.

    ``thresholds`` raises (or lowers) the count for one predicate type. A rule is combined whole
    (side by side with the others), never field by field.
    """

    keys: tuple[Path, ...]
    sigstore: tuple[SigstoreIdentity, ...]
    threshold: int
    thresholds: Mapping[str, int]

    def threshold_for(self, predicate_type: str) -> int:
        return self.thresholds.get(predicate_type, self.threshold)


@dataclass(frozen=True)
class AttestationRules:
    required: frozenset[str] = field(default=frozenset(), metadata=merge_rule(Merge.UNION))
    max_age_days: int | None = field(default=None, metadata=merge_rule(Merge.SMALLEST))
    builder_id: str | None = field(default=None, metadata=merge_rule(Merge.AGREE))
    source_uri: str | None = field(default=None, metadata=merge_rule(Merge.AGREE))


@dataclass(frozen=True)
class AllowedDeviation:
    """A firmware finding the operator accepts: its check id and the name it is about."""

    check: str
    name: str
    reason: str

    def matches(self, check: str, name: str) -> bool:
        return fnmatchcase(check, self.check) and (self.name == "*" or fnmatchcase(name, self.name))

    def same_grant(self, other: AllowedDeviation) -> bool:
        """Whether ``other`` allows the same thing (the reason may differ)."""
        return (self.check, self.name) == (other.check, other.name)


@dataclass(frozen=True)
class FirmwareRules:
    required: bool = field(default=False, metadata=merge_rule(Merge.ANY))
    fail: tuple[str, ...] = field(default=(), metadata=merge_rule(Merge.UNION))
    warn: tuple[str, ...] = field(default=(), metadata=merge_rule(Merge.UNION))
    allow: tuple[AllowedDeviation, ...] = field(default=(), metadata=merge_rule(Merge.INTERSECTION))


@dataclass(frozen=True)
class DeviceRules:
    required: bool = field(default=False, metadata=merge_rule(Merge.ANY))
    required_fields: frozenset[str] = field(default=frozenset(), metadata=merge_rule(Merge.UNION))
    required_strength: Mapping[str, Strength] = field(default_factory=dict, metadata=merge_rule(Merge.STRONGEST))
    component_serials: ComponentSerials = field(default=ComponentSerials.MATCH, metadata=merge_rule(Merge.STRONGEST))
    region_digests: bool = field(default=True, metadata=merge_rule(Merge.ANY))
    require_nonce: bool = field(default=False, metadata=merge_rule(Merge.ANY))


@dataclass(frozen=True)
class TpmRules:
    require_quote: bool = field(default=False, metadata=merge_rule(Merge.ANY))
    require_secure_boot: bool = field(default=False, metadata=merge_rule(Merge.ANY))
    ak_binding: AkBinding = field(default=AkBinding.NONE, metadata=merge_rule(Merge.STRONGEST))
    pinned_ak_keyids: tuple[str, ...] = field(default=(), metadata=merge_rule(Merge.NARROWEST))


@dataclass(frozen=True)
class SpdmRules:
    """What an SPDM responder must negotiate: at least ``min_version``, and only ``allowed_algorithms`` (if any)."""

    min_version: SpdmVersion = field(default=SpdmVersion.V1_1, metadata=merge_rule(Merge.STRONGEST))
    allowed_algorithms: tuple[str, ...] = field(default=(), metadata=merge_rule(Merge.NARROWEST))


@dataclass(frozen=True)
class SecureBootKeyRules:
    """``[secureboot]``: how a platform's Secure Boot keys are judged (verifier.checks.secureboot).

    ``expected_pk`` and ``expected_kek`` are SHA-256 fingerprints of certificates; ``expiring_days`` None means 180;
    ``dbx_reference`` None means the Microsoft list the package ships. ``judge_device``: intake also judges the
    Secure Boot variables a device reports (the linux profile's efivarfs read), an explicit opt-in.
    """

    expected_pk: str | None = field(default=None, metadata=merge_rule(Merge.AGREE))
    expected_kek: tuple[str, ...] = field(default=(), metadata=merge_rule(Merge.NARROWEST))
    require_2023_ca: bool = field(default=True, metadata=merge_rule(Merge.ANY))
    forbid_test_keys: bool = field(default=True, metadata=merge_rule(Merge.ANY))
    expiring_days: int | None = field(default=None, metadata=merge_rule(Merge.AGREE))
    dbx_reference: Path | None = field(default=None, metadata=merge_rule(Merge.AGREE))
    judge_device: bool = field(default=False, metadata=merge_rule(Merge.ANY))


@dataclass(frozen=True)
class SupplierRule:
    """Allowed and blocked suppliers and countries, for the vendor and everyone the manifests name.

    An empty ``allowed`` list places no restriction; a non-empty one admits only its members. A rule is
    combined whole (side by side with the others), never field by field.
    """

    allowed: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()
    allowed_countries: frozenset[str] = frozenset()
    blocked_countries: frozenset[str] = frozenset()
    concentration_warning: float | None = None
    require_origin: bool = False

    def restricts(self) -> bool:
        return bool(
            self.allowed
            or self.blocked
            or self.allowed_countries
            or self.blocked_countries
            or self.concentration_warning is not None
            or self.require_origin
        )


#: The CVSS score at and above which an open issue of a review fails when the policy sets no max_cvss.
DEFAULT_MAX_CVSS = 7.0


@dataclass(frozen=True)
class ReviewRules:
    """Third-party security reviews (OCP S.A.F.E. short-form reports) of the firmware image taken in.

    ``srp_keys`` is an allowlist: a review counts only when one of these keys verifies it. Combined, only the
    keys every policy that names some accepts are accepted (an empty list names none, so it pins nothing).
    """

    required: bool = field(default=False, metadata=merge_rule(Merge.ANY))
    srp_keys: tuple[Path, ...] = field(default=(), metadata=merge_rule(Merge.NARROWEST))
    max_cvss: float | None = field(default=None, metadata=merge_rule(Merge.SMALLEST))
    max_age_days: int | None = field(default=None, metadata=merge_rule(Merge.SMALLEST))

    @property
    def cvss_limit(self) -> float:
        return DEFAULT_MAX_CVSS if self.max_cvss is None else self.max_cvss


class MissingReference(_Ordered):
    """What a measured component without a reference value is (``[reference_values] missing``), weakest first."""

    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class ReferenceValueRules:
    """``[reference_values]``: who may sign CoRIM reference values, whether they must be given, and what a
    measured component without one is."""

    signers: tuple[Path, ...] = field(default=(), metadata=merge_rule(Merge.NARROWEST))
    required: bool = field(default=False, metadata=merge_rule(Merge.ANY))
    missing: MissingReference = field(default=MissingReference.WARN, metadata=merge_rule(Merge.STRONGEST))


@dataclass(frozen=True)
class Policy:
    sources: tuple[Path, ...] = field(metadata=merge_rule(Merge.SIDE_BY_SIDE))
    digest: str = field(metadata=merge_rule(Merge.DIGEST))
    strict: bool = field(metadata=merge_rule(Merge.ANY))
    signers: tuple[SignerRule, ...] = field(metadata=merge_rule(Merge.SIDE_BY_SIDE))
    attestations: AttestationRules = field(metadata=merge_rule(Merge.FIELDWISE))
    firmware: FirmwareRules = field(metadata=merge_rule(Merge.FIELDWISE))
    device: DeviceRules = field(metadata=merge_rule(Merge.FIELDWISE))
    tpm: TpmRules = field(metadata=merge_rule(Merge.FIELDWISE))
    suppliers: tuple[SupplierRule, ...] = field(metadata=merge_rule(Merge.SIDE_BY_SIDE))
    spdm: SpdmRules = field(default_factory=SpdmRules, metadata=merge_rule(Merge.FIELDWISE))
    reviews: ReviewRules = field(default=ReviewRules(), metadata=merge_rule(Merge.FIELDWISE))
    reference_values: ReferenceValueRules = field(
        default_factory=ReferenceValueRules, metadata=merge_rule(Merge.FIELDWISE)
    )
    secureboot: SecureBootKeyRules = field(default_factory=SecureBootKeyRules,
                                           metadata=merge_rule(Merge.FIELDWISE))

    @property
    def name(self) -> str:
        return " + ".join(p.name for p in self.sources)

    def trusted_keys(self) -> tuple[Path, ...]:
        seen: dict[Path, None] = {}
        for rule in self.signers:
            for key in rule.keys:
                seen.setdefault(key, None)
        return tuple(seen)

    def threshold_for(self, predicate_type: str) -> int:
        return max((rule.threshold_for(predicate_type) for rule in self.signers), default=1)

    def firmware_disposition(
        self, check: str, names: Sequence[str] | None, *, nameable: bool = True
    ) -> tuple[FirmwareDisposition, tuple[AllowedDeviation, ...]]:
        """How the policy treats one firmware finding about ``names``.

        A finding is allowed only when every name it reports is an allowed deviation for its check, and it
        reports all of them (``nameable``): a list cut short or an unnamed item is never allowed.
        """
        if names and nameable:
            used = []
            for name in names:
                deviation = next((d for d in self.firmware.allow if d.matches(check, name)), None)
                if deviation is None:
                    break
                used.append(deviation)
            else:
                return FirmwareDisposition.ALLOW, tuple(dict.fromkeys(used))
        if any(fnmatchcase(check, p) for p in self.firmware.fail):
            return FirmwareDisposition.FAIL, ()
        if any(fnmatchcase(check, p) for p in self.firmware.warn):
            return FirmwareDisposition.WARN, ()
        return FirmwareDisposition.KEEP, ()

    def requires_something(self) -> bool:
        return bool(
            self.attestations.required
            or self.firmware.required
            or self.device.required
            or self.tpm.require_quote
            or self.tpm.require_secure_boot
            or self.reviews.required
            or self.reference_values.required
        )

    def to_json(self) -> dict[str, object]:
        return {
            "sources": [str(p) for p in self.sources],
            "digest": {"sha256": self.digest},
            "strict": self.strict,
            "required_attestations": sorted(self.attestations.required),
            "firmware_required": self.firmware.required,
            "device_required": self.device.required,
            "tpm": {"require_quote": self.tpm.require_quote, "require_secure_boot": self.tpm.require_secure_boot},
            "reviews_required": self.reviews.required,
        }
