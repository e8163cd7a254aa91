"""DeviceEvidence: what one serial session established about a device, and how strongly.

Every fact carries a strength:

- ``signed``: bound to a device key and the verifier's fresh nonce (attest profile);
- ``measured``: computed on the device (a digest, a PCR) but not signed;
- ``reported``: a string the device printed.

``read_device`` writes it; ``verifier.checks.device`` judges it. ``from_json`` is strict so
that a hand-edited or truncated file is rejected with ``EvidenceInputError``, never a crash.

The strengths (and ``signature_verified``) recorded here are what the reader saw, a claim of the
file about itself: the verifier re-derives every strength from what it can verify again
(``verifier.checks.device.derive_strengths``), and a label can only lower the result. Labels are
exact lowercase words; "Signed" or "SIGNED" is rejected, not read as a strength.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hw.errors import EvidenceInputError

EVIDENCE_SCHEMA = "https://provcheck.dev/device-evidence/v1"
STRENGTHS = ("signed", "measured", "reported")
MAX_EVIDENCE_BYTES = 64 * 1024 * 1024
IDENTITY_FIELDS = ("manufacturer", "model", "serial", "board_revision", "macs", "firmware_version")


@dataclass(frozen=True)
class Fact:
    """One identity value with its strength and the command or message it came from."""

    value: Any
    strength: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "strength": self.strength, "source": self.source}


@dataclass(frozen=True)
class Component:
    cls: str
    manufacturer: str | None
    model: str | None
    serial: str | None
    revision: str | None
    strength: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.cls,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial": self.serial,
            "revision": self.revision,
            "strength": self.strength,
            "source": self.source,
        }


@dataclass(frozen=True)
class RegionDigest:
    """A firmware region's digest as the device computed it (or as we computed from its dump).

    ``weak`` marks integrity-only algorithms (crc32): they detect accidents, not an adversary.
    """

    name: str
    address: int | None
    size: int | None
    algorithm: str
    digest: str
    method: str
    strength: str
    weak: bool = False
    # The device file it was read from (Linux profile); address and size say where for U-Boot and attest.
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "address": self.address,
            "size": self.size,
            "algorithm": self.algorithm,
            "digest": self.digest,
            "method": self.method,
            "strength": self.strength,
            "weak": self.weak,
        }
        if self.path is not None:
            out["path"] = self.path
        return out


@dataclass(frozen=True)
class IdentityKey:
    """The device's identity key: SubjectPublicKeyInfo fingerprint and the chain it presented."""

    fingerprint_sha256: str
    public_key_pem: str
    cert_chain_pem: tuple[str, ...]
    strength: str

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint_sha256": self.fingerprint_sha256,
            "public_key_pem": self.public_key_pem,
            "cert_chain_pem": list(self.cert_chain_pem),
            "strength": self.strength,
        }


@dataclass(frozen=True)
class SignedMeasurements:
    """The attest profile's signed payload, kept whole so the verifier can re-check it offline."""

    protocol_version: int
    algorithm: str
    payload_b64: str
    signature_b64: str
    #: What the reader found when it read the device; never trusted by the verifier, which verifies again.
    signature_verified: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol_version": self.protocol_version,
            "algorithm": self.algorithm,
            "payload_b64": self.payload_b64,
            "signature_b64": self.signature_b64,
            "signature_verified": self.signature_verified,
        }


@dataclass(frozen=True)
class SpdmRecord:
    """An SPDM exchange kept whole (spdm profile): every message, request and response alternating, in order.

    The verifier replays the messages (``hw.spdm.exchange``) and derives every fact from them and the trust
    anchor it is given; ``summary`` is written for people and never read back.
    """

    messages_b64: tuple[str, ...]
    slot: int = 0
    summary: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"messages_b64": list(self.messages_b64), "slot": self.slot, "summary": dict(self.summary)}


@dataclass(frozen=True)
class TpmQuote:
    message_b64: str
    signature_b64: str
    pcrs_b64: str

    def to_json(self) -> dict[str, Any]:
        return {"message_b64": self.message_b64, "signature_b64": self.signature_b64, "pcrs_b64": self.pcrs_b64}


@dataclass(frozen=True)
class TpmEvidence:
    """PCRs (bank -> index -> hex), the binary event log and a quote, as read over serial.

    The PCR values are ``measured``: the TPM computed them, but only a verified quote binds them.
    """

    pcrs: Mapping[str, Mapping[str, str]]
    event_log_b64: str | None
    quote: TpmQuote | None
    ak_public_pem: str | None
    strength: str = "measured"
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "pcrs": {bank: dict(values) for bank, values in self.pcrs.items()},
            "event_log_b64": self.event_log_b64,
            "quote": self.quote.to_json() if self.quote else None,
            "ak_public_pem": self.ak_public_pem,
            "strength": self.strength,
            "source": self.source,
        }


def _class_key(component_class: str) -> str:
    return " ".join(component_class.split()).casefold()


@dataclass(frozen=True)
class Observable:
    """Which component classes a read could see; the judge skips a declared class it could not, never fails it.

    ``component_classes`` None means every class the device itself declares (the attest device signs its
    own list). Classes compare casefolded, with runs of whitespace as one space.
    """

    component_classes: frozenset[str] | None
    ANY: ClassVar[Observable]

    @classmethod
    def of(cls, *component_classes: str) -> Observable:
        return cls(frozenset(_class_key(c) for c in component_classes))

    def sees(self, component_class: str) -> bool:
        return self.component_classes is None or _class_key(component_class) in self.component_classes

    def within(self, ceiling: Observable) -> Observable:
        """This statement, never more than ``ceiling``: a file may say it saw less than its profile can, not more."""
        if ceiling.component_classes is None:
            return self
        if self.component_classes is None:
            return ceiling
        return Observable(self.component_classes & ceiling.component_classes)

    def to_json(self) -> dict[str, Any]:
        classes = self.component_classes
        return {"component_classes": "any" if classes is None else sorted(classes)}


Observable.ANY = Observable(None)


@dataclass(frozen=True)
class DeviceEvidence:
    profile: str
    port: str
    identity: Mapping[str, Fact]
    components: tuple[Component, ...] = ()
    regions: tuple[RegionDigest, ...] = ()
    tpm: TpmEvidence | None = None
    identity_key: IdentityKey | None = None
    attestation: SignedMeasurements | None = None
    nonce: str | None = None
    transcript: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: What the profile could observe, as the reader stated it; None in files written before it was recorded.
    #: The judge takes it only within what the registry says the profile can observe (``hw.observation.observed``).
    observable: Observable | None = None
    #: The SPDM exchange (spdm profile), kept so that it can be verified again offline.
    spdm: SpdmRecord | None = None
    #: Secure Boot efivarfs files as the device showed them (Name-GUID -> base64 of attributes + data); reported.
    efivars: Mapping[str, str] = field(default_factory=dict)
    schema: str = EVIDENCE_SCHEMA

    def fact(self, name: str) -> Fact | None:
        return self.identity.get(name)

    def all_facts(self) -> list[tuple[str, str]]:
        """(name, strength) for every fact, for the self-reported summary."""
        out = [(f"identity.{name}", fact.strength) for name, fact in self.identity.items()]
        out += [(f"component.{c.cls}:{c.model or '?'}", c.strength) for c in self.components]
        out += [(f"region.{r.name}", r.strength) for r in self.regions]
        if self.tpm is not None:
            out.append(("tpm.pcrs", self.tpm.strength))
        if self.identity_key is not None:
            out.append(("identity_key", self.identity_key.strength))
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": self.schema,
            "profile": self.profile,
            "port": self.port,
            "identity": {name: fact.to_json() for name, fact in self.identity.items()},
            "components": [c.to_json() for c in self.components],
            "regions": [r.to_json() for r in self.regions],
            "tpm": self.tpm.to_json() if self.tpm else None,
            "identity_key": self.identity_key.to_json() if self.identity_key else None,
            "attestation": self.attestation.to_json() if self.attestation else None,
            "nonce": self.nonce,
            "transcript": dict(self.transcript),
            "timings": dict(self.timings),
            "notes": list(self.notes),
        }
        if self.observable is not None:
            out["observable"] = self.observable.to_json()
        if self.spdm is not None:
            out["spdm"] = self.spdm.to_json()
        if self.efivars:
            out["efivars"] = dict(self.efivars)
        return out

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: Any) -> DeviceEvidence:
        return _parse_evidence(data)

    @classmethod
    def load(cls, path: Path) -> DeviceEvidence:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise EvidenceInputError(f"cannot read evidence {path}: {exc.strerror}") from exc
        if size > MAX_EVIDENCE_BYTES:
            raise EvidenceInputError(f"evidence {path} is larger than {MAX_EVIDENCE_BYTES} bytes")
        try:
            data = json.loads(path.read_bytes())
        except RecursionError as exc:
            raise EvidenceInputError(f"evidence {path} is nested too deeply") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EvidenceInputError(f"evidence {path} is not valid JSON: {exc}") from exc
        except ValueError as exc:  # an integer past Python's digit limit (sys.get_int_max_str_digits)
            raise EvidenceInputError(f"evidence {path} holds an integer with too many digits to read") from exc
        return _parse_evidence(data, where=str(path))


# --- strict parsing -----------------------------------------------------------------------------


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, what: str) -> EvidenceInputError:
        return EvidenceInputError(f"evidence {self.where}: {what}")

    def obj(self, value: Any, name: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"'{name}' must be an object")
        return value

    def text(self, value: Any, name: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(f"'{name}' must be a string")
        return value

    def req_text(self, value: Any, name: str) -> str:
        result = self.text(value, name)
        assert result is not None
        return result

    def integer(self, value: Any, name: str, *, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"'{name}' must be an integer")
        return value

    def strength(self, value: Any, name: str) -> str:
        if value not in STRENGTHS:
            raise self.fail(f"'{name}.strength' must be one of {', '.join(STRENGTHS)}")
        return str(value)

    def array(self, value: Any, name: str) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(f"'{name}' must be a list")
        return value


def _parse_evidence(data: Any, where: str = "<json>") -> DeviceEvidence:
    r = _Reader(where)
    top = r.obj(data, "evidence")
    if top.get("schema") != EVIDENCE_SCHEMA:
        raise r.fail(f"not a provcheck device evidence record (schema must be {EVIDENCE_SCHEMA})")
    identity: dict[str, Fact] = {}
    for name, raw in r.obj(top.get("identity", {}), "identity").items():
        item = r.obj(raw, f"identity.{name}")
        value = item.get("value")
        if not (value is None or isinstance(value, str) or (isinstance(value, list) and all(
            isinstance(v, str) for v in value
        ))):
            raise r.fail(f"'identity.{name}.value' must be a string or a list of strings")
        identity[str(name)] = Fact(
            value, r.strength(item.get("strength"), f"identity.{name}"), r.text(item.get("source", ""), "source") or ""
        )
    components = []
    for i, raw in enumerate(r.array(top.get("components"), "components")):
        item = r.obj(raw, f"components[{i}]")
        components.append(
            Component(
                cls=r.req_text(item.get("class"), f"components[{i}].class"),
                manufacturer=r.text(item.get("manufacturer"), "manufacturer", optional=True),
                model=r.text(item.get("model"), "model", optional=True),
                serial=r.text(item.get("serial"), "serial", optional=True),
                revision=r.text(item.get("revision"), "revision", optional=True),
                strength=r.strength(item.get("strength"), f"components[{i}]"),
                source=r.text(item.get("source", ""), "source") or "",
            )
        )
    regions = []
    for i, raw in enumerate(r.array(top.get("regions"), "regions")):
        item = r.obj(raw, f"regions[{i}]")
        regions.append(
            RegionDigest(
                name=r.req_text(item.get("name"), f"regions[{i}].name"),
                address=r.integer(item.get("address"), "address", optional=True),
                size=r.integer(item.get("size"), "size", optional=True),
                algorithm=r.req_text(item.get("algorithm"), f"regions[{i}].algorithm"),
                digest=r.req_text(item.get("digest"), f"regions[{i}].digest").lower(),
                method=r.req_text(item.get("method"), f"regions[{i}].method"),
                strength=r.strength(item.get("strength"), f"regions[{i}]"),
                weak=bool(item.get("weak", False)),
                path=r.text(item.get("path"), "path", optional=True),
            )
        )
    tpm = None
    if top.get("tpm") is not None:
        raw_tpm = r.obj(top["tpm"], "tpm")
        pcrs: dict[str, dict[str, str]] = {}
        for bank, values in r.obj(raw_tpm.get("pcrs", {}), "tpm.pcrs").items():
            pcrs[str(bank)] = {
                str(k): r.req_text(v, f"tpm.pcrs.{bank}.{k}") for k, v in r.obj(values, f"tpm.pcrs.{bank}").items()
            }
        quote = None
        if raw_tpm.get("quote") is not None:
            q = r.obj(raw_tpm["quote"], "tpm.quote")
            quote = TpmQuote(
                r.req_text(q.get("message_b64"), "tpm.quote.message_b64"),
                r.req_text(q.get("signature_b64"), "tpm.quote.signature_b64"),
                r.req_text(q.get("pcrs_b64"), "tpm.quote.pcrs_b64"),
            )
        tpm = TpmEvidence(
            pcrs=pcrs,
            event_log_b64=r.text(raw_tpm.get("event_log_b64"), "tpm.event_log_b64", optional=True),
            quote=quote,
            ak_public_pem=r.text(raw_tpm.get("ak_public_pem"), "tpm.ak_public_pem", optional=True),
            strength=r.strength(raw_tpm.get("strength", "measured"), "tpm"),
            source=r.text(raw_tpm.get("source", ""), "tpm.source") or "",
        )
    identity_key = None
    if top.get("identity_key") is not None:
        k = r.obj(top["identity_key"], "identity_key")
        identity_key = IdentityKey(
            fingerprint_sha256=r.req_text(k.get("fingerprint_sha256"), "identity_key.fingerprint_sha256").lower(),
            public_key_pem=r.req_text(k.get("public_key_pem"), "identity_key.public_key_pem"),
            cert_chain_pem=tuple(
                r.req_text(c, "identity_key.cert_chain_pem[]") for c in r.array(k.get("cert_chain_pem"), "chain")
            ),
            strength=r.strength(k.get("strength"), "identity_key"),
        )
    attestation = None
    if top.get("attestation") is not None:
        a = r.obj(top["attestation"], "attestation")
        attestation = SignedMeasurements(
            protocol_version=r.integer(a.get("protocol_version"), "attestation.protocol_version") or 0,
            algorithm=r.req_text(a.get("algorithm"), "attestation.algorithm"),
            payload_b64=r.req_text(a.get("payload_b64"), "attestation.payload_b64"),
            signature_b64=r.req_text(a.get("signature_b64"), "attestation.signature_b64"),
            signature_verified=bool(a.get("signature_verified", False)),
        )
    timings = {
        str(k): float(v)
        for k, v in r.obj(top.get("timings", {}), "timings").items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return DeviceEvidence(
        profile=r.req_text(top.get("profile"), "profile"),
        port=r.text(top.get("port", ""), "port") or "",
        identity=identity,
        components=tuple(components),
        regions=tuple(regions),
        tpm=tpm,
        identity_key=identity_key,
        attestation=attestation,
        nonce=r.text(top.get("nonce"), "nonce", optional=True),
        transcript=dict(r.obj(top.get("transcript", {}), "transcript")),
        timings=timings,
        notes=tuple(r.req_text(n, "notes[]") for n in r.array(top.get("notes"), "notes")),
        observable=_parse_observable(r, top.get("observable")) if "observable" in top else None,
        spdm=_parse_spdm(r, top.get("spdm")) if top.get("spdm") is not None else None,
        efivars=_parse_efivars(r, top.get("efivars", {})),
    )


def _parse_spdm(r: _Reader, value: Any) -> SpdmRecord:
    item = r.obj(value, "spdm")
    listed = r.array(item.get("messages_b64"), "spdm.messages_b64")
    messages = tuple(r.req_text(m, "spdm.messages_b64[]") for m in listed)
    slot = r.integer(item.get("slot", 0), "spdm.slot") or 0
    if not 0 <= slot <= 7:
        raise r.fail("'spdm.slot' must be 0 to 7")
    return SpdmRecord(messages, slot)


_EFIVAR_NAME = re.compile(r"[A-Za-z0-9_]{1,64}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _parse_efivars(r: _Reader, value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, encoded in r.obj(value, "efivars").items():
        if not _EFIVAR_NAME.fullmatch(str(name)):
            raise r.fail(f"'efivars' key {str(name)[:80]!r} is not an efivarfs name (Name-GUID)")
        text = r.req_text(encoded, f"efivars.{name}")
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise r.fail(f"'efivars.{name}' is not base64") from exc
        out[str(name)] = text
    return out


def _parse_observable(r: _Reader, value: Any) -> Observable:
    item = r.obj(value, "observable")
    classes = item.get("component_classes")
    if classes == "any":
        return Observable.ANY
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise r.fail("'observable.component_classes' must be \"any\" or a list of strings")
    return Observable.of(*classes)
