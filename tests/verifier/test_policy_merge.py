"""all_of combines every rule field by the merge rule the field declares, and never drops one.

The defect pinned here: all_of once rebuilt each rules table by hand, so a field added to a table but
forgotten there was silently reset to its default in a combined policy (fail open).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from verifier.errors import PolicyError
from verifier.model import Strength
from verifier.policy.combine import MergeRuleMissing, all_of, merge_of
from verifier.policy.loading import parse_policy
from verifier.policy.model import (
    AkBinding,
    AllowedDeviation,
    AttestationRules,
    ComponentSerials,
    DeviceRules,
    FirmwareRules,
    Merge,
    MissingReference,
    Policy,
    ReviewRules,
    SpdmVersion,
    TpmRules,
    merge_rule,
)


def _rule_fields() -> list[tuple[type[typing.Any], str]]:
    """Every field of Policy, and of each table Policy combines field by field: (owner class, field name)."""
    out: list[tuple[type[typing.Any], str]] = []
    hints = typing.get_type_hints(Policy)
    for item in dataclasses.fields(Policy):
        out.append((Policy, item.name))
        table = hints[item.name]
        if dataclasses.is_dataclass(table):
            out += [(table, sub.name) for sub in dataclasses.fields(table)]
    return out


def test_every_rule_field_declares_a_merge_rule() -> None:
    missing = []
    for owner, name in _rule_fields():
        try:
            merge_of(owner, name)
        except MergeRuleMissing:
            missing.append(f"{owner.__name__}.{name}")
    assert not missing, f"declare field(metadata=merge_rule(Merge...)) on: {', '.join(missing)}"


def test_a_table_of_rules_is_combined_field_by_field() -> None:
    hints = typing.get_type_hints(Policy)
    for item in dataclasses.fields(Policy):
        if dataclasses.is_dataclass(hints[item.name]):
            assert merge_of(Policy, item.name) is Merge.FIELDWISE, item.name


def _base(tmp_path: Path, name: str) -> Policy:
    return parse_policy("version = 1\n[device]\nrequired = true\n", tmp_path / name)


#: The strictest value of every rule field a test can set, with a lax value for the other part.
#: A new rule field must be added here (test_strict_values_cover_every_rule_field), which forces
#: whoever adds it to say what "stricter" means for it.
_STRICT_AND_LAX: dict[str, tuple[object, object]] = {
    "strict": (True, False),
    "attestations.required": (frozenset({"https://a.example/x", "https://b.example/y"}), frozenset()),
    "attestations.max_age_days": (7, None),
    "attestations.builder_id": ("https://builder.example/v1", None),
    "attestations.source_uri": ("git+https://src.example/a@refs/tags/v1", None),
    "firmware.required": (True, False),
    "firmware.fail": (("firmware.export", "firmware.rwx"), ()),
    "firmware.warn": (("firmware.entropy",), ()),
    "firmware.allow": ((), (AllowedDeviation("firmware.export", "diag", "reviewed"),)),
    "device.required": (True, False),
    "device.required_fields": (frozenset({"serial", "model"}), frozenset()),
    "device.required_strength": ({"serial": Strength.SIGNED}, {"serial": Strength.REPORTED}),
    "device.component_serials": (ComponentSerials.REQUIRE, ComponentSerials.IGNORE),
    "device.region_digests": (True, False),
    "device.require_nonce": (True, False),
    "tpm.require_quote": (True, False),
    "tpm.require_secure_boot": (True, False),
    "tpm.ak_binding": (AkBinding.ACTIVATED, AkBinding.NONE),
    "tpm.pinned_ak_keyids": (("ab" * 32,), ()),
    "spdm.min_version": (SpdmVersion.V1_3, SpdmVersion.V1_1),
    "spdm.allowed_algorithms": (("ECDSA-P384", "SHA-384"), ()),
    "reviews.required": (True, False),
    "reviews.srp_keys": ((Path("/keys/ncc.pub"),), ()),
    "reviews.max_cvss": (4.0, None),
    "reviews.max_age_days": (30, None),
    "reference_values.signers": ((Path("keys/vendor.pub"),), ()),
    "reference_values.required": (True, False),
    "reference_values.missing": (MissingReference.FAIL, MissingReference.WARN),
    "secureboot.expected_pk": ("ab" * 32, None),
    "secureboot.expected_kek": (("cd" * 32,), ()),
    "secureboot.require_2023_ca": (True, False),
    "secureboot.forbid_test_keys": (True, False),
    "secureboot.expiring_days": (365, None),
    "secureboot.dbx_reference": (Path("dbx.json"), None),
    "secureboot.judge_device": (True, False),
}
#: Fields that are not one rule value: whole rules kept side by side, and where the policy came from.
_NOT_A_VALUE = {"sources", "digest", "signers", "attestations", "firmware", "device", "tpm", "suppliers", "reviews",
                "reference_values", "spdm", "secureboot"}


def test_strict_values_cover_every_rule_field() -> None:
    named = set()
    for owner, name in _rule_fields():
        if owner is Policy:
            named.add(name)
        else:
            table = next(f.name for f in dataclasses.fields(Policy) if typing.get_type_hints(Policy)[f.name] is owner)
            named.add(f"{table}.{name}")
    assert named - _NOT_A_VALUE == set(_STRICT_AND_LAX)


def _with(policy: Policy, which: int) -> Policy:
    tables: dict[str, dict[str, object]] = {}
    top: dict[str, object] = {}
    for key, values in _STRICT_AND_LAX.items():
        table, _, name = key.rpartition(".")
        (tables.setdefault(table, {}) if table else top)[name] = values[which]
    for table, values in tables.items():
        top[table] = replace(getattr(policy, table), **values)
    return replace(policy, **top)


def test_all_of_keeps_the_strict_value_of_every_field_in_either_order(tmp_path: Path) -> None:
    strict = _with(_base(tmp_path, "strict.toml"), 0)
    lax = _with(_base(tmp_path, "lax.toml"), 1)
    for combined in (all_of([strict, lax]), all_of([lax, strict])):
        for key, (wanted, _) in _STRICT_AND_LAX.items():
            value: object = combined
            for part in key.split("."):
                value = getattr(value, part)
            if isinstance(wanted, tuple) and isinstance(value, tuple):
                assert set(value) == set(wanted), key
            else:
                assert value == wanted, key


@dataclass(frozen=True)
class _FirmwareRulesWithAForgottenField(FirmwareRules):
    """A rules table as someone might extend it: a new switch, and no merge rule declared for it."""

    forbid_debug_symbols: bool = False


def test_a_rule_field_without_a_merge_rule_is_refused_not_dropped(tmp_path: Path) -> None:
    """The forgotten-field case: on the hand-written all_of the switch silently came back as False."""
    base = _base(tmp_path, "a.toml")
    strict = replace(base, firmware=_FirmwareRulesWithAForgottenField(required=True, forbid_debug_symbols=True))
    other = _base(tmp_path, "b.toml")
    with pytest.raises(TypeError, match="forbid_debug_symbols"):
        all_of([strict, other])
    with pytest.raises(TypeError, match="forbid_debug_symbols"):
        all_of([other, strict])  # walking the other part's fields would never see the new one
    both = replace(other, firmware=_FirmwareRulesWithAForgottenField(required=True))
    with pytest.raises(TypeError, match="forbid_debug_symbols"):
        all_of([both, strict])


def test_conflicting_expected_values_are_a_policy_error(tmp_path: Path) -> None:
    a = replace(_base(tmp_path, "a.toml"), attestations=AttestationRules(builder_id="https://one.example"))
    b = replace(_base(tmp_path, "b.toml"), attestations=AttestationRules(builder_id="https://two.example"))
    with pytest.raises(PolicyError, match=r"b.toml: key 'attestations.builder_id' is 'https://two.example' but"):
        all_of([a, b])


def test_pins_narrow_to_the_keys_every_pinning_part_accepts(tmp_path: Path) -> None:
    one, two, three = "11" * 32, "22" * 32, "33" * 32
    a = replace(_base(tmp_path, "a.toml"), tpm=TpmRules(pinned_ak_keyids=(one, two)))
    b = replace(_base(tmp_path, "b.toml"), tpm=TpmRules(pinned_ak_keyids=(two, three)))
    c = _base(tmp_path, "c.toml")
    assert all_of([a, b, c]).tpm.pinned_ak_keyids == (two,)
    assert all_of([c, a]).tpm.pinned_ak_keyids == (one, two)


def test_per_field_strengths_keep_the_strongest_of_each(tmp_path: Path) -> None:
    a = replace(_base(tmp_path, "a.toml"), device=DeviceRules(
        required=True, required_strength={"serial": Strength.MEASURED, "model": Strength.SIGNED}))
    b = replace(_base(tmp_path, "b.toml"), device=DeviceRules(
        required=True, required_strength={"serial": Strength.SIGNED, "macs": Strength.REPORTED}))
    assert dict(all_of([a, b]).device.required_strength) == {
        "serial": Strength.SIGNED, "model": Strength.SIGNED, "macs": Strength.REPORTED}


@dataclass(frozen=True)
class _FirmwareRulesWithADeclaredField(FirmwareRules):
    forbid_debug_symbols: bool = dataclasses.field(default=False, metadata=merge_rule(Merge.ANY))


def test_tables_of_different_classes_are_refused_rather_than_walked_by_one_of_them(tmp_path: Path) -> None:
    plain = _base(tmp_path, "a.toml")
    extended = replace(plain, firmware=_FirmwareRulesWithADeclaredField(forbid_debug_symbols=True))
    assert all_of([extended, extended]).firmware == _FirmwareRulesWithADeclaredField(forbid_debug_symbols=True)
    for parts in ([plain, extended], [extended, plain]):
        with pytest.raises(TypeError, match="cannot combine"):
            all_of(parts)


def test_review_keys_narrow_and_limits_take_the_smallest(tmp_path: Path) -> None:
    ncc, ioactive = Path("/keys/ncc.pub"), Path("/keys/ioactive.pub")
    a = replace(_base(tmp_path, "a.toml"), reviews=ReviewRules(srp_keys=(ncc, ioactive), max_cvss=9.0))
    b = replace(_base(tmp_path, "b.toml"), reviews=ReviewRules(srp_keys=(ncc,), max_cvss=4.5, max_age_days=90))
    c = _base(tmp_path, "c.toml")  # no [reviews]: pins no key, sets no limit
    combined = all_of([a, b, c])
    assert combined.reviews.srp_keys == (ncc,)
    assert combined.reviews.max_cvss == 4.5
    assert combined.reviews.max_age_days == 90
    assert all_of([c, a]).reviews.srp_keys == (ncc, ioactive)
    assert all_of([c, c]).reviews.cvss_limit == 7.0


def test_reference_value_signers_narrow_to_those_every_naming_part_trusts(tmp_path: Path) -> None:
    """A part that names no reference-value signer restricts nothing; two that name some keep the common ones."""
    from verifier.policy.model import ReferenceValueRules

    one, two, three = Path("one.pem"), Path("two.pem"), Path("three.pem")
    a = replace(_base(tmp_path, "a.toml"), reference_values=ReferenceValueRules(signers=(one, two)))
    b = replace(_base(tmp_path, "b.toml"), reference_values=ReferenceValueRules(signers=(two, three)))
    c = _base(tmp_path, "c.toml")
    assert all_of([a, b, c]).reference_values.signers == (two,)
    assert all_of([c, a]).reference_values.signers == (one, two)
    assert all_of([c, a]).reference_values.missing is MissingReference.WARN
