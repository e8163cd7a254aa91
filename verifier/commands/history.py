"""``provcheck history``: list the intake records, and verify their hash chain."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from verifier.commands.common import emit, format_option


@click.command("history")
@click.option("--serial", "serial", default=None, help="Only the records of this device serial number.")
@click.option("--verify", is_flag=True, help="Verify the hash chain (exit 1 when a row was edited or deleted).")
@click.option("--full", is_flag=True, help="With --format json, include each record's report and VSA.")
@click.option(
    "--history-db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The history database [default: $PROVCHECK_HOME/history.sqlite3, else the user data directory].",
)
@format_option()
def history(serial: str | None, verify: bool, full: bool, history_db: Path | None, output_format: str) -> int:
    """List intake records, newest last, and optionally verify that none was edited or deleted."""
    from verifier.model import Report
    from verifier.workflows.history import History, check_chain

    store = History(history_db)
    if verify:
        report = Report("intake history chain", tuple(check_chain(store)), subject=str(store.path))
        return emit(report, output_format)
    if output_format == "json" and full:
        records = [r.to_json(full=True) for r in store.records(serial=serial)]
        sys.stdout.write(json.dumps({"path": str(store.path), "records": records}, indent=2, sort_keys=True) + "\n")
        return 0
    rows = store.summaries(serial=serial)
    if output_format == "json":
        sys.stdout.write(json.dumps({"path": str(store.path), "records": rows}, indent=2, sort_keys=True) + "\n")
        return 0
    if not rows:
        where = f" for serial {serial}" if serial else ""
        from verifier.output.sanitize import display

        click.echo(display(f"no intake records{where} in {store.path}"), err=True)
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from verifier.output.sanitize import display

    # Every cell is escaped: a serial or release name is whatever the device or release said,
    # and Text() alone still passes ESC and CR through to the terminal.
    table = Table(title=Text(display(f"intake history ({store.path})")))
    for column in ("#", "recorded (UTC)", "serial", "verdict", "release", "VSA", "row hash"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            Text(display(row["seq"])),
            Text(display(row["recorded_at"])),
            Text(display(row["serial"])),
            Text(display(str(row["verdict"]).upper())),
            Text(display(row["release"] or "")),
            "signed" if row["has_vsa"] else "-",
            Text(display(str(row["row_hash"])[:16])),
        )
    Console(file=sys.stdout, width=140, no_color=not sys.stdout.isatty(), highlight=False).print(table)
    return 0
