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
