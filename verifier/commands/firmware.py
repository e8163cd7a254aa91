"""``provcheck firmware``: inventory, scan and diff firmware images."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from verifier.commands.common import emit, format_option
from verifier.commands.files import write_output
from verifier.firmware.limits import DEFAULT_LIMITS, MIB, Limits
from verifier.model import Report
from verifier.output.sanitize import display

_existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def _limits_option(func: Any) -> Any:
    return click.option("--max-size", type=click.IntRange(1), default=DEFAULT_LIMITS.max_file_size // MIB,
                        show_default=True, help="Largest firmware file analysed, in MiB.")(func)


def _limits(max_size: int) -> Limits:
    return Limits(max_file_size=max_size * MIB)



@click.group()
def firmware() -> None:
    """Inventory, scan and diff firmware images (ELF, PE/UEFI, Mach-O, UEFI volumes, option ROMs, HEX/S-record)."""


@firmware.command()
@click.argument("image", type=_existing_file)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the manifest here (atomically) instead of stdout.")
@click.option("--format", "output_format", type=click.Choice(["json", "text"]), default="json", show_default=True,
              help="json: the canonical manifest predicate; text: a short summary.")
@_limits_option
def inventory(image: Path, output: Path | None, output_format: str, max_size: int) -> None:
    """Emit the firmware manifest of IMAGE (predicate https://provcheck.dev/firmware-manifest/v1).

    The manifest is canonical JSON: the same image always gives the same bytes. Run it on the unstripped
    build output; sign it with 'provcheck attest sign --predicate-type https://provcheck.dev/firmware-manifest/v1'.
    """
    from verifier.firmware.inventory import build_manifest

    manifest = build_manifest(image, limits=_limits(max_size))
    if output_format == "text":
        text = _summary(manifest.to_predicate(), image.name)
        if output is not None:
            write_output(output, manifest.canonical_bytes() + b"\n")
        sys.stdout.write(text)
        return
    data = manifest.canonical_bytes() + b"\n"
    if output is not None:
        write_output(output, data)
        click.echo(f"provcheck: wrote {display(str(output))}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def _summary(p: dict[str, Any], name: str) -> str:
    # The file name and the signer names are the attacker's text: escaped before they reach a terminal.
    lines = [display(f"{name}: {p['format']}" + (f" {p['architecture']}" if p.get("architecture") else "")),
             f"  sha256 {p['file']['sha256']}  size {p['file']['size']}"]
    for key in ("sections", "functions", "exports", "imports", "constructors", "modules", "embedded", "strings"):
        if key in p:
            lines.append(f"  {key}: {len(p[key])}")
    if p.get("entry_point"):
        lines.append(f"  entry point: {p['entry_point']}")
    if p.get("authenticode"):
        signers = ", ".join(s["subject"] for s in p["authenticode"]["signers"]) or "none"
        lines.append(display(f"  authenticode sha256 {p['authenticode']['sha256']} signers: {signers}"))
    return "\n".join(lines) + "\n"


@firmware.command()
@click.argument("image", type=_existing_file)
@click.option("--manifest", type=_existing_file,
              help="Declared firmware manifest: a plain predicate JSON, an in-toto Statement or DSSE envelope "
                   "carrying one, or a release's .intoto.jsonl (the statement whose subject is IMAGE by digest, "
                   "else by name). Its signature is checked only against --key; without it the report says the "
                   "manifest is unverified (verify a whole release with 'provcheck attest verify').")
@click.option("--key", "key_paths", type=_existing_file, multiple=True,
              help="Vendor public key the --manifest statement must be signed with; repeatable.")
@click.option("--baseline", type=_existing_file, help="A known-good image to compare with.")
@click.option("--rules", type=_existing_file, help="Extra YARA rules, on top of the shipped capability rules.")
@click.option("--trust-anchor", "trust_anchors", type=_existing_file, multiple=True,
              help="CA certificate (PEM or DER) that Authenticode signers must chain to; repeatable.")
@click.option("--strict", is_flag=True, help="Count warnings and skipped checks as failures.")
@format_option("sarif")
@_limits_option
def scan(image: Path, manifest: Path | None, key_paths: tuple[Path, ...], baseline: Path | None, rules: Path | None,
         trust_anchors: tuple[Path, ...], strict: bool, output_format: str, max_size: int) -> int:
    """Look for hidden, undeclared or changed code in IMAGE.

    Against --manifest and/or --baseline: undeclared functions, constructors, TLS callbacks and exports,
    changed or missing functions, new RWX regions, appended data, new dangerous imports and capabilities,
    changed UEFI modules. Always: Authenticode integrity (and trust with --trust-anchor), entry point.
    Exit 0 clean, 1 a finding failed, 2 bad input, 3 inconclusive (e.g. a size or decompression limit).
    """
    from verifier.declared.firmware_manifest import provenance_findings, read_declared_firmware
    from verifier.errors import UsageError
    from verifier.workflows.firmware_scan import scan_firmware

    if key_paths and manifest is None:
        raise UsageError("--key verifies the --manifest statement; give --manifest too")
    declared = read_declared_firmware(manifest, image) if manifest is not None else None
    findings = provenance_findings(declared, image, key_paths) if declared is not None else []
    findings += scan_firmware(image, manifest=declared.manifest if declared else None, baseline=baseline,
                              rules=rules, trust_anchors=trust_anchors, limits=_limits(max_size))
    metadata = {"image": str(image), "manifest": str(manifest) if manifest else None,
                "baseline": str(baseline) if baseline else None}
    report = Report(f"firmware scan: {image.name}", tuple(findings), strict=strict, subject=image.name,
                    metadata=metadata)
    return emit(report, output_format)


@firmware.command()
@click.argument("old", type=_existing_file)
@click.argument("new", type=_existing_file)
@format_option("sarif")
@_limits_option
def diff(old: Path, new: Path, output_format: str, max_size: int) -> int:
    """Show added, removed and changed functions, modules, imports, exports, constructors and sections.

    Exit 0 when the images are equivalent, 1 when they differ, 2 on bad input.
    """
    from verifier.checks.firmware_diff import diff_manifests
    from verifier.firmware.inventory import build_manifest

    limits = _limits(max_size)
    before = build_manifest(old, limits=limits).to_predicate()
    after = build_manifest(new, limits=limits).to_predicate()
    findings = diff_manifests(before, after, subject=new.name)
    report = Report(f"firmware diff: {old.name} -> {new.name}", tuple(findings), subject=new.name,
                    metadata={"old": str(old), "new": str(new)})
    return emit(report, output_format)


def _print_databases(facts: list[dict[str, Any]], at: str) -> None:
    """Each input's databases with their entries' facts. Subjects, names and sources are the input's text: escaped."""
    out = sys.stdout
    out.write(f"Secure Boot key databases (evaluated at {at})\n")
    for state in facts:
        out.write(display(f"{state['source']} ({state['kind']})") + "\n")
        if state["modes"]:
            out.write(display("  modes: " + " ".join(f"{k}={v or '(empty)'}" for k, v in state["modes"].items()))
                      + "\n")
        if state.get("update"):
            signature = state["update"]["signature"]
            out.write(display(f"  signed update, time {state['update']['timestamp']}: {signature['result']}"
                              + (f" for {signature['variable']} {signature.get('attributes', '')}"
                                 if signature.get("variable") else "")) + "\n")
        if not state["databases"] and state["kind"] in ("edk2-varstore", "efivarfs", "tcg-eventlog"):
            out.write("  no PK, KEK, db or dbx\n")
        for name, database in state["databases"].items():
            attributes = f" (attributes {database['attributes']})" if database["attributes"] else ""
            out.write(display(f"  {name}{attributes}: {len(database['entries'])} entries") + "\n")
            for entry in database["entries"]:
                _print_entry(entry)
        for cert in state.get("certificates", []) if state["kind"] != "auth2" else []:
            _print_entry({"type": "X509", "owner": "", **cert})
    out.write("\n")


def _print_entry(entry: dict[str, Any]) -> None:
    out = sys.stdout
    owner = f" owner {entry['owner']}" if entry.get("owner") else ""
    if "subject" in entry:
        out.write(display(f"    {entry['type']}{owner}: {entry['subject']}") + "\n")
        out.write(display(f"      issuer {entry['issuer']}; serial {entry['serial_der_hex']}; {entry['not_before']} "
                          f"-> {entry['not_after']}; {entry['key']}, {entry['sig_hash']}") + "\n")
        out.write(f"      sha256 {entry['sha256']}  sha1 {entry['sha1']}\n")
    else:
        shown = ", ".join(v[:16] + "..." for v in entry["values"][:3])
        more = f" (+{entry['count'] - 3})" if entry["count"] > 3 else ""
        out.write(display(f"    {entry['type']}{owner}: {entry['count']} hash(es) {shown}{more}") + "\n")


@firmware.command("secureboot")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--at", "at", metavar="DATE",
              help="Judge expiry at this date or ISO 8601 time (UTC), not now: reports can be reproduced.")
@click.option("--test-keys", "test_keys", type=_existing_file, multiple=True,
              help="More known test keys: CSV (match,value,...), the JSON the package ships, or one SHA-256/SHA-1 "
                   "fingerprint per line. Extends the shipped PKfail list; repeatable.")
@click.option("--dbx-reference", type=_existing_file,
              help="Reference dbx instead of the shipped Microsoft list: dbx_info_msft_latest.json, or a signed "
                   "dbx update / EFI_SIGNATURE_LIST.")
@click.option("--expiring-days", type=click.IntRange(0, 36500), default=None,
              help="Warn about certificates expiring within this many days (default: the policy's, else 180).")
@click.option("--arch", type=click.Choice(["x64", "ia32", "aarch64", "arm"]), default="x64", show_default=True,
              help="Architecture of the reference dbx hashes to compare with.")
@click.option("--expected-pk", metavar="SHA256", help="SHA-256 of the PK certificate the platform must hold.")
@click.option("--expected-kek", "expected_kek", metavar="SHA256", multiple=True,
              help="SHA-256 of a KEK certificate the platform must hold (repeatable: the whole set).")
@click.option("--pcrs", "pcr_file", type=_existing_file,
              help="Quoted PCR values (JSON, tpm2_pcrread output or 'bank index hex' lines): an event log's PCR 7 "
                   "must replay to PCR 7 there (secureboot.pcr7-mismatch).")
@click.option("--policy", "policy_paths", type=_existing_file, multiple=True,
              help="Policy file(s) whose [secureboot] table sets expected_pk, expected_kek, require_2023_ca, "
                   "forbid_test_keys, expiring_days and dbx_reference; options given here take precedence.")
@click.option("--strict", is_flag=True, help="Count warnings and skipped checks as failures.")
@format_option()
def secureboot(files: tuple[Path, ...], at: str | None, test_keys: tuple[Path, ...], dbx_reference: Path | None,
               expiring_days: int | None, arch: str, expected_pk: str | None, expected_kek: tuple[str, ...],
               pcr_file: Path | None, policy_paths: tuple[Path, ...], strict: bool, output_format: str) -> int:
    """Judge UEFI Secure Boot keys: PK, KEK, db, dbx from FILES.

    FILES: EDK2/OVMF variable stores or flash images holding one, efivarfs dumps (Name-GUID files, or their
    directory), TPM event logs, signed updates (.auth), EFI_SIGNATURE_LISTs, certificates. Prints each database
    (owners, subjects, issuers, serials, validity, keys, fingerprints) and the findings: test keys (PKfail), Secure
    Boot not enforced, expired or expiring keys, the 2023 Microsoft CAs missing, weak keys, an outdated dbx, db
    entries dbx revokes, keys other than the expected ones. Exit 0 clean, 1 a finding failed, 2 bad input.
    """
    from verifier.workflows.secureboot import describe, evaluated_at, make_rules, parse_time, run_secureboot

    for value in (expected_pk, *expected_kek):
        if value is not None and (len(value) != 64 or not all(c in "0123456789abcdefABCDEF" for c in value)):
            raise click.BadParameter(f"{value!r} is not a SHA-256 hex fingerprint")
    from verifier.policy.model import SecureBootKeyRules

    declared = SecureBootKeyRules()
    if policy_paths:
        from verifier.policy.loading import load_policies

        policy = load_policies(policy_paths)
        declared = policy.secureboot
        strict = strict or policy.strict
    window = next(d for d in (expiring_days, declared.expiring_days, 180) if d is not None)
    quoted: dict[str, bytes] | None = None
    if pcr_file is not None:
        from attestations.files import read_limited
        from verifier.commands.tpm import parse_pcr_file

        values = parse_pcr_file(read_limited(pcr_file, limit=1 << 20, what="PCR file"), f"PCR file {pcr_file}")
        quoted = {bank: pcrs[7] for bank, pcrs in values.items() if 7 in pcrs}
        if not quoted:
            raise click.BadParameter(f"{pcr_file} holds no PCR 7 value", param_hint="--pcrs")
    rules = make_rules(parse_time(at), test_keys=test_keys, dbx_reference=dbx_reference or declared.dbx_reference,
                       expected_pk=expected_pk.lower() if expected_pk else declared.expected_pk,
                       expected_kek=[k.lower() for k in expected_kek] or list(declared.expected_kek) or None,
                       expiring_days=window,
                       require_2023_ca=declared.require_2023_ca, forbid_test_keys=declared.forbid_test_keys,
                       arch=arch, quoted_pcr7=quoted)
    result = run_secureboot(files, rules)
    facts = [describe(state) for state in result.states]
    when = evaluated_at(rules)
    if output_format == "text":
        _print_databases(facts, when)
    subject = files[0].name if len(files) == 1 else f"{len(files)} inputs"
    report = Report(f"firmware secureboot: {subject}", result.findings, strict=strict, subject=subject,
                    metadata={"evaluated_at": when, "secureboot": facts,
                              "test_keys": list(rules.test_keys.origins),
                              "dbx_reference": rules.dbx_reference.origin if rules.dbx_reference else None})
    return emit(report, output_format)
