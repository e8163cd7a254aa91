"""Reference values (CoRIM): what provcheck measured at intake against the digests trusted CoRIMs declare.

Checks: ``refval.match``, ``refval.mismatch``, ``refval.missing`` (``refval.signature``, whether a CoRIM counts
at all, is judged in ``verifier.checks.corim``). The inputs are facts, never files:

- ``DeviceClass``: the class of the device being taken in, from what the device itself gave (its identity facts)
  or, when it gave none (no device was read; an SPDM responder reports no vendor or model), from the release's
  verified device manifest; never from a label the image carries.
- ``MeasuredComponent``: a digest provcheck computed itself (the image file, its sections), or that it verified
  (a region the device measured, a PCR a verified quote covers, an SPDM
  measurement block whose MEASUREMENTS signature and chain verified), with every algorithm it computed.
- ``ReferenceValues``: the environment and measurements of one CoMID triple of a CoRIM whose signature verified
  with a key the policy allows; the caller passes nothing else (an entry without a signer is ignored here too).

How one component is judged, the rules an attacker would probe:

- the reference values are those of every trusted environment whose class is exactly the device's vendor and
  model, and which names nothing more specific (a class id, layer, index, instance or group provcheck cannot
  prove is never selected);
- every digest of every selected reference for the component is compared on every algorithm provcheck computed:
  one differing digest, on any algorithm, from any CoRIM, is a mismatch (a CoRIM right on sha256 and wrong on
  sha384, or two CoRIMs that disagree, never match); two references that disagree on an algorithm provcheck did
  not compute are a mismatch too (no value could meet both);
- a match needs at least one strong algorithm (sha-256, sha-384, sha-512, sha3-256/384/512) compared equal at its
  full length: a truncated digest (sha-256-32 ... sha-256-128, or a sha-256 shorter than 32 bytes), an unknown or
  weak algorithm never matches; alone, it leaves the component ``missing``;
- a component provcheck measured for which no trusted reference names a digest it can compare is ``missing``,
  a warning or a failure as the policy says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from verifier.model import Finding, failed, passed, warned

#: Component keys: what a CoRIM measurement names (its ``mkey`` text) and what provcheck measured. The release
#: writer (``verifier.workflows.release_corim``) and the intake step use these and nothing else.
IMAGE_PREFIX = "image/"
SECTION_INFIX = "/section/"
REGION_PREFIX = "region/"
PCR_PREFIX = "pcr/"
#: An SPDM measurement block, by its index (DSP0274): the digest the responder signed, under the negotiated
#: measurement hash. The responder reports no vendor or model: its class is the release's verified device manifest.
SPDM_PREFIX = "spdm/"
#: The mkey of the measurement whose integrity registers are TPM PCRs (a measurement without mkey counts too).
PCR_MEASUREMENT = "tpm/pcrs"
#: The mkey of the measurement whose digests are the allowed event digests of the TPM event log (a set: each boot
#: image or firmware blob the log records must be one of them); each event is judged as ``tpm/event/N``.
EVENTS_MEASUREMENT = "tpm/events"


def image_key(name: str) -> str:
    return f"{IMAGE_PREFIX}{name}"


def section_key(image: str, section: str) -> str:
    return f"{IMAGE_PREFIX}{image}{SECTION_INFIX}{section}"


def region_key(name: str) -> str:
    return f"{REGION_PREFIX}{name}"


def spdm_key(index: int) -> str:
    return f"{SPDM_PREFIX}{index}"


#: The digest length of each algorithm provcheck writes, to tell a declared digest's algorithm by its length (a
#: device manifest's ``spdm_measurements`` give values only; the negotiated hash decides at intake).
DIGEST_LENGTHS: Mapping[int, str] = {32: "sha256", 48: "sha384", 64: "sha512"}


def pcr_key(index: int) -> str:
    return f"{PCR_PREFIX}{index}"


def event_key(number: int) -> str:
    return f"tpm/event/{number}"


@dataclass(frozen=True)
class Algorithm:
    """A digest algorithm of the IANA Named Information registry, as provcheck compares it."""

    name: str  # the canonical name provcheck uses for what it computed: sha256, sha384, ...
    length: int  # the full digest length in bytes, of ``name``
    truncated_to: int | None = None  # sha-256-128 and the like: the first N bytes of ``name``

    @property
    def strong(self) -> bool:
        return self.truncated_to is None

    def label(self) -> str:
        return self.name if self.truncated_to is None else f"{self.name}-{self.truncated_to * 8}"


_SHA256 = Algorithm("sha256", 32)
#: Named Information Hash Algorithm Registry ids (draft-ietf-rats-corim uses them in digests), COSE hash ids and text
#: names. sha3-224 and anything else not listed is unknown here: never a match.
ALGORITHMS: Mapping[int | str, Algorithm] = {
    1: _SHA256,
    2: Algorithm("sha256", 32, 16),
    3: Algorithm("sha256", 32, 15),
    4: Algorithm("sha256", 32, 12),
    5: Algorithm("sha256", 32, 8),
    6: Algorithm("sha256", 32, 4),
    7: Algorithm("sha384", 48),
    8: Algorithm("sha512", 64),
    10: Algorithm("sha3-256", 32),
    11: Algorithm("sha3-384", 48),
    12: Algorithm("sha3-512", 64),
    # COSE hash algorithm ids (RFC 9054), which the OCP S.A.F.E. CoRIM profile writes
    -16: _SHA256,
    -43: Algorithm("sha384", 48),
    -44: Algorithm("sha512", 64),
    "sha-256": _SHA256,
    "sha-256-128": Algorithm("sha256", 32, 16),
    "sha-256-120": Algorithm("sha256", 32, 15),
    "sha-256-96": Algorithm("sha256", 32, 12),
    "sha-256-64": Algorithm("sha256", 32, 8),
    "sha-256-32": Algorithm("sha256", 32, 4),
    "sha-384": Algorithm("sha384", 48),
    "sha-512": Algorithm("sha512", 64),
    "sha3-256": Algorithm("sha3-256", 32),
    "sha3-384": Algorithm("sha3-384", 48),
    "sha3-512": Algorithm("sha3-512", 64),
}
#: The registry id of each algorithm provcheck writes (release CoRIMs).
ALGORITHM_IDS: Mapping[str, int] = {"sha256": 1, "sha384": 7, "sha512": 8}


def loaded_sections(sections: Sequence[Mapping[str, object]]) -> list[tuple[str, bytes]]:
    """(label, sha256) of each loaded section of a firmware-manifest ``sections`` list, in order: ELF ``alloc``
    sections and PE sections that are readable and not discardable, with a digest. A repeated name is ``name#1``.

    The release writer declares these from the build's manifest and intake measures these from the shipped image:
    strip rewrites or removes the rest (``.shstrtab``, ``.symtab``, mingw's ``.debug_*``), which would never match.
    """
    out: list[tuple[str, bytes]] = []
    seen: dict[str, int] = {}
    for section in sections:
        name, digest, flags = section.get("name"), section.get("sha256"), section.get("flags")
        if not isinstance(name, str) or not isinstance(digest, str) or len(digest) != 64:
            continue
        names = {f for f in flags if isinstance(f, str)} if isinstance(flags, list | tuple) else set()
        if "alloc" not in names and ("read" not in names or "discardable" in names):
            continue
        try:
            value = bytes.fromhex(digest)
        except ValueError:
            continue
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append((name if count == 0 else f"{name}#{count}", value))
    return out


def digests_of(data: bytes, names: Sequence[str] = ("sha256", "sha384", "sha512")) -> dict[str, bytes]:
    return {name: hashlib.new(name, data).digest() for name in names}


@dataclass(frozen=True)
class DeviceClass:
    """The device's class, as CoRIM environments name it, and where provcheck took it from."""

    vendor: str
    model: str
    source: str  # "the device (signed)", "the release's device manifest", ...

    def label(self) -> str:
        return f"{self.vendor} / {self.model}"


@dataclass(frozen=True)
class EnvironmentClass:
    """A CoMID environment's class as far as provcheck selects by it; ``specific`` names any field it cannot prove
    (class id, layer, index, instance, group)."""

    vendor: str | None
    model: str | None
    specific: tuple[str, ...] = ()

    def label(self) -> str:
        extra = f" ({', '.join(self.specific)})" if self.specific else ""
        return f"{self.vendor or '?'} / {self.model or '?'}{extra}"

    def selects(self, device: DeviceClass) -> bool:
        return not self.specific and self.vendor == device.vendor and self.model == device.model


@dataclass(frozen=True)
class ReferenceDigest:
    algorithm: int | str  # as the CoRIM writes it
    value: bytes


@dataclass(frozen=True)
class ReferenceMeasurement:
    key: str
    digests: tuple[ReferenceDigest, ...]


@dataclass(frozen=True)
class ReferenceValues:
    """One reference triple of one verified CoRIM."""

    source: str  # the file, and the CoRIM / CoMID id
    signer: str  # the key id that verified it; empty means unverified, which is never used
    environment: EnvironmentClass
    measurements: tuple[ReferenceMeasurement, ...]


@dataclass(frozen=True)
class MeasuredComponent:
    key: str
    digests: Mapping[str, bytes]  # canonical algorithm name -> digest, every one provcheck computed
    how: str  # "computed by provcheck from the file", "measured by the device (signed)", ...
    evidence: Mapping[str, str] = field(default_factory=dict)
    #: judged only when a reference names it (a PCR still at its reset value: nothing was measured into it)
    optional: bool = False
    #: the reference measurement it is judged against, when not ``key`` itself; with ``member``, the reference's
    #: digests are a set of allowed values (event digests), each of which the component's digest may be
    reference_key: str | None = None
    member: bool = False


@dataclass(frozen=True)
class _Compared:
    agree: list[str] = field(default_factory=list)
    disagree: list[tuple[str, str, str, str]] = field(default_factory=list)  # (alg, reference, measured, source)
    unusable: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def check_reference_values(
    device: DeviceClass | None,
    measured: Sequence[MeasuredComponent],
    references: Sequence[ReferenceValues],
    *,
    missing: str = "warn",
) -> list[Finding]:
    """One finding per measured component: ``refval.match``, ``refval.mismatch`` or ``refval.missing``."""
    trusted = [r for r in references if r.signer]
    selected = [r for r in trusted if device is not None and r.environment.selects(device)]
    by_key: dict[str, list[tuple[ReferenceMeasurement, str]]] = {}
    for ref in selected:
        for m in ref.measurements:
            by_key.setdefault(m.key, []).append((m, ref.source))
    out: list[Finding] = []
    for component in measured:
        refs = by_key.get(component.reference_key or component.key, [])
        if not refs:
            if component.optional:
                continue
            out.append(_missing(component, _why_none(device, trusted, selected), missing))
            continue
        result = _membership(component, refs) if component.member else _compare(component, refs)
        out.append(_judged(component, result, device, missing))
    return out


def _why_none(
    device: DeviceClass | None, trusted: Sequence[ReferenceValues], selected: Sequence[ReferenceValues]
) -> str:
    if device is None:
        return "the device's class (vendor and model) is unknown: no device was read and the release declares none"
    if not trusted:
        return "no trusted reference values were given"
    if not selected:
        classes = sorted({r.environment.label() for r in trusted})
        shown = ", ".join(classes[:4]) + (" ..." if len(classes) > 4 else "")
        return f"no trusted CoRIM describes the device class {device.label()} (they describe: {shown})"
    return f"the trusted reference values for {device.label()} name no digest for it"


def _compare(component: MeasuredComponent, refs: Sequence[tuple[ReferenceMeasurement, str]]) -> _Compared:
    result = _Compared()
    others: dict[str, set[bytes]] = {}  # strong algorithms provcheck did not compute: must still agree
    for measurement, source in refs:
        result.sources.append(source)
        for digest in measurement.digests:
            algorithm = ALGORITHMS.get(digest.algorithm)
            if algorithm is None:
                result.unusable.append(f"unknown algorithm {digest.algorithm!r}")
                continue
            got = component.digests.get(algorithm.name)
            if algorithm.truncated_to is not None or len(digest.value) != algorithm.length:
                # Truncated: never a match; a value that is not the truncation of ours is still a difference.
                kept = algorithm.truncated_to or len(digest.value)
                if got is not None and got[:kept] != digest.value:
                    result.disagree.append((algorithm.label(), digest.value.hex(), got[:kept].hex(), source))
                else:
                    result.unusable.append(f"{algorithm.label()} truncated to {len(digest.value)} bytes")
                continue
            if got is None:
                others.setdefault(algorithm.name, set()).add(digest.value)
                result.unusable.append(f"{algorithm.name} (not computed here)")
            elif got == digest.value:
                result.agree.append(algorithm.name)
            else:
                result.disagree.append((algorithm.name, digest.value.hex(), got.hex(), source))
    for name, values in sorted(others.items()):
        if len(values) > 1:
            shown = " vs ".join(sorted(v.hex()[:16] + "..." for v in values))
            result.disagree.append((name, shown, "(not computed here)", "the reference values disagree"))
    return result


def _membership(component: MeasuredComponent, refs: Sequence[tuple[ReferenceMeasurement, str]]) -> _Compared:
    """Each reference lists allowed digests; every reference must allow the component's digest, on every algorithm
    it lists and provcheck has (one that does not allow it is a mismatch, whatever the others say)."""
    result = _Compared()
    for measurement, source in refs:
        result.sources.append(source)
        allowed: dict[str, set[bytes]] = {}
        for digest in measurement.digests:
            algorithm = ALGORITHMS.get(digest.algorithm)
            if algorithm is None or not algorithm.strong or len(digest.value) != algorithm.length:
                result.unusable.append(f"allowed digest of algorithm {digest.algorithm!r} ({len(digest.value)} bytes)")
                continue
            allowed.setdefault(algorithm.name, set()).add(digest.value)
        for name, values in sorted(allowed.items()):
            got = component.digests.get(name)
            if got is None:
                result.unusable.append(f"{name} (not in the log)")
            elif got in values:
                result.agree.append(name)
            else:
                result.disagree.append((name, f"none of the {len(values)} allowed {name} digests", got.hex(), source))
    return result


def _judged(component: MeasuredComponent, result: _Compared, device: DeviceClass | None, missing: str) -> Finding:
    where = device.label() if device is not None else "?"
    sources = sorted(set(result.sources))
    if result.disagree:
        alg, want, got, source = result.disagree[0]
        return failed(
            "refval.mismatch",
            f"{alg} {_short(got)} differs from the reference value {_short(want)} for {where} in {source} "
            f"({component.how})",
            component.key,
            algorithm=alg,
            measured=got,
            reference=want,
            reference_source=source,
            differences=[{"algorithm": a, "reference": w, "measured": g, "source": s}
                         for a, w, g, s in result.disagree],
            device_class=where,
            device_class_from=device.source if device is not None else None,
            measured_by=component.how,
            component=dict(component.evidence),
        )
    if result.agree:
        algorithms = sorted(set(result.agree))
        note = f"; not compared: {', '.join(sorted(set(result.unusable)))}" if result.unusable else ""
        return passed(
            "refval.match",
            f"{' and '.join(algorithms)} equal the reference values for {where} ({component.how}){note}",
            component.key,
            algorithms=algorithms,
            digests={a: component.digests[a].hex() for a in algorithms},
            references=sources,
            device_class=where,
            device_class_from=device.source if device is not None else None,
            measured_by=component.how,
            component=dict(component.evidence),
        )
    reasons = ", ".join(sorted(set(result.unusable))) or "no digest"
    return _missing(
        component,
        f"the reference values for {where} give no digest provcheck can match ({reasons}); a truncated, weak or "
        "unknown digest is never a match",
        missing,
        references=sources,
    )


def _short(value: str) -> str:
    """A digest as a message names it (the evidence keeps it whole)."""
    return f"{value[:16]}…" if len(value) > 20 and " " not in value else value


def _missing(component: MeasuredComponent, why: str, missing: str, **extra: object) -> Finding:
    make = failed if missing == "fail" else warned
    return make(
        "refval.missing",
        f"no reference value ({component.how}): {why}",
        component.key,
        measured={a: d.hex() for a, d in sorted(component.digests.items())},
        policy_missing=missing,
        component=dict(component.evidence),
        **extra,
    )
