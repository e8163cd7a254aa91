"""``provcheck checks``: the catalogue of every check id, as aligned text, JSON, or the docs page."""

from __future__ import annotations

import json
import sys

import click

from verifier.checks.catalogue import DOCS_PATH, Check, matching, ordered
from verifier.commands.common import format_option
from verifier.output.sanitize import display


@click.command("checks")
@click.argument("pattern", required=False, default="*")
@format_option("markdown")
def checks(pattern: str, output_format: str) -> int:
    """List every check provcheck can emit (optionally those matching a glob such as 'tpm.*').

    The ids are what policies name in [firmware] fail/warn/allow, and what reports, SARIF and JUnit carry.
    --format markdown writes docs/checks.md.
    """
    if pattern == "*":
        chosen = ordered()
    else:
        ids = set(matching(pattern))
        chosen = tuple(c for c in ordered() if c.id in ids)
        if not chosen:
            raise click.UsageError(f"no check id matches {display(pattern, limit=200)!r}")
    if output_format == "json":
        sys.stdout.write(json.dumps([c.to_json() for c in chosen], indent=2) + "\n")
    elif output_format == "markdown":
        sys.stdout.write(markdown(chosen))
    else:
        sys.stdout.write(text(chosen))
    return 0


def text(chosen: tuple[Check, ...]) -> str:
    """One line per check: the id and the module of its judge, each padded to the longest, then its summary."""
    width = max((len(display(c.id)) for c in chosen), default=0)
    judge_width = max((len(c.judge) for c in chosen), default=0)
    lines = [f"{display(c.id).ljust(width)}  {display(c.judge).ljust(judge_width)}  {display(c.summary)}"
             for c in chosen]
    count = "1 check" if len(chosen) == 1 else f"{len(chosen)} checks"
    return "\n".join(lines) + f"\n\n{count}; each is documented at {DOCS_PATH}#<id>.\n"


def markdown(chosen: tuple[Check, ...] | None = None) -> str:
    """docs/checks.md: one section per check with an anchor named by its id."""
    out = [
        "# Checks",
        "",
        "Every check id provcheck can emit, generated from `verifier/checks/catalogue.py` by",
        "`provcheck checks --format markdown > docs/checks.md` (a test fails when this page is stale).",
        "Policies name these ids in `[firmware]` `fail`, `warn` and `allow` (globs must match at least one);",
        "reports, SARIF rules and JUnit test cases carry them.",
        "",
    ]
    for check in ordered() if chosen is None else chosen:
        out += [f'<a id="{check.id}"></a>', f"### `{check.id}`", "", check.summary, ""]
        family = f"; one of the family `{check.family}`" if check.family else ""
        out += [f"Judged in `{check.judge}`{family}.", ""]
    return "\n".join(out)
