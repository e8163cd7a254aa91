"""What every subcommand shares: the --format option and how a report is emitted."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from verifier.model import Report
from verifier.output import get_renderer

F = TypeVar("F", bound=Callable[..., Any])


def format_option(*extra: str) -> Callable[[F], F]:
    """``--format text|json`` plus the formats a command adds (sarif, junit)."""
    choices = ["text", "json", *extra]
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help="Output format; machine formats go to stdout, logs to stderr.",
    )


def emit(report: Report, output_format: str) -> int:
    """Write the report to stdout in the chosen format and return the exit code."""
    renderer = get_renderer(output_format)
    if output_format == "text":
        from verifier.output.text import TextRenderer

        renderer = TextRenderer(color=sys.stdout.isatty())
    sys.stdout.write(renderer.render(report))
    sys.stdout.flush()
    return int(report.exit_code)
