"""``provcheck tpm``: verify TPM 2.0 quotes and replay TCG event logs."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from verifier.commands.common import emit, format_option
from verifier.errors import BadInputError, UsageError
from verifier.model import Finding, Report

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from hw.tpm.eventlog import EventLog
    from hw.tpm.public import TpmPublic
    from verifier.declared.boot import BootReference

MAX_INPUT = 1024 * 1024
MAX_LOG = 16 * 1024 * 1024

_PCR_LINE = re.compile(r"\s*(?:PROVCHECK-PCR\s+)?(sha1|sha256|sha384|sha512)\s+(\d+)\s+([0-9a-fA-F]+)\s*")
existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def _read(path: Path, what: str, limit: int = MAX_INPUT) -> bytes:
    from attestations.files import read_limited

    return read_limited(path, limit=limit, what=what)


def _nonce(value: str | None) -> bytes | None:
    if value is None:
        return None
    text = value.strip().lower().removeprefix("0x")
    if not text or len(text) > 128 or not re.fullmatch(r"[0-9a-f]*", text) or len(text) % 2:
        raise UsageError(f"--nonce {value!r} is not an even-length hex string of at most 64 bytes")
    return bytes.fromhex(text)


def parse_pcr_file(data: bytes, what: str) -> dict[str, dict[int, bytes]]:
    """PCR values as JSON ({"sha256": {"0": "hex"}}), ``tpm2_pcrread`` output, or "PCR bank index hex" lines."""
    text = data.decode("utf-8", "replace")
    out: dict[str, dict[int, bytes]] = {}
    try:
        if text.lstrip().startswith("{"):
            raw = json.loads(text)
            raw = raw.get("pcrs", raw) if isinstance(raw, dict) else raw
            if not isinstance(raw, dict):
                raise BadInputError(f"{what}: JSON must map bank -> index -> hex")
            for bank, values in raw.items():
                if not isinstance(values, dict):
                    raise BadInputError(f"{what}: {bank} must map index -> hex")
                for index, value in values.items():
                    value_hex = str(value).lower().removeprefix("0x")
                    out.setdefault(str(bank).lower(), {})[int(index)] = bytes.fromhex(value_hex)
            return out
        bank = ""
        for line in text.splitlines():
            if m := re.fullmatch(r"\s*(sha1|sha256|sha384|sha512|sm3_256)\s*:\s*", line):
                bank = m[1]
            elif (m := re.fullmatch(r"\s*(\d+)\s*:\s*(?:0x)?([0-9a-fA-F]+)\s*", line)) and bank:
                out.setdefault(bank, {})[int(m[1])] = bytes.fromhex(m[2])
            elif m := _PCR_LINE.fullmatch(line):
                out.setdefault(m[1], {})[int(m[2])] = bytes.fromhex(m[3])
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{what}: not a PCR file ({exc})") from exc
    if not out:
        raise BadInputError(f"{what}: no PCR values found (JSON, tpm2_pcrread output or 'bank index hex' lines)")
    sizes = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64, "sm3_256": 32}
    for bank, values in out.items():
        for index, value in values.items():
            if bank in sizes and len(value) != sizes[bank]:
                raise BadInputError(f"{what}: {bank} PCR {index} has {len(value)} bytes, not {sizes[bank]}")
            if index > 31:
                raise BadInputError(f"{what}: PCR index {index} is out of range")
    return out


def load_event_log(path: Path) -> EventLog:
    from hw.tpm.eventlog import parse_event_log

    return parse_event_log(_read(path, "event log", MAX_LOG))


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(_read(path, what, 64 * 1024 * 1024))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{what} {path} is not valid JSON: {exc}") from exc


def load_declared(
    device_manifest: Path | None, firmware_manifests: Sequence[Path], extra: Sequence[str]
) -> tuple[BootReference | None, set[str]]:
    """The declared boot (None without a device manifest) and the Authenticode hashes the release declares."""
    from verifier.checks.measured_boot import declared_authenticode
    from verifier.declared.boot import BootReference, boot_reference_from_document

    reference: BootReference | None = None
    if device_manifest is not None:
        manifest = _load_json(device_manifest, "device manifest")
        if isinstance(manifest, dict) and isinstance(manifest.get("predicate"), dict):
            manifest = manifest["predicate"]
        if not isinstance(manifest, dict):
            raise BadInputError(f"device manifest {device_manifest} must be a JSON object")
        reference = boot_reference_from_document(manifest) or BootReference()
    items: list[Any] = []
    for path in firmware_manifests:
        doc = _load_json(path, "firmware manifest")
        items.extend(doc if isinstance(doc, list) else [doc])
    digests = declared_authenticode(i for i in items if isinstance(i, dict))
    for value in extra:
        text = value.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", text):
            raise UsageError(f"--authenticode {value!r} is not a sha256 hex digest")
        digests.add(text)
    return reference, digests


def load_trust(
    ek_public_path: Path | None, ek_cert_path: Path | None, platform_path: Path | None,
    ca_paths: Sequence[Path], tcti: str | None,
) -> tuple[TpmPublic | None, Certificate | None, Certificate | None, list[Certificate]]:
    from hw.tpm import ekcert
    from hw.tpm.public import parse_public

    ek_public = parse_public(_read(ek_public_path, "EK public area")) if ek_public_path else None
    bundle = [c for p in ca_paths for c in ekcert.load_certificate_file(p, "TPM CA")]
    ek_cert = ekcert.load_certificate_file(ek_cert_path, "EK certificate")[0] if ek_cert_path else None
    platform = ekcert.load_certificate_file(platform_path, "platform certificate")[0] if platform_path else None
    if tcti is not None:
        if ek_cert is None:
            for index in (ekcert.NV_EK_CERT_RSA, ekcert.NV_EK_CERT_ECC_P256, ekcert.NV_EK_CERT_ECC_P384):
                raw = ekcert.read_nv_certificate(tcti, index)
                if raw:
                    ek_cert = ekcert.load_certificates(raw, f"EK certificate in NV 0x{index:08x}")[0]
                    if ek_public is None or _cert_matches(ek_cert, ek_public):
                        break
        if platform is None:
            raw = ekcert.read_nv_certificate(tcti, ekcert.NV_PLATFORM_CERT)
            if raw:
                platform = ekcert.load_certificates(raw, "platform certificate in NV")[0]
    return ek_public, ek_cert, platform, bundle


def _cert_matches(cert: Certificate, ek: TpmPublic) -> bool:
    from cryptography.hazmat.primitives import serialization

    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == ek.public_key().public_bytes(*fmt)


def _print_events(log: EventLog) -> None:
    from verifier.output.sanitize import display

    out = sys.stdout
    out.write(f"{log.format} event log, banks {', '.join(log.banks)}, {len(log.events)} events\n")
    for e in log.events:
        digest = e.digests.get("sha256") or next(iter(e.digests.values()), b"")
        detail = e.decoded.get("device_path") or e.decoded.get("name") or e.decoded.get("text") or ""
        # Event data (device paths, variable names, text) is whatever the firmware logged: escaped.
        shown = display(str(detail)[:70])
        out.write(f"  #{e.number:<4} PCR{e.pcr:<3} {display(e.type_name):<36} {digest.hex()[:16]}  {shown}\n")
    out.write("\n")


@click.group()
def tpm() -> None:
    """Verify TPM 2.0 quotes and replay TCG event logs."""


declared_options = [
    click.option("--device-manifest", type=existing_file, help="Device manifest (JSON) with boot_measurements."),
    click.option("--firmware-manifest", "firmware_manifests", type=existing_file, multiple=True,
                 help="Firmware-manifest predicate (JSON) whose authenticode.sha256 is a declared boot image."),
    click.option("--authenticode", "authenticode", multiple=True, metavar="SHA256",
                 help="Another declared Authenticode hash (repeatable)."),
    click.option("--require-secure-boot", is_flag=True, help="Fail unless the log shows Secure Boot enabled."),
]


F = TypeVar("F", bound=Callable[..., Any])


def _with(options: list[Callable[[Any], Any]]) -> Callable[[F], F]:
    def wrap(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


@tpm.command("verify-quote")
@click.option("--message", "-m", "message", type=existing_file, required=True, help="tpm2_quote -m (TPMS_ATTEST).")
@click.option("--signature", "-s", "signature", type=existing_file, required=True,
              help="tpm2_quote -s (TPMT_SIGNATURE).")
@click.option("--pcrs", "-o", "pcrs", type=existing_file, required=True,
              help="tpm2_quote -o: its default serialized file (as tpm2_checkquote reads it) or -F values.")
@click.option("--ak", type=existing_file, required=True,
              help="Attestation key: PEM or TPM2B_PUBLIC (tpm2_createak -u).")
@click.option("--nonce", "-q", "nonce", help="The nonce (hex) the quote was made with (tpm2_quote -q).")
@click.option("--eventlog", type=existing_file, help="Binary event log to replay against the quoted PCRs.")
@click.option("--ek-public", type=existing_file, help="EK public area (tpm2_createek -u): checks qualifiedSigner.")
@click.option("--ek-cert", type=existing_file, help="EK certificate (DER or PEM, e.g. tpm2_nvread 0x1c00002).")
@click.option("--platform-cert", type=existing_file, help="Platform certificate (DER or PEM).")
@click.option("--tpm-ca", "tpm_ca", type=existing_file, multiple=True,
              help="TPM manufacturer CA certificate(s) (PEM bundle or DER); repeatable.")
@click.option("--tcti", help="Read the EK and platform certificates from this TPM's NV (e.g. swtpm:host=...,port=...).")
@click.option("--ak-binding", type=click.Choice(["none", "pinned", "ek", "activated"]), default="none",
              show_default=True, help="How the AK must be bound (docs/tpm-trust-model.md).")
@click.option("--credential-record", type=existing_file,
              help="The record 'provcheck tpm make-credential' wrote (for --ak-binding activated).")
@click.option("--activated-secret", type=existing_file,
              help="What the device's tpm2_activatecredential -o returned (for --ak-binding activated).")
@click.option("--pin-ak", "pinned", multiple=True, metavar="KEYID", help="Accepted AK key id (sha256 of SPKI DER).")
@_with(declared_options)
@format_option()
def verify_quote_command(
    message: Path, signature: Path, pcrs: Path, ak: Path, nonce: str | None, eventlog: Path | None,
    ek_public: Path | None, ek_cert: Path | None, platform_cert: Path | None, tpm_ca: tuple[Path, ...],
    tcti: str | None, ak_binding: str, credential_record: Path | None, activated_secret: Path | None,
    pinned: tuple[str, ...], device_manifest: Path | None,
    firmware_manifests: tuple[Path, ...], authenticode: tuple[str, ...], require_secure_boot: bool,
    output_format: str,
) -> int:
    """Verify a quote made by tpm2_quote: signature, nonce, PCR digest, signer; then the log and the declared boot."""
    from verifier.checks.measured_boot import TpmInputs, check_measured_boot

    expected_nonce = _nonce(nonce)
    ek_pub, ek_certificate, platform, bundle = load_trust(ek_public, ek_cert, platform_cert, tpm_ca, tcti)
    reference, digests = load_declared(device_manifest, firmware_manifests, authenticode)
    from hw.tpm.quote import load_attestation_key, verify_quote

    # Malformed local files are bad input (exit 2), checked before judging.
    ak_bytes = _read(ak, "attestation key")
    msg, sig, values = _read(message, "quote message"), _read(signature, "quote signature"), _read(pcrs, "PCR values")
    verify_quote(msg, sig, values, load_attestation_key(ak_bytes), nonce=expected_nonce, ek_public=ek_pub)
    log_bytes = _read(eventlog, "event log", MAX_LOG) if eventlog else None
    if log_bytes is not None:
        from hw.tpm.eventlog import parse_event_log

        parse_event_log(log_bytes)
    evidence = TpmInputs({}, log_bytes or None, (msg, sig, values), None)
    activation = None
    if ak_binding == "activated" or credential_record or activated_secret:
        if not (credential_record and activated_secret):
            raise UsageError("--ak-binding activated needs --credential-record and --activated-secret")
        from hw.tpm.credential import CredentialRecord, check_activation

        record = CredentialRecord.from_json(_load_json(credential_record, "credential record"))
        returned = _read(activated_secret, "activated secret")
        activation = lambda ak_public: check_activation(record, returned, ak_public, ek_pub)  # noqa: E731
    findings = check_measured_boot(
        evidence, declared_authenticode=digests, boot=reference, nonce=expected_nonce, require_quote=True,
        require_secure_boot=require_secure_boot, ak_binding=ak_binding, pinned_ak_keyids=pinned,
        ek_public=ek_pub, ek_cert=ek_certificate, tpm_ca=bundle, platform_cert=platform, ak=ak_bytes,
        activation=activation,
    )
    report = Report("tpm verify-quote", tuple(findings), subject=str(message))
    return emit(report, output_format)


@tpm.command("make-credential")
@click.option("--ek-public", type=existing_file, required=True, help="EK public area (tpm2_createek -u), RSA or ECC.")
@click.option("--ak", type=existing_file, required=True, help="AK public area (TPM2B_PUBLIC, tpm2_createak -u).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Credential file for the device's tpm2_activatecredential -i.")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to keep the expected secret (mode 0600) for verify-quote --credential-record.")
def make_credential_command(ek_public: Path, ak: Path, output: Path, record: Path) -> int:
    """Bind a fresh secret to this EK and this AK's name (TPM2_MakeCredential), for credential activation.

    Send OUTPUT to the device; it runs tpm2_activatecredential with the AK and EK and returns the secret. Only
    the TPM that holds the EK's private key and the AK with exactly this public area can release it.
    """
    from attestations.files import write_private
    from hw.tpm.credential import new_credential
    from hw.tpm.public import parse_public
    from verifier.commands.files import write_output

    ek = parse_public(_read(ek_public, "EK public area"))
    ak_public = parse_public(_read(ak, "AK public area"))
    blob, kept = new_credential(ek, ak_public)
    write_private(record, (json.dumps(kept.to_json(), indent=2) + "\n").encode(), overwrite=True)
    write_output(output, blob)
    from verifier.output.sanitize import display

    click.echo(f"credential for AK {ak_public.name.hex()} under EK {ek.name.hex()}: {display(str(output))}", err=True)
    return 0


@tpm.command("eventlog")
@click.argument("log", type=existing_file)
@click.option("--pcrs", "pcr_file", type=existing_file,
              help="PCR values to compare with: JSON, tpm2_pcrread output, or 'bank index hex' lines.")
@_with(declared_options)
@format_option()
def eventlog_command(
    log: Path, pcr_file: Path | None, device_manifest: Path | None, firmware_manifests: tuple[Path, ...],
    authenticode: tuple[str, ...], require_secure_boot: bool, output_format: str,
) -> int:
    """Decode a TCG binary event log, replay every bank, and compare with PCR values."""
    from verifier.checks.measured_boot import declared_findings, event_log_findings, reference_pcr_findings
    from verifier.declared.boot import BootReference

    parsed = load_event_log(log)
    pcrs = parse_pcr_file(_read(pcr_file, "PCR file"), f"PCR file {pcr_file}") if pcr_file else None
    declared, digests = load_declared(device_manifest, firmware_manifests, authenticode)
    reference = declared or BootReference()
    findings: list[Finding] = event_log_findings(parsed, pcrs, "given", replay_required=False)
    findings += reference_pcr_findings(reference, pcrs, "given")
    if declared is not None or digests or require_secure_boot:
        findings += declared_findings(parsed, reference, digests, require_secure_boot=require_secure_boot)
    from hw.tpm.replay import replay

    metadata: dict[str, Any] = {"replayed_pcrs": replay(parsed).hex()}
    if output_format == "json":
        metadata["eventlog"] = parsed.to_json()
    else:
        _print_events(parsed)
    report = Report("tpm eventlog", tuple(findings), subject=str(log), metadata=metadata)
    return emit(report, output_format)
