"""``provcheck corim``: show and verify CoRIM / CoMID reference values (draft-ietf-rats-corim)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from verifier.commands.common import emit, format_option

existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def corim() -> None:
    """Show and verify CoRIM / CoMID reference values (signed or unsigned)."""


def _text_lines(value: Any, indent: int, out: list[str]) -> None:
    """The description tree as indented "key: value" lines; every value from the file goes through ``display``."""
    from verifier.output.sanitize import display

    pad = "  " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{display(key, limit=200)}:")
                _text_lines(item, indent + 1, out)
            else:
                shown = "" if isinstance(item, dict | list) else display(item, limit=2000)
                out.append(f"{pad}{display(key, limit=200)}: {shown}".rstrip())
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}[{i}]")
                _text_lines(item, indent + 1, out)
            else:
                out.append(f"{pad}[{i}] {display(item, limit=2000)}")
    else:
        out.append(f"{pad}{display(value, limit=2000)}")


@corim.command("show")
@click.argument("file", type=existing_file)
@format_option()
def show(file: Path, output_format: str) -> int:
    """Print a CoRIM, signed CoRIM, CoMID or CoEV: ids, profile, validity, entities, environments and values."""
    from verifier.workflows.corim import describe, load

    tree = describe(load(file))
    if output_format == "json":
        sys.stdout.write(json.dumps(tree, indent=2, sort_keys=False) + "\n")
        return 0
    lines: list[str] = []
    _text_lines(tree, 0, lines)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


@corim.command("verify")
@click.argument("file", type=existing_file)
@click.option("--key", "keys", type=existing_file, multiple=True, required=True,
              help="Public key (PEM) that may have signed the CoRIM; repeatable.")
@click.option("--at", "at", metavar="DATE", help="Judge validity at this ISO 8601 date or time (default: now, UTC).")
@format_option()
def verify(file: Path, keys: tuple[Path, ...], at: str | None, output_format: str) -> int:
    """Verify a signed CoRIM: COSE_Sign1 signature with one of --key, validity periods, structure.

    Exit 0 valid, 1 verification failed (signature, expired or not yet valid), 2 bad input naming the field.
    """
    from verifier.workflows.corim import CorimVerifyRequest, parse_at, run_verify

    when = parse_at(at) if at is not None else None
    report = run_verify(CorimVerifyRequest(file=file, keys=keys, at=when))
    return emit(report, output_format)
