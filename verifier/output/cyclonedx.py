"""CycloneDX 1.6: an intake's result as a BOM that a buyer's SBOM/HBOM tooling can ingest.

Hand-written part: ``declarations`` (CDXA), as JSON beside the library's output; cyclonedx-python-lib 11 has no
model for them. Everything else is the library's model, written by its JSON outputter.

The BOM body:

- ``metadata.component`` is the device as seen (bom-ref ``device``): manufacturer, model, board revision and
  serial as it reported them, each fact's strength (signed, measured, reported, as provcheck derived it) as a
  ``provcheck:strength:*`` property;
- ``components``: the parts it reported (type ``device``, ``cdx:device:*`` properties as in an HBOM), the
  regions it measured (type ``firmware``) and the firmware file (bom-ref ``firmware``) with its digests;
- ``definitions.standards``: the policy as a standard whose requirements are the check ids evaluated
  (under ``policy``, the whole policy); ``metadata.properties`` the verdict and the exit code.

The verdict is CDXA ``declarations``: provcheck as the assessor, one attestation that maps each requirement
to its claim with a conformance (1 held, 0 did not) and a confidence (1 decided, 0 inconclusive), one claim
per check id whose evidence is its passing findings and counter-evidence the others, each finding whole as a
JSON attachment. Each claim targets the device or the firmware by bom-ref: the ``targets`` list is left out,
since it would describe both a second time under bom-refs that must be unique.

Every value from the device or a file is data only: names, properties and attachments, never a bom-ref (those
are provcheck's own), and the digests become hashes only when they are hex of the algorithm's length.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from verifier import __version__
from verifier.checks.catalogue import lookup
from verifier.model import Finding, Report, Status, Verdict

if TYPE_CHECKING:
    from cyclonedx.model import HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component
    from cyclonedx.model.definition import Standard

SPEC_VERSION = "1.6"
DEVICE_REF = "device"
FIRMWARE_REF = "firmware"
POLICY_REF = "policy"
ASSESSOR_REF = "assessor-provcheck"
#: Hex digits of each algorithm a digest may be written as a CycloneDX hash with.
_HASHES = {"sha256": ("SHA-256", 64), "sha384": ("SHA-384", 96), "sha512": ("SHA-512", 128)}
_HEX = re.compile(r"[0-9a-fA-F]+")
#: The identity facts that have a place of their own in a component; the rest become properties.
_PLACED = ("manufacturer", "model", "board_revision", "serial")
MAX_RATIONALE = 1000
#: The 1.6 schema's limit on a version: a longer revision is kept whole as a property instead.
MAX_VERSION = 1024


class CycloneDxRenderer:
    name = "cyclonedx"

    def render(self, report: Report) -> str:
        return json.dumps(self.document(report), indent=2) + "\n"

    def document(self, report: Report) -> dict[str, Any]:
        from cyclonedx.output.json import JsonV1Dot6

        checks = _by_check(report.findings)
        inventory = report.metadata.get("inventory")
        inventory = inventory if isinstance(inventory, Mapping) else {}
        has_firmware = bool(_list(inventory.get("firmware")))
        with warnings.catch_warnings():
            # The library warns (on stderr) of what it would drop or finds incomplete; the tests validate the output.
            warnings.simplefilter("ignore")
            bom = _bom(report, inventory, list(checks))
            document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
        document["declarations"] = _declarations(report, checks, has_firmware)
        return document


# --- the BOM body: the library's model -------------------------------------------------------------------------


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _property(name: str, value: object) -> Property | None:
    from cyclonedx.model import Property

    text = _text(value)
    return Property(name=name, value=text) if text is not None else None


def _hash(algorithm: object, digest: object) -> HashType | None:
    from cyclonedx.model import HashAlgorithm, HashType

    known = _HASHES.get(str(algorithm).lower().replace("-", ""))
    if known is None or not isinstance(digest, str) or len(digest) != known[1] or not _HEX.fullmatch(digest):
        return None
    return HashType(alg=HashAlgorithm(known[0]), content=digest.lower())


def _version(value: str | None) -> str | None:
    return value if value is not None and len(value) <= MAX_VERSION else None


def _fact(device: Mapping[str, Any], name: str) -> str | None:
    fact = device.get(name)
    return _text(fact.get("value")) if isinstance(fact, Mapping) else None


def _device(report: Report, device: Mapping[str, Any]) -> Component:
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity

    properties = []
    serial = _fact(device, "serial")
    if serial is not None:
        properties.append(_property("cdx:device:serialNumber", serial))
    for name, fact in sorted(device.items()):
        if not isinstance(fact, Mapping):
            continue
        if name not in _PLACED:
            properties.append(_property(f"provcheck:device:{name}", fact.get("value")))
        properties.append(_property(f"provcheck:strength:{name}", fact.get("strength")))
    properties.append(_property("provcheck:device:read", "true" if device else "false"))
    revision = _fact(device, "board_revision")
    if revision is not None and _version(revision) is None:
        properties.append(_property("provcheck:device:board_revision", revision))
    manufacturer = _fact(device, "manufacturer")
    return Component(
        type=ComponentType.DEVICE,
        name=_fact(device, "model") or report.subject or "device",
        bom_ref=DEVICE_REF,
        manufacturer=OrganizationalEntity(name=manufacturer) if manufacturer else None,
        version=_version(revision),
        properties=[p for p in properties if p is not None],
    )


def _part(index: int, part: Mapping[str, Any]) -> Component:
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity

    manufacturer = _text(part.get("manufacturer"))
    revision = _text(part.get("revision"))
    properties = [
        _property("provcheck:revision", revision if _version(revision) is None else None),
        _property("cdx:device:function", part.get("class")),
        _property("cdx:device:serialNumber", part.get("serial")),
        _property("provcheck:strength", part.get("strength")),
        _property("provcheck:source", part.get("source")),
    ]
    return Component(
        type=ComponentType.DEVICE,
        name=_text(part.get("model")) or _text(part.get("class")) or "component",
        bom_ref=f"device-component-{index}",
        manufacturer=OrganizationalEntity(name=manufacturer) if manufacturer else None,
        version=_version(revision),
        properties=[p for p in properties if p is not None],
    )


def _region(index: int, region: Mapping[str, Any]) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    digest = _hash(region.get("algorithm"), region.get("digest"))
    properties = [
        _property("provcheck:region:address", hex(region["address"]) if isinstance(region.get("address"), int)
                  else None),
        _property("provcheck:region:size", region.get("size")),
        _property("provcheck:region:path", region.get("path")),
        _property("provcheck:region:method", region.get("method")),
        _property("provcheck:strength", region.get("strength")),
    ]
    if digest is None:  # crc32, or not a digest at all: kept as what it is
        properties.append(_property(f"provcheck:region:digest:{_text(region.get('algorithm')) or 'unknown'}",
                                    region.get("digest")))
    return Component(
        type=ComponentType.FIRMWARE,
        name=_text(region.get("name")) or "region",
        bom_ref=f"device-region-{index}",
        hashes=[digest] if digest is not None else [],
        properties=[p for p in properties if p is not None],
    )


def _firmware(index: int, firmware: Mapping[str, Any]) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    digests = firmware.get("digests")
    hashes = [_hash(alg, value) for alg, value in sorted(digests.items())] if isinstance(digests, Mapping) else []
    return Component(
        type=ComponentType.FIRMWARE,
        name=_text(firmware.get("name")) or "firmware",
        bom_ref=FIRMWARE_REF if index == 0 else f"{FIRMWARE_REF}-{index}",
        hashes=[h for h in hashes if h is not None],
        properties=[p for p in (_property("provcheck:role", "firmware file given to intake"),) if p is not None],
    )


def _timestamp(report: Report) -> datetime | None:
    generated = report.metadata.get("generated_at")
    try:
        return datetime.fromisoformat(generated) if isinstance(generated, str) else None
    except ValueError:
        return None


def _policy_standard(report: Report, checks: Sequence[str]) -> Standard:
    from cyclonedx.model.definition import Requirement, Standard

    policy = report.metadata.get("policy")
    policy = policy if isinstance(policy, Mapping) else {}
    sources = ", ".join(str(s) for s in _list(policy.get("sources"))) or "the policy"
    requirements = [Requirement(bom_ref=POLICY_REF + "-all", identifier=POLICY_REF,
                                title="every check the policy requires holds",
                                text="The intake verdict: pass only when every required check passed.")]
    for index, check in enumerate(checks):
        known = lookup(check)
        requirements.append(Requirement(
            bom_ref=_requirement_ref(index), identifier=check, parent=POLICY_REF + "-all",
            title=known.summary if known is not None else f"provcheck check {check}",
        ))
    return Standard(
        bom_ref=POLICY_REF, name="provcheck intake policy", version=_text(policy.get("sha256")),
        description=f"The checks provcheck evaluated under {sources}", owner="the operator running provcheck",
        requirements=requirements,
    )


def _bom(report: Report, inventory: Mapping[str, Any], checks: Sequence[str]) -> Bom:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.definition import Definitions

    device = inventory.get("device")
    device = device if isinstance(device, Mapping) else {}
    bom = Bom()
    timestamp = _timestamp(report)
    if timestamp is not None:
        bom.metadata.timestamp = timestamp
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="provcheck", version=__version__, bom_ref="tool-provcheck")
    )
    bom.metadata.component = _device(report, device)
    release = report.metadata.get("release")
    release = release if isinstance(release, Mapping) else {}
    facts = [
        _property("provcheck:verdict", report.verdict.value),
        _property("provcheck:exit-code", int(report.exit_code)),
        _property("provcheck:strict", "true" if report.strict else "false"),
        _property("provcheck:title", report.title),
        _property("provcheck:release:name", release.get("name")),
        _property("provcheck:release:version", release.get("version")),
    ]
    bom.metadata.properties.update(p for p in facts if p is not None)
    parts = [_part(i, p) for i, p in enumerate(_list(inventory.get("components"))) if isinstance(p, Mapping)]
    regions = [_region(i, r) for i, r in enumerate(_list(inventory.get("regions"))) if isinstance(r, Mapping)]
    files = [_firmware(i, f) for i, f in enumerate(_list(inventory.get("firmware"))) if isinstance(f, Mapping)]
    bom.components.update(parts + regions + files)
    # The device is made of what it reported and measured, and runs the firmware: a complete dependency graph.
    bom.register_dependency(bom.metadata.component, parts + regions + files)
    bom.definitions = Definitions(standards=[_policy_standard(report, checks)])
    return bom


# --- the verdict: CDXA declarations (hand-written: the library has no model for them) ----------------------------


def _requirement_ref(index: int) -> str:
    return f"{POLICY_REF}-requirement-{index}"


def _by_check(findings: Sequence[Finding]) -> dict[str, list[tuple[int, Finding]]]:
    out: dict[str, list[tuple[int, Finding]]] = {}
    for index, finding in enumerate(findings):
        out.setdefault(finding.check, []).append((index, finding))
    return out


def _outcome(findings: Sequence[Finding], strict: bool) -> tuple[float, float, str]:
    """Conformance, confidence and why, for one check's findings (the verdict rules, per check)."""
    against = [f for f in findings if f.status is Status.FAIL or (strict and f.status in (Status.WARN, Status.SKIP))]
    if against:
        return 0.0, 1.0, "failed: " + "; ".join(f.message for f in against)
    undecided = [f for f in findings if f.status is Status.ERROR or (f.status is Status.SKIP and f.required)]
    if undecided:
        return 0.0, 0.0, "not decided: " + "; ".join(f.message for f in undecided)
    if not any(f.status in (Status.PASS, Status.WARN) for f in findings):
        return 0.0, 0.0, "not evaluated: " + "; ".join(f.message for f in findings)
    warned = [f for f in findings if f.status is Status.WARN]
    if warned:
        return 1.0, 1.0, "held, with warnings: " + "; ".join(f.message for f in warned)
    return 1.0, 1.0, "held: " + "; ".join(f.message for f in findings)


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_RATIONALE else text[: MAX_RATIONALE - 3] + "..."


def _evidence_entry(index: int, finding: Finding, created: str | None) -> dict[str, Any]:
    content = json.dumps(finding.to_json(), sort_keys=True, default=str)
    entry: dict[str, Any] = {
        "bom-ref": f"finding-{index}",
        "propertyName": f"provcheck:finding:{finding.status.value}",
        "description": finding.message,
        "data": [{"name": finding.check, "contents": {"attachment": {"contentType": "application/json",
                                                                    "content": content}}}],
        "author": {"name": "provcheck"},
    }
    if created is not None:
        entry["created"] = created
    return entry


def _declarations(report: Report, checks: Mapping[str, list[tuple[int, Finding]]], has_firmware: bool
                  ) -> dict[str, Any]:
    timestamp = _timestamp(report)
    created = timestamp.isoformat() if timestamp is not None else None
    claims: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    mapped: list[dict[str, Any]] = []
    for index, (check, numbered) in enumerate(checks.items()):
        findings = [f for _, f in numbered]
        conformance, confidence, why = _outcome(findings, report.strict)
        known = lookup(check)
        claim: dict[str, Any] = {
            "bom-ref": f"claim-{index}",
            "target": FIRMWARE_REF if has_firmware and check.startswith("firmware.") else DEVICE_REF,
            "predicate": f"{check}: {known.summary if known is not None else 'holds'}",
            "reasoning": _bounded(why),
        }
        supporting = [f"finding-{n}" for n, f in numbered if f.status is Status.PASS]
        countering = [f"finding-{n}" for n, f in numbered if f.status is not Status.PASS]
        if supporting:
            claim["evidence"] = supporting
        if countering:
            claim["counterEvidence"] = countering
        claims.append(claim)
        evidence += [_evidence_entry(n, f, created) for n, f in numbered]
        mapped.append({
            "requirement": _requirement_ref(index),
            "claims": [claim["bom-ref"]],
            "conformance": {"score": conformance, "rationale": _bounded(why), "mitigationStrategies": []},
            "confidence": {"score": confidence, "rationale": "decided" if confidence else "could not be decided"},
        })
    verdict = report.verdict
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
    reasons = "; ".join(f"{f.check}: {f.message}" for f in report.reasons()) or "every required check held"
    mapped.insert(0, {
        "requirement": POLICY_REF + "-all",
        "claims": [c["bom-ref"] for c in claims],
        "conformance": {"score": 1.0 if verdict is Verdict.PASS else 0.0, "rationale": _bounded(reasons),
                        "mitigationStrategies": []},
        "confidence": {"score": 0.0 if verdict is Verdict.INCONCLUSIVE else 1.0,
                       "rationale": f"verdict {verdict.value}" + (" (strict)" if report.strict else "")},
    })
    return {
        "assessors": [{"bom-ref": ASSESSOR_REF, "thirdParty": False, "organization": {"name": "provcheck"}}],
        "attestations": [{"summary": _bounded(f"{report.title}: {verdict.value.upper()} ({counts})"),
                          "assessor": ASSESSOR_REF, "map": mapped}],
        "claims": claims,
        "evidence": evidence,
    }
