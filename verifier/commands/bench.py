"""``provcheck bench``: take in every device of a lab plan, in parallel."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from verifier.commands.common import emit, format_option
from verifier.errors import UsageError

_existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("bench")
@click.option("--plan", "plan_path", required=True, type=click.Path(path_type=Path), help="The plan TOML.")
@click.option("--jobs", type=click.IntRange(1, 256), default=4, show_default=True, help="Devices taken in at once.")
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write JUnit XML here: one testsuite per device, one testcase per check.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where each device's reports and transcript go [default: bench-reports/<plan>-<UTC time>].",
)
@click.option("--vsa-key", type=_existing_file, help="Sign each device's result as a SLSA VSA with this key.")
@click.option(
    "--key",
    "key_path",
    type=_existing_file,
    help="Sign each device's in-toto test-result statement (test-result.intoto.jsonl) with this private key; "
    "without it the statement is written unsigned (test-result.intoto.json).",
)
@click.option("--passphrase-env", metavar="VAR", help="Passphrase for an encrypted --key, from $VAR.")
@click.option("--history-db", type=click.Path(dir_okay=False, path_type=Path), help="Intake history database.")
@click.option("--no-history", is_flag=True, help="Do not append the intakes to the history.")
@format_option("junit")
def bench(
    plan_path: Path,
    jobs: int,
    junit_path: Path | None,
    report_dir: Path | None,
    vsa_key: Path | None,
    key_path: Path | None,
    passphrase_env: str | None,
    history_db: Path | None,
    no_history: bool,
    output_format: str,
) -> int:
    """Run a lab plan: every device gets its own intake, transcript and report; one stuck device stops nobody.

    Exit 0 when every device passed, 1 when any failed, 3 when any was inconclusive or the run was interrupted.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from attestations.files import write_atomic
    from attestations.keys import load_signer
    from verifier.commands.keys import passphrase_from_env
    from verifier.model import Verdict
    from verifier.output.junit import render_suites
    from verifier.output.sanitize import display
    from verifier.workflows.bench import DeviceOutcome, load_plan, run_bench

    plan = load_plan(plan_path)
    # Read the key before any device is touched: a wrong passphrase is exit 2 now, not after the whole bench.
    signer = load_signer(key_path, passphrase_from_env(passphrase_env)) if key_path is not None else None
    if signer is None and passphrase_env is not None:
        raise UsageError("--passphrase-env is the passphrase of --key; give --key too")
    if report_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        report_dir = Path("bench-reports") / f"{plan_path.stem}-{stamp}"
    console = Console(stderr=True, highlight=False)
    style = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.INCONCLUSIVE: "yellow"}
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        overall = progress.add_task(f"bench {plan_path.name}", total=len(plan.devices))

        def started(device: object) -> None:
            name = getattr(device, "name", "?")
            where = getattr(device, "port", None) or "evidence"
            progress.console.print(display(f"{name}: reading {where}"), markup=False)

        def finished(outcome: DeviceOutcome) -> None:
            progress.advance(overall)
            progress.console.print(
                display(f"{outcome.device.name}: "),
                end="",
                markup=False,
            )
            progress.console.print(outcome.verdict.value.upper(), style=style[outcome.verdict], end="")
            progress.console.print(display(f" in {outcome.seconds:.1f} s  ({outcome.report_dir})"), markup=False)

        run = run_bench(
            plan,
            report_dir,
            jobs=jobs,
            options={
                "vsa_key": vsa_key,
                "history_db": history_db,
                "no_history": no_history,
                "test_result_key": signer,
            },
            on_start=started,
            on_done=finished,
        )
    summary = run.summary()
    junit_text = render_suites(run.device_reports() + ([summary] if run.interrupted else []), name=plan_path.name)
    if junit_path is not None:
        write_atomic(junit_path, junit_text.encode())
        console.print(display(f"junit: {junit_path}"), markup=False)
    counts = summary.metadata["verdicts"]
    line = f"{counts['pass']} pass, {counts['fail']} fail, {counts['inconclusive']} inconclusive"
    if run.interrupted:
        line += f", {len(run.interrupted)} interrupted"
    console.print(display(f"bench: {line}; reports in {report_dir}"), markup=False)
    if output_format == "junit":
        sys.stdout.write(junit_text)
        return int(summary.exit_code)
    return emit(summary, output_format)
