"""``provcheck keys``: generate signing keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from verifier.commands.common import format_option
from verifier.errors import UsageError


def passphrase_from_env(variable: str | None) -> bytes | None:
    """A passphrase is read from a named environment variable, never from the command line (it would leak to ps)."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise UsageError(f"environment variable {variable} (named by --passphrase-env) is not set")
    return value.encode()


@click.group()
def keys() -> None:
    """Generate signing keys."""


@keys.command("generate")
@click.option(
    "--out",
    "prefix",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Writes PREFIX.key (private, mode 0600) and PREFIX.pub.",
)
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa"]),
    default="ed25519",
    show_default=True,
)
@click.option("--passphrase-env", metavar="VAR", help="Encrypt the private key with the passphrase in $VAR.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
@format_option()
def generate(prefix: Path, key_type: str, passphrase_env: str | None, force: bool, output_format: str) -> int:
    """Generate a key pair for signing releases and attestations."""
    from attestations.files import write_atomic, write_private
    from attestations.keys import generate_private_key, private_pem, public_pem

    password = passphrase_from_env(passphrase_env)
    private_path = prefix.with_name(prefix.name + ".key")
    public_path = prefix.with_name(prefix.name + ".pub")
    if not prefix.parent.is_dir():
        raise UsageError(f"directory {prefix.parent} does not exist")
    if public_path.exists() and not force:
        raise UsageError(f"{public_path} already exists; pass --force to overwrite it")
    signer = generate_private_key(key_type)
    write_private(private_path, private_pem(signer, password), overwrite=force)
    write_atomic(public_path, public_pem(signer.public))
    if output_format == "json":
        summary = {
            "algorithm": signer.public.algorithm,
            "keyid": signer.public.keyid,
            "private_key": str(private_path),
            "public_key": str(public_path),
            "encrypted": password is not None,
        }
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    click.echo(f"{signer.public.algorithm} key {signer.public.keyid}")
    click.echo(f"private key: {private_path} (mode 0600{', encrypted' if password else ''})", err=True)
    click.echo(f"public key:  {public_path}", err=True)
    return 0
