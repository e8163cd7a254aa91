"""``provcheck release sign``: assemble and sign a vendor release directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from verifier.commands.common import format_option

_existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def release() -> None:
    """Assemble and sign a vendor release."""


@release.command("sign")
@click.option(
    "--firmware",
    "firmware",
    multiple=True,
    required=True,
    type=_existing_file,
    help="A shipped firmware image (repeat for several); it is the subject of its statements.",
)
@click.option(
    "--build",
    "builds",
    multiple=True,
    type=_existing_file,
    help="The unstripped build of each --firmware, in the same order, to take the inventory from.",
)
@click.option(
    "--key",
    "key_paths",
    multiple=True,
    required=True,
    type=_existing_file,
    help="Vendor private key (repeat to sign with several).",
)
@click.option(
    "--device-manifest",
    type=_existing_file,
    help="Device manifest: the provcheck predicate, a Statement carrying it, or a CycloneDX HBOM.",
)
@click.option(
    "--provenance",
    type=_existing_file,
    help="SLSA provenance v1: a predicate or statement (signed here), a DSSE envelope or a Sigstore bundle (kept).",
)
@click.option("--sbom", type=_existing_file, help="CycloneDX JSON SBOM, signed as a statement about the firmware.")
@click.option(
    "--corim",
    is_flag=True,
    help="Also write NAME.corim: the declared measurements as reference values (CoRIM, signed with the first --key).",
)
@click.option("--name", help="Release name [default: the first firmware's file name].")
@click.option("--version", "version", help="Release version.")
@click.option("--passphrase-env", metavar="VAR", help="Passphrase for encrypted keys, from $VAR.")
@click.option("--insecure-allow-test-keys", is_flag=True,
              help="Sign even when an image's Secure Boot PK or KEK is a known test key (PKfail); for test builds.")
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The release directory to create (must not exist, or be empty).",
)
@format_option()
def sign(
    firmware: tuple[Path, ...],
    builds: tuple[Path, ...],
    key_paths: tuple[Path, ...],
    device_manifest: Path | None,
    provenance: Path | None,
    sbom: Path | None,
    corim: bool,
    name: str | None,
    version: str | None,
    passphrase_env: str | None,
    insecure_allow_test_keys: bool,
    out_dir: Path,
    output_format: str,
) -> int:
    """Sign a release: firmware manifests, device manifest, provenance and SBOM in one .intoto.jsonl.

    Verify it alone with: provcheck attest verify FW... --bundle DIR/release.intoto.jsonl --key VENDOR.pub
    """
    from attestations.keys import load_signer
    from verifier.commands.keys import passphrase_from_env
    from verifier.workflows.release import ReleaseRequest, sign_release

    password = passphrase_from_env(passphrase_env)
    signers = [load_signer(path, password) for path in key_paths]
    result = sign_release(
        ReleaseRequest(
            firmware=firmware,
            builds=builds,
            device_manifest=device_manifest,
            provenance=provenance,
            sbom=sbom,
            name=name,
            version=version,
            corim=corim,
            allow_test_keys=insecure_allow_test_keys,
        ),
        signers,
        out_dir,
    )
    if output_format == "json":
        payload = {
            "directory": str(result.directory),
            "bundle": str(result.bundle),
            "index": str(result.index),
            "signers": list(result.signers),
            "statements": [e.to_json() for e in result.entries],
            "files": [str(p) for p in result.extra_files],
        }
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return 0
    from verifier.output.sanitize import display

    # Subject names and origins are file names and statement fields: escaped before they reach the terminal.
    signed_by = ", ".join(result.signers)
    click.echo(display(f"release {result.directory}: {len(result.entries)} statements signed by {signed_by}"))
    for entry in result.entries:
        subjects = ", ".join(s.short() for s in entry.subjects)
        click.echo(display(f"  {entry.to_json()['kind']}: {subjects}  [{entry.origin}]"))
    click.echo(display(f"statements: {result.bundle}"))
    click.echo(display(f"index:      {result.index}"))
    for extra in result.extra_files:
        click.echo(display(f"also:       {extra}"))
    return 0
