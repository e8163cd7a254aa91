"""What a piece of evidence may be taken to have observed: its own statement, cut to what its profile can see."""

from __future__ import annotations

from hw.evidence import DeviceEvidence, Observable
from hw.registry import by_name


def observed(evidence: DeviceEvidence) -> Observable:
    """What the judge may take ``evidence`` to have observed: its own statement, never more than its profile can.

    The file is the attacker's to write. Saying it saw more than its profile can (a NIC over U-Boot) would
    turn a skip into checks of made-up facts, so the statement is cut to the registry's; a file without a
    statement (written before evidence carried one) observed what its profile can. A profile provcheck does
    not know observed nothing, so every declared component goes unchecked and ``hw.components`` says why.
    """
    profile = by_name().get(evidence.profile)
    if profile is None:
        return Observable.of()
    if evidence.observable is None:
        return profile.observable
    return evidence.observable.within(profile.observable)


def beyond_profile(evidence: DeviceEvidence, component_class: str) -> bool:
    """Whether the evidence's profile is a known one that cannot see ``component_class`` (a NIC over U-Boot).

    Only such a class may go unchecked without making the verdict inconclusive; a class the profile can see
    but the file says it did not is the file's word, and a file's word never turns a check into a pass.
    """
    profile = by_name().get(evidence.profile)
    return profile is not None and not profile.observable.sees(component_class)
