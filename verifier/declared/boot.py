"""The declared boot: ``boot_measurements`` of a device manifest (docs/predicates.md), parsed once.

What the measured-boot judge (``verifier.checks.measured_boot``) compares a TPM quote and event log
with: expected PCR values, allowed event digests (boot images and firmware blobs), the Secure Boot
state and key databases, and the kernel command line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from verifier.errors import BadInputError

_PCR_INDEX = re.compile(r"[0-9]{1,2}")
MAX_PCR_INDEX = 31


@dataclass(frozen=True)
class BootReference:
    """Expected boot measurements; empty when the manifest declares none."""

    pcrs: Mapping[str, Mapping[int, bytes]] = field(default_factory=dict)
    allowed_event_digests: Mapping[str, frozenset[str]] = field(default_factory=dict)
    secure_boot: bool | None = None
    secure_boot_variables: Mapping[str, str] = field(default_factory=dict)
    kernel_cmdline: str | None = None

    @property
    def declared(self) -> bool:
        return bool(self.pcrs or self.allowed_event_digests or self.secure_boot is not None
                    or self.secure_boot_variables or self.kernel_cmdline is not None)

    @classmethod
    def from_json(cls, raw: object) -> BootReference:
        """Parse a ``boot_measurements`` object; a bad field is bad input naming it."""
        if not isinstance(raw, Mapping):
            raise BadInputError("boot_measurements must be an object")
        pcrs: dict[str, dict[int, bytes]] = {}
        for bank, values in _object(raw.get("pcrs"), "pcrs").items():
            if not isinstance(values, Mapping):
                raise BadInputError(f"boot_measurements.pcrs.{bank} must be an object of index -> hex")
            for index, value in values.items():
                if not _PCR_INDEX.fullmatch(str(index)) or int(index) > MAX_PCR_INDEX:
                    raise BadInputError(f"boot_measurements.pcrs.{bank}: {index!r} is not a PCR index")
                pcrs.setdefault(str(bank), {})[int(index)] = bytes.fromhex(hex_text(value, f"pcrs.{bank}.{index}"))
        allowed: dict[str, frozenset[str]] = {}
        for bank, digests in _object(raw.get("allowed_event_digests"), "allowed_event_digests").items():
            if not isinstance(digests, list):
                raise BadInputError(f"boot_measurements.allowed_event_digests.{bank} must be a list")
            allowed[str(bank)] = frozenset(hex_text(d, f"allowed_event_digests.{bank}") for d in digests)
        secure_boot = raw.get("secure_boot")
        if secure_boot is not None and not isinstance(secure_boot, bool):
            raise BadInputError("boot_measurements.secure_boot must be true or false")
        raw_vars = _object(raw.get("secure_boot_variables"), "secure_boot_variables")
        variables = {str(k): hex_text(v, f"secure_boot_variables.{k}") for k, v in raw_vars.items()}
        cmdline = raw.get("kernel_cmdline")
        if cmdline is not None and not isinstance(cmdline, str):
            raise BadInputError("boot_measurements.kernel_cmdline must be a string")
        return cls(pcrs, allowed, secure_boot, variables, cmdline)


def _object(value: object, name: str) -> Mapping[str, object]:
    """An optional object field (absent, null or empty is none)."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise BadInputError(f"boot_measurements.{name} must be an object")
    return value


def hex_text(value: object, where: str) -> str:
    """A hex string as declared, lowercased and without ``0x``; bad input naming ``where`` otherwise."""
    if not isinstance(value, str):
        raise BadInputError(f"boot_measurements: {where} must be a hex string")
    text = value.lower().removeprefix("0x")
    try:
        bytes.fromhex(text)
    except ValueError as exc:
        raise BadInputError(f"boot_measurements: {where} is not hex") from exc
    return text


def boot_reference_from_document(document: object) -> BootReference | None:
    """The boot reference in a JSON document given for the TPM commands, None when it declares none.

    Accepted as today: a device-manifest predicate (or a Statement's ``predicate``) with
    ``boot_measurements``, the ``{"boot_measurements": ...}`` fragment ``measure baseline``
    writes, or a bare ``boot_measurements`` object (one with ``pcrs`` or ``secure_boot``).
    Only ``boot_measurements`` is read: the rest of a manifest is not the TPM commands' to judge.
    """
    if not isinstance(document, Mapping):
        raise BadInputError("the device manifest must be a JSON object")
    bare = "pcrs" in document or "secure_boot" in document
    raw = document.get("boot_measurements", document if bare else None)
    return None if raw is None else BootReference.from_json(raw)
