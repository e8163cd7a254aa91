"""``firmware scan``: load an image (and a baseline), analyse it, and judge it against what was declared.

Reading files happens here; ``verifier.checks.firmware`` judges the facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verifier.checks.firmware import judge_image, not_analysed
from verifier.checks.secureboot import SecureBootRules
from verifier.declared.fields import JsonObject
from verifier.declared.firmware_manifest import DeclaredManifest, read_declared_firmware
from verifier.errors import BadInputError
from verifier.firmware.authenticode import load_trust_anchors
from verifier.firmware.capabilities import compile_rules
from verifier.firmware.inventory import analyse
from verifier.firmware.limits import DEFAULT_LIMITS, Limits
from verifier.firmware.loader import load_file
from verifier.model import Finding
from verifier.workflows.secureboot import image_findings


def load_manifest(path: Path, image: Path | None = None) -> dict[str, Any]:
    """A firmware manifest from a plain predicate, a Statement, a DSSE envelope or a release ``.intoto.jsonl``.

    With several statements, the one declaring ``image`` (by digest, else by name); see
    ``verifier.declared.firmware_manifest``. No signature is checked here: ``firmware scan --key``, ``attest verify``
    and ``intake`` do that.
    """
    return dict(read_declared_firmware(path, image).predicate)


def _declared(manifest: DeclaredManifest | JsonObject) -> DeclaredManifest:
    """A manifest given as its predicate (intake's verified statement, a test's) is read here, once."""
    if isinstance(manifest, DeclaredManifest):
        return manifest
    return DeclaredManifest.from_predicate(manifest, "the manifest")


def scan_firmware(path: Path, *, manifest: DeclaredManifest | JsonObject | None = None, baseline: Path | None = None,
                  rules: Path | None = None, trust_anchors: Sequence[Path] = (),
                  limits: Limits = DEFAULT_LIMITS, secureboot: SecureBootRules | None = None) -> list[Finding]:
    """The image's findings; for a flash image holding a variable store, its Secure Boot keys' too, judged by
    ``secureboot`` (default: now, the shipped test keys and dbx reference)."""
    declared = _declared(manifest) if manifest is not None else None
    anchors = load_trust_anchors(trust_anchors)
    compiled = compile_rules(rules)
    image = load_file(path, limits)
    if image.kind == "too-large":
        return [not_analysed(image.events[0], path.name)]
    actual = analyse(image, rules=compiled)
    references: list[tuple[str, JsonObject]] = []
    if declared is not None:
        references.append(("manifest", declared.document))
    if baseline is not None:
        base_image = load_file(baseline, limits)
        if base_image.kind == "too-large":
            raise BadInputError(f"baseline {baseline}: {base_image.events[0].detail}")
        references.append(("baseline", analyse(base_image, rules=compiled, declare_bytes=True).predicate))
    findings = judge_image(actual, image.events, references, subject=path.name, anchors=anchors)
    return findings + image_findings(image.data, path.name, secureboot)
