"""Vendor releases: every statement about one firmware release, signed into one ``.intoto.jsonl``.

A release directory holds:
- ``release.intoto.jsonl``: DSSE envelopes, one per statement, all signed with the vendor key(s):
  a firmware manifest per shipped image, the device manifest (and, when it was given as a CycloneDX
  HBOM, the HBOM itself), SLSA provenance and the SBOM when given, and a release index statement that
  ties them together (name, version, creation time);
- ``index.json``: an unsigned summary of the same, for people and scripts;
- any Sigstore bundle given as provenance, copied unchanged (it carries its own signature).

The release verifies on its own: ``provcheck attest verify FW... --bundle release.intoto.jsonl --key VENDOR.pub``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attestations import predicates, strict_json
from attestations.dsse import Envelope, parse_envelope, sign_envelope, write_jsonl
from attestations.errors import InputError
from attestations.files import read_limited, write_atomic
from attestations.keys import Signer
from attestations.statement import Subject, build_statement, parse_statement, subject_for_file
from verifier.checks.raw_image import compare, pin
from verifier.declared.device_manifest import load_device_manifest, manifest_from_predicate
from verifier.errors import BadInputError, UsageError
from verifier.firmware.inventory import build_manifest
from verifier.firmware.loader import load_file
from verifier.model import Status
from verifier.workflows.release_corim import corim_name, release_corim
from verifier.workflows.secureboot import refuse_test_keys

logger = logging.getLogger(__name__)

BUNDLE_NAME = "release.intoto.jsonl"
INDEX_NAME = "index.json"
INDEX_FORMAT = "provcheck-release-index/v1"
_JSON_LIMIT = 32 * 1024 * 1024


@dataclass(frozen=True)
class ReleaseRequest:
    firmware: Sequence[Path]
    builds: Sequence[Path] = ()
    device_manifest: Path | None = None
    provenance: Path | None = None
    sbom: Path | None = None
    name: str | None = None
    version: str | None = None
    created: datetime | None = None
    #: also write NAME.corim: the declared measurements as a signed CoRIM (``verifier.workflows.release_corim``)
    corim: bool = False
    #: sign even when an image's Secure Boot PK or KEK is a known test key (--insecure-allow-test-keys)
    allow_test_keys: bool = False


@dataclass(frozen=True)
class ReleaseEntry:
    predicate_type: str
    subjects: tuple[Subject, ...]
    origin: str

    def to_json(self) -> dict[str, Any]:
        return {
            "predicateType": self.predicate_type,
            "kind": predicates.describe(self.predicate_type),
            "subjects": [s.to_json() for s in self.subjects],
            "from": self.origin,
        }


@dataclass(frozen=True)
class SignedRelease:
    directory: Path
    bundle: Path
    index: Path
    entries: tuple[ReleaseEntry, ...]
    signers: tuple[str, ...]
    extra_files: tuple[Path, ...] = field(default_factory=tuple)


def _load_json(path: Path, what: str) -> Any:
    data = read_limited(path, limit=_JSON_LIMIT, what=what)
    try:
        # Strict: what is re-signed here must be what the builder's own tools read.
        return strict_json.loads(data, f"{what} {path}")
    except InputError as exc:
        raise BadInputError(str(exc)) from None


def firmware_manifest_predicate(build: Path, shipped: Path | None = None) -> dict[str, Any]:
    """The firmware-manifest predicate of ``build`` (usually the unstripped build output) for ``shipped``.

    A release whose every intake would fail is refused here (BadInputError, exit 2): the shipped image must be
    the build's format, or a raw image that is the ELF build laid out by load address (``objcopy -O binary``,
    U-Boot's ``u-boot.bin`` from ``u-boot``). The raw image's size, gap fill and left-out sections are then
    pinned in the manifest, as checked here.
    """
    predicate = dict(build_manifest(build).to_predicate())
    if shipped is None or shipped == build:
        return predicate

    image = load_file(shipped)
    declared = predicate.get("format")
    if image.kind == "too-large":
        raise BadInputError(f"{shipped}: {image.events[0].detail}")
    if image.kind == declared == "raw" and predicate.get("file", {}).get("sha256") != _sha256(image.data):
        raise BadInputError(f"{shipped.name} and its --build {build.name} are both raw images with different bytes: "
                            "every intake would fail firmware.changed-code; give the ELF the image was made from")
    if image.kind == declared:
        return predicate
    if image.kind == "raw" and declared == "elf" and predicate.get("raw_image"):
        findings = compare(predicate["raw_image"], image.data, label="build", subject=shipped.name)
        wrong = [f.message for f in findings if f.status is Status.FAIL]
        if wrong:
            raise BadInputError(f"{shipped.name} is not {build.name} laid out by load address (objcopy -O binary): "
                                f"{wrong[0]}; give the ELF the raw image was made from as --build")
        predicate["raw_image"] = pin(predicate["raw_image"], image.data, findings)
        return predicate
    raise BadInputError(f"{shipped.name} is a {image.kind} image but its --build {build.name} is {declared}: every "
                        "intake would fail firmware.format; give the build of the same format (or the ELF of a raw "
                        "image)")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def device_manifest_predicate(path: Path) -> tuple[dict[str, Any], str]:
    """The device-manifest predicate from the project's predicate, a Statement carrying it, or a CycloneDX HBOM."""
    manifest = load_device_manifest(path)
    raw = _load_json(path, "device manifest")
    origin = "CycloneDX HBOM" if isinstance(raw, dict) and raw.get("bomFormat") == "CycloneDX" else "device manifest"
    return dict(manifest.to_predicate()), origin


def _is_cyclonedx(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("bomFormat") == "CycloneDX"


def _provenance(
    path: Path, subjects: Sequence[Subject]
) -> tuple[list[tuple[Sequence[Subject], str, Mapping[str, Any]]], list[Envelope], Path | None]:
    """Statements to sign, envelopes already signed by the builder, or a Sigstore bundle to ship as is."""
    obj = _load_json(path, "provenance")
    if not isinstance(obj, dict):
        raise BadInputError(f"provenance {path} is not a JSON object")
    if "payloadType" in obj and "signatures" in obj:
        return [], [parse_envelope(obj, str(path))], None
    if "mediaType" in obj and "verificationMaterial" in obj:
        return [], [], path
    if "_type" in obj:
        statement = parse_statement(json.dumps(obj).encode())
        if statement.predicate_type not in (predicates.SLSA_PROVENANCE_V1, predicates.SLSA_PROVENANCE_V02):
            raise BadInputError(f"provenance {path} is a {statement.predicate_type} statement, not SLSA provenance")
        return [(statement.subjects, statement.predicate_type, statement.predicate)], [], None
    if "buildDefinition" in obj and "runDetails" in obj:
        return [(subjects, predicates.SLSA_PROVENANCE_V1, obj)], [], None
    raise BadInputError(
        f"provenance {path} is neither SLSA provenance v1 (predicate or statement), "
        "a DSSE envelope nor a Sigstore bundle"
    )


def sign_release(request: ReleaseRequest, signers: Sequence[Signer], out_dir: Path) -> SignedRelease:
    """Build every statement, sign them all, and write the release directory in one rename."""
    if not request.firmware:
        raise UsageError("a release needs at least one --firmware image")
    if request.builds and len(request.builds) != len(request.firmware):
        raise UsageError(
            f"--build is given {len(request.builds)} times for {len(request.firmware)} --firmware images; "
            "give one unstripped build per image, in the same order, or none"
        )
    if not signers:
        raise UsageError("a release needs at least one vendor --key")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"{out_dir} already exists and is not empty; choose a new release directory")

    for finding in refuse_test_keys(request.firmware, allow=request.allow_test_keys):
        logger.warning("signing anyway (--insecure-allow-test-keys): %s: %s", finding.subject, finding.message)
    shipped = [subject_for_file(path) for path in request.firmware]
    names = [s.name for s in shipped]
    if len(set(names)) != len(names):
        raise UsageError("two --firmware images have the same file name; a release names each image once")
    statements: list[tuple[Sequence[Subject], str, Mapping[str, Any], str]] = []
    for index, (image, subject) in enumerate(zip(request.firmware, shipped, strict=True)):
        build = request.builds[index] if request.builds else image
        statements.append(
            (
                [subject],
                predicates.FIRMWARE_MANIFEST,
                firmware_manifest_predicate(build, image),
                f"firmware inventory of {build.name}" + (f" (shipped as {image.name})" if build != image else ""),
            )
        )
    if request.device_manifest is not None:
        device, origin = device_manifest_predicate(request.device_manifest)
        statements.append((shipped, predicates.DEVICE_MANIFEST, device, f"{origin} {request.device_manifest.name}"))
        hbom = _load_json(request.device_manifest, "device manifest")
        if _is_cyclonedx(hbom):
            # The HBOM itself is signed too, unchanged: the predicate keeps only what provcheck checks on the
            # device, while the HBOM's suppliers, countries and everything else stay the vendor's signed word.
            statements.append((shipped, predicates.CYCLONEDX, hbom, f"CycloneDX HBOM {request.device_manifest.name}"))
    prebuilt: list[Envelope] = []
    bundle_copy: Path | None = None
    if request.provenance is not None:
        to_sign, prebuilt, bundle_copy = _provenance(request.provenance, shipped)
        for subjects, ptype, provenance in to_sign:
            statements.append((subjects, ptype, provenance, f"provenance {request.provenance.name}"))
    if request.sbom is not None:
        bom = _load_json(request.sbom, "SBOM")
        if not _is_cyclonedx(bom):
            raise BadInputError(f"SBOM {request.sbom} is not a CycloneDX JSON document (no bomFormat: CycloneDX)")
        statements.append((shipped, predicates.CYCLONEDX, bom, f"CycloneDX SBOM {request.sbom.name}"))

    created = (request.created or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    entries = [ReleaseEntry(ptype, tuple(subjects), origin) for subjects, ptype, _, origin in statements]
    for envelope in prebuilt:
        statement = parse_statement(envelope.payload)
        entries.append(ReleaseEntry(statement.predicate_type, statement.subjects, "signed by its builder"))
    name = request.name or request.firmware[0].stem
    index_predicate = {
        "name": name,
        "version": request.version or "",
        "created": created,
        "statements": [e.to_json() for e in entries],
        "sigstore_bundles": [bundle_copy.name] if bundle_copy else [],
    }
    envelopes = [
        sign_envelope(build_statement(subjects, ptype, predicate), predicates.INTOTO_PAYLOAD_TYPE, signers)
        for subjects, ptype, predicate, _ in statements
    ]
    envelopes += prebuilt
    envelopes.append(
        sign_envelope(
            build_statement(shipped, predicates.RELEASE_INDEX, index_predicate), predicates.INTOTO_PAYLOAD_TYPE, signers
        )
    )
    entries.append(ReleaseEntry(predicates.RELEASE_INDEX, tuple(shipped), "release index"))
    corim = _corim(request, name, created, statements, signers) if request.corim else None
    index_doc = {
        "format": INDEX_FORMAT,
        "name": name,
        "version": request.version or "",
        "created": created,
        "bundle": BUNDLE_NAME,
        "signers": [s.public.keyid for s in signers],
        "firmware": [s.to_json() for s in shipped],
        "statements": [e.to_json() for e in entries],
        "sigstore_bundles": [bundle_copy.name] if bundle_copy else [],
        "verify": f"provcheck attest verify {' '.join(names)} --bundle {BUNDLE_NAME} --key VENDOR.pub",
    }
    if corim is not None:
        index_doc["corim"] = corim[0]

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        write_jsonl(staging / BUNDLE_NAME, envelopes)
        write_atomic(staging / INDEX_NAME, json.dumps(index_doc, indent=2, sort_keys=True).encode() + b"\n")
        if bundle_copy is not None:
            shutil.copyfile(bundle_copy, staging / bundle_copy.name)
        if corim is not None:
            write_atomic(staging / corim[0], corim[1])
        os.chmod(staging, 0o755)  # noqa: S103 - mkdtemp makes it 0700; a release is public, meant to be shared
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SignedRelease(
        directory=out_dir,
        bundle=out_dir / BUNDLE_NAME,
        index=out_dir / INDEX_NAME,
        entries=tuple(entries),
        signers=tuple(s.public.describe() for s in signers),
        extra_files=((out_dir / bundle_copy.name,) if bundle_copy else ()) + ((out_dir / corim[0],) if corim else ()),
    )


def _corim(
    request: ReleaseRequest,
    name: str,
    created: str,
    statements: Sequence[tuple[Sequence[Subject], str, Mapping[str, Any], str]],
    signers: Sequence[Signer],
) -> tuple[str, bytes]:
    """``NAME.corim`` and its bytes: the release's declared measurements, signed (``release sign --corim``)."""
    firmware = [s[2] for s in statements if s[1] == predicates.FIRMWARE_MANIFEST]
    device = next((s[2] for s in statements if s[1] == predicates.DEVICE_MANIFEST), None)
    return corim_name(name), release_corim(
        name=name,
        version=request.version or "",
        created=created,
        images=list(zip(request.firmware, firmware, strict=True)),
        device=manifest_from_predicate(device) if device is not None else None,
        signers=signers,
    )


@dataclass(frozen=True)
class ReleaseFiles:
    """What intake reads from a release directory (nothing in it is trusted until verified)."""

    directory: Path
    bundle: Path
    sigstore_bundles: tuple[Path, ...]
    index: Mapping[str, Any]


def locate_release(directory: Path) -> ReleaseFiles:
    """Find the signed statements of a release directory (or a bare ``.intoto.jsonl``)."""
    if directory.is_file():
        return ReleaseFiles(directory.parent, directory, (), {})
    if not directory.is_dir():
        raise BadInputError(f"release {directory} does not exist")
    bundle = directory / BUNDLE_NAME
    if not bundle.is_file():
        candidates = sorted(directory.glob("*.intoto.jsonl"))
        if len(candidates) != 1:
            raise BadInputError(f"release {directory} has no {BUNDLE_NAME}; sign one with 'provcheck release sign'")
        bundle = candidates[0]
    index: Mapping[str, Any] = {}
    index_path = directory / INDEX_NAME
    if index_path.is_file():
        loaded = _load_json(index_path, "release index")
        index = loaded if isinstance(loaded, dict) else {}
    extra = []
    for name in index.get("sigstore_bundles", []) if isinstance(index.get("sigstore_bundles"), list) else []:
        candidate = directory / Path(str(name)).name
        if candidate.is_file():
            extra.append(candidate)
    return ReleaseFiles(directory, bundle, tuple(extra), index)
