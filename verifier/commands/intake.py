"""``provcheck intake``: verify a device and its firmware against a signed release, under a policy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from hw.registry import AUTO, READ_CHOICES
from verifier.commands.common import emit, format_option

_existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("intake")
@click.option(
    "--release",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The release directory from 'provcheck release sign' (or its .intoto.jsonl).",
)
@click.option(
    "--policy",
    "policy_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Policy TOML (repeat to combine: every policy must hold).",
)
@click.option("--firmware", type=_existing_file, help="The firmware image to scan against the declared manifest.")
@click.option(
    "--reference-values",
    "reference_values",
    multiple=True,
    type=_existing_file,
    help="A CoRIM of reference values (repeat for several); used only when a [reference_values] signer signed it.",
)
@click.option("--port", help="The device's serial port: a tty, pty path, rfc2217://, socket:// or loop:// URL.")
@click.option(
    "--evidence",
    type=_existing_file,
    help="Use evidence from 'provcheck device read' instead of reading a port (no fresh nonce).",
)
@click.option("--profile", type=click.Choice(READ_CHOICES), default=AUTO, show_default=True)
@click.option("--baud", type=int, help="Line speed for local serial ports.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Deadline for the device session, s.")
@click.option("--read-timeout", type=click.FloatRange(0.1, 3600), default=None,
              help="Longest silence tolerated from the device (default min(10, --timeout)).")
@click.option("--max-dump", type=click.IntRange(0, 1 << 30), default=None,
              help="Largest region (bytes) dumped with md.b and hashed here (default: from baud and deadline).")
@click.option("--prompt", default=None, help="U-Boot prompt if it is not '=> '.")
@click.option("--username", help="Console login for the linux profile.")
@click.option("--password-env", metavar="VAR", help="Console password for the linux profile, from $VAR.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write report.txt, report.json, report.sarif, report.html, report.cdx.json, evidence.json, the transcript "
    "and the VSA here.",
)
@click.option("--vsa-key", type=_existing_file, help="Sign the result as a SLSA VSA v1 with this private key.")
@click.option("--passphrase-env", metavar="VAR", help="Passphrase for an encrypted --vsa-key, from $VAR.")
@click.option(
    "--history-db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Intake history database [default: $PROVCHECK_HOME/history.sqlite3, else the user data directory].",
)
@click.option("--no-history", is_flag=True, help="Do not append this intake to the history.")
@click.option("--strict", is_flag=True, help="Count warnings and skipped checks as failures (as policy strict=true).")
@click.option("--review", "reviews", multiple=True, type=_existing_file,
              help="An OCP S.A.F.E. short-form report on --firmware, judged by the policy's [reviews]; repeatable.")
@format_option("sarif", "html", "cyclonedx")
def intake(
    release: Path,
    policy_paths: tuple[Path, ...],
    firmware: Path | None,
    reference_values: tuple[Path, ...],
    port: str | None,
    evidence: Path | None,
    profile: str,
    baud: int | None,
    timeout: float,
    read_timeout: float | None,
    max_dump: int | None,
    prompt: str | None,
    username: str | None,
    password_env: str | None,
    report_dir: Path | None,
    vsa_key: Path | None,
    passphrase_env: str | None,
    history_db: Path | None,
    no_history: bool,
    strict: bool,
    reviews: tuple[Path, ...],
    output_format: str,
) -> int:
    """Verify the release, scan the firmware, read the device, judge it all against the policy.

    Exit 0 when everything the policy requires is proven, 1 on a definite failure,
    2 on bad input (including an invalid policy), 3 when it could not be decided.
    """
    from verifier.commands.keys import passphrase_from_env
    from verifier.errors import UsageError
    from verifier.policy.loading import load_policies
    from verifier.workflows.intake import IntakeRequest, run_intake

    policy = load_policies(list(policy_paths))
    if port and evidence:
        raise UsageError("give --port or --evidence, not both")
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise UsageError(f"environment variable {password_env} (named by --password-env) is not set")
    result = run_intake(
        IntakeRequest(
            release=release,
            policy=policy,
            firmware=firmware,
            reference_values=reference_values,
            port=port,
            evidence=evidence,
            profile=profile,
            baud=baud,
            timeout=timeout,
            read_timeout=read_timeout,
            max_dump=max_dump,
            prompt=prompt,
            report_dir=report_dir,
            vsa_key=vsa_key,
            vsa_passphrase=passphrase_from_env(passphrase_env),
            history_db=history_db,
            record_history=not no_history,
            strict=strict,
            username=username,
            password=password,
            reviews=reviews,
        )
    )
    code = emit(result.report, output_format)
    if result.files:
        where = result.files.get("html") or next(iter(result.files.values()))
        from verifier.output.sanitize import display

        click.echo(f"reports: {display(str(where.parent))}", err=True)
    if result.history_seq is not None:
        click.echo(f"history: record {result.history_seq}", err=True)
    sys.stdout.flush()
    return code
