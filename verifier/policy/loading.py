"""Loading a policy: the TOML file read once into the rule model, every problem a ``PolicyError``.

The loader is strict on purpose: an unknown key, a wrong type, a check-id pattern that names no
catalogued check, or a policy that requires nothing is a ``PolicyError`` naming the file, the line and
the key. Keylime once accepted an empty allow-list as "allow everything"; here nothing is ever
accepted by default. Several files combine with ``verifier.policy.combine.all_of``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from verifier.checks import catalogue
from verifier.errors import PolicyError
from verifier.model import Strength
from verifier.policy.combine import all_of
from verifier.policy.model import (
    DEVICE_FIELDS,
    SPDM_ALGORITHMS,
    AkBinding,
    AllowedDeviation,
    AttestationRules,
    ComponentSerials,
    DeviceRules,
    FirmwareRules,
    MissingReference,
    Policy,
    ReferenceValueRules,
    ReviewRules,
    SecureBootKeyRules,
    SignerRule,
    SigstoreIdentity,
    SpdmRules,
    SpdmVersion,
    SupplierRule,
    TpmRules,
)
from verifier.policy.toml_reader import TomlReader, Where, parse_toml, read_toml

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MAX_POLICY_BYTES = 1 << 20
_COUNTRY = re.compile(r"^[A-Z]{2}$")
#: The firmware policy acts on firmware findings only: its patterns must name one of these.
_FIRMWARE_CHECKS = "firmware."


def _uri(value: str) -> str | None:
    return None if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", value) else "is not a URI"


def _country(value: str) -> str | None:
    return None if _COUNTRY.match(value) else "is not an ISO 3166-1 alpha-2 country code such as 'DE'"


def _check_pattern(value: str) -> str | None:
    """Why ``value`` is not a firmware check-id pattern: a bad glob, or one that names no catalogued check.

    A typo such as "firmware.hiden-*" would otherwise match nothing and weaken the policy without a word.
    """
    if not re.match(r"^[A-Za-z0-9_.*?\[\]-]+$", value):
        return "is not a check id or glob such as 'firmware.*'"
    if catalogue.matching(value, within=_FIRMWARE_CHECKS):
        return None
    if catalogue.matching(value):
        return f"names no firmware check; [firmware] rules act on {_FIRMWARE_CHECKS}* checks only"
    near = catalogue.nearest(value, within=_FIRMWARE_CHECKS)
    hint = f" (did you mean '{near}'?)" if near else ""
    return f"names no firmware check provcheck has{hint}; see 'provcheck checks'"


def _keys(rules: type[DataclassInstance]) -> tuple[str, ...]:
    """A table's keys are its rule class's field names: the reader and the model cannot drift apart."""
    return tuple(f.name for f in fields(rules))


def _normal(name: str) -> str:
    return " ".join(name.casefold().split())


_TOP_KEYS = ("version", "strict", "signers", "attestations", "firmware", "device", "tpm", "suppliers", "reviews",
             "reference_values", "spdm", "secureboot")


def parse_policy(text: str, path: Path) -> Policy:
    """Parse policy text; ``path`` names the file in errors and anchors relative key paths."""
    return _policy(text, parse_toml(text, path, error=PolicyError), path)


def load_policy(path: Path) -> Policy:
    """Read and validate one policy file; every problem is a PolicyError (exit 2)."""
    text, data = read_toml(path, what="policy", limit=MAX_POLICY_BYTES, error=PolicyError)
    return _policy(text, data, path)


def load_policies(paths: Sequence[Path]) -> Policy:
    """Load every policy file and combine them with ``all_of``."""
    return all_of([load_policy(p) for p in paths])


def _policy(text: str, data: dict[str, object], path: Path) -> Policy:
    if not data:
        raise PolicyError(f"{path}: the policy is empty; a policy that requires nothing would accept anything")
    r = TomlReader(path, text, PolicyError)
    r.table(data, (), _TOP_KEYS)
    version = r.integer(data, "version", (), minimum=1, default=None)
    if version is None:
        raise PolicyError(f"{path}:1: key 'version' is missing; start the policy with 'version = 1'")
    if version != 1:
        raise r.error(("version",), f"is {version}, but this provcheck reads policy version 1")

    strict = r.boolean(data, "strict", (), False)
    signers = _signers(r, data["signers"]) if "signers" in data else None
    attestations = _attestations(r, data.get("attestations", {}))
    firmware = _firmware(r, data.get("firmware", {}))
    device = _device(r, data.get("device", {}))
    tpm = _tpm(r, data.get("tpm", {}))
    suppliers = _suppliers(r, data.get("suppliers", {}))
    spdm = _spdm(r, data.get("spdm", {}))
    reviews = _reviews(r, data.get("reviews", {}))
    reference_values = _reference_values(r, data.get("reference_values", {}))
    secureboot = _secureboot(r, data.get("secureboot", {}))

    policy = Policy(
        sources=(path,),
        digest=hashlib.sha256(text.encode()).hexdigest(),
        strict=strict,
        signers=(signers,) if signers else (),
        attestations=attestations,
        firmware=firmware,
        device=device,
        tpm=tpm,
        suppliers=(suppliers,) if suppliers.restricts() else (),
        spdm=spdm,
        reviews=reviews,
        reference_values=reference_values,
        secureboot=secureboot,
    )
    if not policy.requires_something():
        raise PolicyError(
            f"{path}: the policy requires nothing (no attestations.required, firmware.required, device.required, "
            "reviews.required or tpm rules); a policy that requires nothing would accept anything"
        )
    if policy.attestations.required and not policy.signers:
        raise r.error(("attestations", "required"), "needs trusted signers: add [signers] keys or [[signers.sigstore]]")
    # A policy with no [signers] still loads (another --policy may name them, all_of keeps both), but intake
    # refuses to read a release with no trusted signer at all: nothing could be vouched for.
    return policy


def _signers(r: TomlReader, value: object) -> SignerRule:
    where: Where = ("signers",)
    t = r.table(value, where, ("keys", "threshold", "thresholds", "sigstore"))
    keys = tuple(r.file(k, (*where, "keys")) for k in r.strings(t, "keys", where))
    threshold = r.integer(t, "threshold", where, minimum=1, default=1)
    assert threshold is not None
    raw_thresholds = t.get("thresholds", {})
    thresholds_table = r.table(
        raw_thresholds, (*where, "thresholds"), list(raw_thresholds) if isinstance(raw_thresholds, dict) else ()
    )
    thresholds: dict[str, int] = {}
    for ptype in thresholds_table:
        problem = _uri(ptype)
        if problem:
            raise r.error((*where, "thresholds", ptype), problem)
        count = r.integer(thresholds_table, ptype, (*where, "thresholds"), minimum=1, default=None)
        assert count is not None
        thresholds[ptype] = count
    identities = []
    for at, it in r.tables(t, "sigstore", where, ("identity", "issuer", "trusted_root", "staging")):
        identity = r.required_string(it, "identity", at)
        issuer = r.required_string(it, "issuer", at)
        root = r.string(it, "trusted_root", at)
        staging = r.boolean(it, "staging", at, False)
        if root and staging:
            raise r.error((*at, "staging"), "cannot be combined with trusted_root; choose one trust root")
        identities.append(
            SigstoreIdentity(identity, issuer, r.file(root, (*at, "trusted_root")) if root else None, staging)
        )
    if not keys and not identities:
        raise r.error(where, "names no trusted signer: add keys = [...] or a [[signers.sigstore]] identity")
    available = len(keys) + len(identities)
    for ptype, count in [("threshold", threshold), *thresholds.items()]:
        if count > available:
            key_path = (*where, "threshold") if ptype == "threshold" else (*where, "thresholds", ptype)
            raise r.error(key_path, f"asks for {count} signers but only {available} are trusted")
    return SignerRule(keys, tuple(identities), threshold, thresholds)


def _attestations(r: TomlReader, value: object) -> AttestationRules:
    where: Where = ("attestations",)
    t = r.table(value, where, _keys(AttestationRules))
    return AttestationRules(
        required=frozenset(r.strings(t, "required", where, _uri)),
        max_age_days=r.integer(t, "max_age_days", where, minimum=1, default=None),
        builder_id=r.string(t, "builder_id", where),
        source_uri=r.string(t, "source_uri", where),
    )


def _firmware(r: TomlReader, value: object) -> FirmwareRules:
    where: Where = ("firmware",)
    t = r.table(value, where, _keys(FirmwareRules))
    allow = []
    for at, it in r.tables(t, "allow", where, _keys(AllowedDeviation)):
        check = r.required_string(it, "check", at)
        name = r.required_string(it, "name", at)
        reason = r.required_string(it, "reason", at)
        problem = _check_pattern(check)
        if problem:
            raise r.error((*at, "check"), f"{check!r}: {problem}")
        allow.append(AllowedDeviation(check, name, reason))
    return FirmwareRules(
        required=r.boolean(t, "required", where, False),
        fail=r.strings(t, "fail", where, _check_pattern),
        warn=r.strings(t, "warn", where, _check_pattern),
        allow=tuple(allow),
    )


def _device(r: TomlReader, value: object) -> DeviceRules:
    where: Where = ("device",)
    t = r.table(value, where, _keys(DeviceRules))

    def known_field(name: str) -> str | None:
        return None if name in DEVICE_FIELDS else f"is not a device field ({', '.join(DEVICE_FIELDS)})"

    fields = r.strings(t, "required_fields", where, known_field)
    raw_strength = t.get("required_strength", {})
    strength_table = r.table(raw_strength, (*where, "required_strength"), DEVICE_FIELDS)
    # Every name is in the table, so choice() never falls back to its default.
    strength = {
        name: r.choice(strength_table, name, (*where, "required_strength"), Strength, Strength.SIGNED)
        for name in strength_table
    }
    mode = r.choice(t, "component_serials", where, ComponentSerials, ComponentSerials.MATCH)
    return DeviceRules(
        required=r.boolean(t, "required", where, False),
        required_fields=frozenset(fields),
        required_strength=strength,
        component_serials=mode,
        region_digests=r.boolean(t, "region_digests", where, True),
        require_nonce=r.boolean(t, "require_nonce", where, False),
    )


def _tpm(r: TomlReader, value: object) -> TpmRules:
    where: Where = ("tpm",)
    t = r.table(value, where, _keys(TpmRules))
    binding = r.choice(t, "ak_binding", where, AkBinding, AkBinding.NONE)
    pinned = tuple(k.lower() for k in r.strings(t, "pinned_ak_keyids", where, _keyid))
    if binding is AkBinding.PINNED and not pinned:
        raise r.error((*where, "pinned_ak_keyids"), "ak_binding 'pinned' needs at least one pinned AK key id")
    return TpmRules(
        require_quote=r.boolean(t, "require_quote", where, False),
        require_secure_boot=r.boolean(t, "require_secure_boot", where, False),
        ak_binding=binding,
        pinned_ak_keyids=pinned,
    )


def _spdm(r: TomlReader, value: object) -> SpdmRules:
    where: Where = ("spdm",)
    t = r.table(value, where, _keys(SpdmRules))
    allowed = tuple(dict.fromkeys(r.strings(t, "allowed_algorithms", where, _spdm_algorithm)))
    return SpdmRules(
        min_version=r.choice(t, "min_version", where, SpdmVersion, SpdmVersion.V1_1),
        allowed_algorithms=allowed,
    )


def _spdm_algorithm(value: str) -> str | None:
    return None if value in SPDM_ALGORITHMS else f"is not one of {', '.join(SPDM_ALGORITHMS)}"


def _reference_values(r: TomlReader, value: object) -> ReferenceValueRules:
    where: Where = ("reference_values",)
    t = r.table(value, where, _keys(ReferenceValueRules))
    signers = tuple(r.file(k, (*where, "signers")) for k in r.strings(t, "signers", where))
    required = r.boolean(t, "required", where, False)
    if required and not signers:
        raise r.error((*where, "signers"), "names no key: reference values are used only when a key listed here "
                      "signed them, so required = true needs at least one")
    return ReferenceValueRules(
        signers=signers,
        required=required,
        missing=r.choice(t, "missing", where, MissingReference, MissingReference.WARN),
    )


def _keyid(value: str) -> str | None:
    return None if re.fullmatch(r"[0-9a-fA-F]{64}", value) else "is not a sha256 key id (64 hex digits)"


def _suppliers(r: TomlReader, value: object) -> SupplierRule:
    where: Where = ("suppliers",)
    t = r.table(value, where, _keys(SupplierRule))
    share = t.get("concentration_warning")
    concentration: float | None = None
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise r.error((*where, "concentration_warning"), "must be a share between 0 and 1, such as 0.5")
        concentration = float(share)
    rule = SupplierRule(
        allowed=frozenset(_normal(s) for s in r.strings(t, "allowed", where)),
        blocked=frozenset(_normal(s) for s in r.strings(t, "blocked", where)),
        allowed_countries=frozenset(r.strings(t, "allowed_countries", where, _country)),
        blocked_countries=frozenset(r.strings(t, "blocked_countries", where, _country)),
        concentration_warning=concentration,
        require_origin=r.boolean(t, "require_origin", where, False),
    )
    both = rule.allowed & rule.blocked
    if both:
        raise r.error((*where, "blocked"), f"lists {sorted(both)[0]!r}, which is also allowed")
    both = rule.allowed_countries & rule.blocked_countries
    if both:
        raise r.error((*where, "blocked_countries"), f"lists {sorted(both)[0]!r}, which is also allowed")
    return rule


def _reviews(r: TomlReader, value: object) -> ReviewRules:
    where: Where = ("reviews",)
    t = r.table(value, where, _keys(ReviewRules))
    keys = tuple(r.file(k, (*where, "srp_keys")) for k in r.strings(t, "srp_keys", where))
    required = r.boolean(t, "required", where, False)
    if required and not keys:
        raise r.error((*where, "srp_keys"), "names no SRP key: a required review must be signed by an accepted key")
    max_cvss = t.get("max_cvss")
    if max_cvss is not None and (isinstance(max_cvss, bool) or not isinstance(max_cvss, int | float)
                                 or not 0 <= max_cvss <= 10):
        raise r.error((*where, "max_cvss"), "must be a CVSS score between 0.0 and 10.0, such as 7.0")
    return ReviewRules(
        required=required,
        srp_keys=keys,
        max_cvss=float(max_cvss) if max_cvss is not None else None,
        max_age_days=r.integer(t, "max_age_days", where, minimum=1, default=None),
    )


def _fingerprint(value: str) -> str | None:
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return None
    return "is not a SHA-256 certificate fingerprint (64 hex digits)"


def _secureboot(r: TomlReader, value: object) -> SecureBootKeyRules:
    where: Where = ("secureboot",)
    t = r.table(value, where, _keys(SecureBootKeyRules))
    pk = r.string(t, "expected_pk", where)
    if pk is not None and _fingerprint(pk):
        raise r.error((*where, "expected_pk"), f"{pk!r} {_fingerprint(pk)}")
    reference = r.string(t, "dbx_reference", where)
    return SecureBootKeyRules(
        expected_pk=pk.lower() if pk else None,
        expected_kek=tuple(k.lower() for k in r.strings(t, "expected_kek", where, _fingerprint)),
        require_2023_ca=r.boolean(t, "require_2023_ca", where, True),
        forbid_test_keys=r.boolean(t, "forbid_test_keys", where, True),
        expiring_days=r.integer(t, "expiring_days", where, minimum=0, default=None),
        dbx_reference=r.file(reference, (*where, "dbx_reference")) if reference else None,
        judge_device=r.boolean(t, "judge_device", where, False),
    )
