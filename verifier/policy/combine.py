"""Combining policies: ``all_of`` holds when every part holds, so it is at least as strict as each.

It walks every field of the rule model and combines it by the ``Merge`` the field declares
(``verifier.policy.model``); it never names a field itself, so a rule added to the model is
combined by its own declaration or, when it has none, refused with an error here (and by the
test that every rule field declares one), never dropped. An empty combination is an error:
nothing combined is nothing required.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from verifier.errors import PolicyError
from verifier.model import Strength
from verifier.policy.model import (
    MERGE_KEY,
    AkBinding,
    AllowedDeviation,
    ComponentSerials,
    Merge,
    MissingReference,
    Policy,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Rules = TypeVar("_Rules", bound="DataclassInstance")
#: Enums whose members are ordered by strength (``rank``): STRONGEST keeps the higher.
_Ranked = AkBinding | ComponentSerials | Strength | MissingReference


class MergeRuleMissing(TypeError):
    """A rule field declares no ``Merge``: a programming error, never a policy the user wrote."""


@dataclass(frozen=True)
class _Parts:
    """Where a field sits and which policies it came from, for an error naming both."""

    key: str
    first: Policy
    second: Policy


def all_of(policies: Sequence[Policy]) -> Policy:
    """Combine policies so that every one must hold: each field by its declared ``Merge``.

    Signer and supplier rules are kept side by side (each must be met); requirements are united;
    allowed firmware deviations are only those that every policy allows.
    """
    if not policies:
        raise PolicyError("no policy given; a combination of no policies requires nothing and would accept anything")
    combined = policies[0]
    for other in policies[1:]:
        combined = _merge(combined, other, "", combined, other)
    return combined


def merge_of(owner: type[DataclassInstance], name: str) -> Merge:
    """The ``Merge`` that field ``name`` of a rule class declares; ``MergeRuleMissing`` when it declares none."""
    for item in fields(owner):
        if item.name == name:
            how = item.metadata.get(MERGE_KEY)
            if isinstance(how, Merge):
                return how
    raise MergeRuleMissing(
        f"{owner.__name__}.{name} declares no merge rule: give it field(metadata=merge_rule(Merge...)) so that "
        "all_of cannot drop it"
    )


def _merge(first: _Rules, second: _Rules, where: str, one: Policy, other: Policy) -> _Rules:
    for owner in dict.fromkeys((type(first), type(second))):
        for item in fields(owner):
            merge_of(owner, item.name)  # first name any field that declares no merge rule
    if type(first) is not type(second):
        # Walking one class's fields would drop the fields only the other class has.
        raise MergeRuleMissing(
            f"{where or 'policy'}: cannot combine a {type(first).__name__} with a {type(second).__name__} "
            "field by field"
        )
    values: dict[str, object] = {}
    for item in fields(first):
        how = merge_of(type(first), item.name)
        key = f"{where}.{item.name}" if where else item.name
        a, b = getattr(first, item.name), getattr(second, item.name)
        if how is Merge.FIELDWISE:
            if not (is_dataclass(a) and is_dataclass(b)) or isinstance(a, type) or isinstance(b, type):
                raise MergeRuleMissing(f"{key} is combined field by field but is not a table of rules")
            values[item.name] = _merge(a, b, key, one, other)
        else:
            values[item.name] = _MERGERS[how](a, b, _Parts(key, one, other))
    return replace(first, **values)


def _any(a: object, b: object, parts: _Parts) -> object:
    if not (isinstance(a, bool) and isinstance(b, bool)):
        raise MergeRuleMissing(f"{parts.key}: Merge.ANY needs booleans")
    return a or b


def _union(a: object, b: object, parts: _Parts) -> object:
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        return a | b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return tuple(dict.fromkeys((*a, *b)))
    raise MergeRuleMissing(f"{parts.key}: Merge.UNION needs two sets or two tuples")


def _side_by_side(a: object, b: object, parts: _Parts) -> object:
    if not (isinstance(a, tuple) and isinstance(b, tuple)):
        raise MergeRuleMissing(f"{parts.key}: Merge.SIDE_BY_SIDE needs tuples")
    return a + b


def _intersection(a: object, b: object, parts: _Parts) -> object:
    if not (isinstance(a, tuple) and isinstance(b, tuple)):
        raise MergeRuleMissing(f"{parts.key}: Merge.INTERSECTION needs tuples")

    def granted_by_b(x: object) -> bool:
        if isinstance(x, AllowedDeviation):  # the same grant, whatever reason each part gives for it
            return any(isinstance(y, AllowedDeviation) and x.same_grant(y) for y in b)
        return x in b

    return tuple(x for x in a if granted_by_b(x))


def _narrowest(a: object, b: object, parts: _Parts) -> object:
    if not (isinstance(a, tuple) and isinstance(b, tuple)):
        raise MergeRuleMissing(f"{parts.key}: Merge.NARROWEST needs tuples")
    if not a or not b:
        return a or b  # an empty pin list pins nothing: the other part's pins hold
    return tuple(x for x in a if x in b)


def _strongest(a: object, b: object, parts: _Parts) -> object:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = dict(a)
        for name, level in b.items():
            out[name] = _stronger(out[name], level, parts) if name in out else level
        return out
    return _stronger(a, b, parts)


def _stronger(a: object, b: object, parts: _Parts) -> object:
    if isinstance(a, _Ranked) and isinstance(b, _Ranked) and type(a) is type(b):
        return b if b.rank > a.rank else a
    raise MergeRuleMissing(f"{parts.key}: Merge.STRONGEST needs two values of one ranked enum")


def _smallest(a: object, b: object, parts: _Parts) -> object:
    given = [x for x in (a, b) if x is not None]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in given):
        raise MergeRuleMissing(f"{parts.key}: Merge.SMALLEST needs numbers or None")
    return min(given, key=lambda x: x if isinstance(x, int | float) else 0, default=None)


def _agree(a: object, b: object, parts: _Parts) -> object:
    if a and b and a != b:
        raise PolicyError(
            f"{parts.second.sources[0]}: key '{parts.key}' is {b!r} but {parts.first.sources[0]} asks for {a!r}; "
            "no release can satisfy both"
        )
    return a or b


def _digest(a: object, b: object, parts: _Parts) -> object:
    return hashlib.sha256(f"{a}{b}".encode()).hexdigest()


_MERGERS: Mapping[Merge, Callable[[object, object, _Parts], object]] = {
    Merge.ANY: _any,
    Merge.UNION: _union,
    Merge.SIDE_BY_SIDE: _side_by_side,
    Merge.INTERSECTION: _intersection,
    Merge.NARROWEST: _narrowest,
    Merge.STRONGEST: _strongest,
    Merge.SMALLEST: _smallest,
    Merge.AGREE: _agree,
    Merge.DIGEST: _digest,
}
