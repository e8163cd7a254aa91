"""Declared components against the components a device showed: how they are matched, and the diff.

``check_components`` (``verifier.checks.device``) judges; ``component_diff`` is the fact the
intake report shows beside it (``metadata.component_diff``, rendered by the HTML report).
Both take the typed declaration (``verifier.declared``), never the predicate's JSON; the policy's
``ComponentSerials`` rule says whether serials take part (the declaration is never rewritten for it).
"""

from __future__ import annotations

from hw.evidence import Component
from verifier.declared.device_model import DeclaredComponent, DeviceManifest
from verifier.declared.fields import JsonValue
from verifier.policy.model import ComponentSerials

#: The fields besides the class that a declared component may pin; an absent (None) one matches anything.
FIELDS = ("manufacturer", "model", "serial", "revision")


def norm(value: object) -> str:
    """How declared and found strings are compared: whitespace collapsed, case folded."""
    return " ".join(str(value).split()).casefold()


def compared_fields(serials: ComponentSerials) -> tuple[str, ...]:
    """The pinned fields the judge compares under the policy's serial rule."""
    return tuple(n for n in FIELDS if not (n == "serial" and serials is ComponentSerials.IGNORE))


def declared_value(component: DeclaredComponent, name: str, serials: ComponentSerials) -> str | None:
    """A declared field as the judge compares it: a serial the policy ignores pins nothing."""
    if name == "serial" and serials is ComponentSerials.IGNORE:
        return None
    value: str | None = getattr(component, name)
    return value


def matches(declared: DeclaredComponent, found: Component, serials: ComponentSerials) -> bool:
    if norm(declared.cls) != norm(found.cls):
        return False
    for name in compared_fields(serials):
        want = declared_value(declared, name, serials)
        if want is not None and norm(want) != norm(getattr(found, name) or ""):
            return False
    return True


def differing(declared: DeclaredComponent, found: Component, serials: ComponentSerials) -> list[str]:
    """The pinned fields in which ``found`` is not what is declared."""
    return [n for n in compared_fields(serials)
            if declared_value(declared, n, serials) is not None
            and norm(declared_value(declared, n, serials)) != norm(getattr(found, n) or "")]


def describe_found(component: Component) -> dict[str, JsonValue]:
    return {"class": component.cls, **{name: getattr(component, name) for name in FIELDS}}


def describe_declared(component: DeclaredComponent, serials: ComponentSerials) -> dict[str, JsonValue]:
    """The declaration as compared: a serial the policy ignores shows as null (it took no part)."""
    out = component.to_json()
    if serials is ComponentSerials.IGNORE:
        out["serial"] = None
    return out


def component_diff(manifest: DeviceManifest | None, components: tuple[Component, ...]) -> list[dict[str, JsonValue]]:
    """Declared against observed components, matched by class, manufacturer and model (exactly as written).

    Each declared component is paired with an unused observed one of the same class, manufacturer and
    model, else of the same class; it is "changed" when a field it pins (non-empty) differs, "removed"
    when nothing of its class is left. Observed components left over are "added".
    """
    declared = manifest.components if manifest is not None else ()
    observed = list(components)
    out: list[dict[str, JsonValue]] = []
    used: set[int] = set()
    for item in declared:
        shown: dict[str, JsonValue] = {k: getattr(item, k) for k in FIELDS}
        match = next(
            (
                i
                for i, c in enumerate(observed)
                if i not in used and c.cls == item.cls and (c.model, c.manufacturer) == (item.model, item.manufacturer)
            ),
            None,
        )
        if match is None:
            match = next((i for i, c in enumerate(observed) if i not in used and c.cls == item.cls), None)
        if match is None:
            out.append({"change": "removed", "class": item.cls, "declared": shown, "observed": None})
            continue
        used.add(match)
        seen = observed[match]
        seen_shown: dict[str, JsonValue] = {k: getattr(seen, k) for k in FIELDS}
        differs = any(shown[k] not in (None, "") and shown[k] != seen_shown[k] for k in FIELDS)
        out.append(
            {"change": "changed" if differs else "matched", "class": item.cls, "declared": shown,
             "observed": seen_shown}
        )
    for i, c in enumerate(observed):
        if i not in used:
            out.append({"change": "added", "class": c.cls, "declared": None,
                        "observed": {k: getattr(c, k) for k in FIELDS}})
    return out
