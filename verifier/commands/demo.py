"""``provcheck demo``: the whole flow end to end on the embedded defaults."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from verifier.commands.common import format_option


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Work in this directory (created if needed) instead of a new temporary one.",
)
@format_option()
def demo(directory: Path | None, output_format: str) -> int:
    """Sign a release, take in a simulated device that passes, then a tampered device and firmware that fail.

    Needs nothing but provcheck itself: the firmware is generated, the device is simulated on a pty.
    Exit 0 when every case came out as expected.
    """
    from verifier.workflows.demo import run_demo

    say = (lambda line: click.echo(line, err=True)) if output_format == "json" else click.echo
    result = run_demo(directory, say=say)
    if output_format == "json":
        payload = {
            "directory": str(result.directory),
            "ok": result.ok,
            "cases": [
                {
                    "name": case.name,
                    "verdict": case.verdict.value,
                    "expected": case.expected.value,
                    "report_dir": str(case.report_dir),
                    "reasons": [f.to_json() for f in case.report.reasons()],
                }
                for case in result.cases
            ],
        }
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    elif result.ok:
        click.echo("demo: every case came out as expected")
    else:
        click.echo("demo: a case did not come out as expected; see the reports above", err=True)
    return 0 if result.ok else 1
