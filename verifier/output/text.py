"""Human-readable text: a rich table of findings, then the verdict and its reasons."""

from __future__ import annotations

import io

from verifier.model import Report, Status, Verdict
from verifier.output.sanitize import display

# Heavy, so imported inside the functions that use it: rich (~35 ms), loaded only when text is rendered.

_STATUS_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.WARN: "yellow",
    Status.SKIP: "dim",
    Status.ERROR: "magenta",
}
_VERDICT_STYLE = {Verdict.PASS: "bold green", Verdict.FAIL: "bold red", Verdict.INCONCLUSIVE: "bold yellow"}


class TextRenderer:
    name = "text"

    def __init__(self, *, color: bool | None = None, width: int = 120) -> None:
        self._color = color
        self._width = width

    def render(self, report: Report) -> str:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        buffer = io.StringIO()
        console = Console(
            file=buffer,
            width=self._width,
            force_terminal=bool(self._color),
            no_color=not self._color,
            highlight=False,
            soft_wrap=False,
        )
        # Every value goes through display(): titles, serials and messages quote file names and device
        # output, and a terminal would obey the escape sequences in them (a forged, green verdict).
        table = Table(title=Text(display(report.title)), show_lines=False, expand=False)
        table.add_column("status", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("subject", overflow="fold", max_width=40)
        table.add_column("message", overflow="fold")
        for f in report.findings:
            # Text(), not markup strings: messages quote device output and must never be interpreted.
            table.add_row(
                Text(f.status.value.upper(), style=_STATUS_STYLE[f.status]),
                Text(display(f.check)),
                Text(display(f.subject)),
                Text(display(f.message)),
            )
        console.print(table)
        verdict = report.verdict
        counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
        console.print(Text(f"verdict: {verdict.value.upper()}", style=_VERDICT_STYLE[verdict]), Text(f"({counts})"))
        for f in report.reasons():
            label = f"{f.check} [{f.subject}]" if f.subject else f.check
            console.print(Text(display(f"  because {label}: {f.message}")))
        return buffer.getvalue()
