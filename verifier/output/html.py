"""A self-contained HTML report: one file, no scripts, no external assets, readable printed.

Besides the findings it shows, when the report's metadata carries them:
- ``evidence_chain``: a list of {"predicate_type", "subject", "digests", "signers", "status"}:
  who vouched for which digest;
- ``device``: the device identity as read ({"manufacturer", "model", "serial", ...});
- ``component_diff``: a list of {"change": added|removed|changed|matched, "class", "declared", "observed"};
- ``release``, ``policy``, ``vsa``: small dicts shown as key/value lines.

Everything from the input is escaped, and a Content-Security-Policy forbids scripts and
remote loads, so hostile strings from a device cannot run or phone home when the report is opened.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

from verifier.model import Finding, Report, Status, Verdict
from verifier.output.sanitize import display

_CSS = """
:root { --pass:#1a7f37; --fail:#cf222e; --warn:#9a6700; --skip:#6e7781; --error:#8250df; --inc:#9a6700; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color:#1f2328;
       margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.sub { color:#57606a; margin: 0 0 16px; word-break: break-all; }
.verdict { display:inline-block; padding: 8px 16px; border-radius: 6px; color:#fff; font-weight: 700;
           font-size: 20px; letter-spacing: .05em; }
.verdict.pass { background: var(--pass); } .verdict.fail { background: var(--fail); }
.verdict.inconclusive { background: var(--inc); }
.counts { margin-left: 12px; color:#57606a; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #eaeef2; }
th { background: #f6f8fa; font-weight: 600; }
td.mono, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
.st { font-weight: 700; text-transform: uppercase; font-size: 12px; white-space: nowrap; }
.st.pass { color: var(--pass); } .st.fail { color: var(--fail); } .st.warn { color: var(--warn); }
.st.skip { color: var(--skip); } .st.error { color: var(--error); }
.st.added, .st.removed, .st.changed { color: var(--fail); } .st.matched { color: var(--pass); }
ul.reasons li { margin: 2px 0; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 6px 0; }
dl.kv dt { color:#57606a; } dl.kv dd { margin: 0; word-break: break-all; }
details summary { cursor: pointer; color:#57606a; }
footer { margin-top: 32px; color:#57606a; font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  .verdict { border: 2px solid #000; color: #000 !important; background: none !important; }
  tr { page-break-inside: avoid; } h2 { page-break-after: avoid; }
  details > *:not(summary) { display: block; }
}
"""


def _e(value: Any) -> str:
    # display() first: a browser does not obey ESC, but bidi overrides reorder what is read, invisible
    # characters make two serials look alike, and a lone surrogate cannot be written as UTF-8 at all.
    if isinstance(value, str):
        return html.escape(display(value), quote=True)
    return html.escape(display(json.dumps(value, sort_keys=True, default=str)), quote=True)


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "<br>".join(f"{_e(str(k))}: {_value(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(_e(str(v)) for v in value)
    return _e(value)


def _kv(items: Mapping[str, Any]) -> str:
    rows = "".join(f'<dt>{_e(str(k))}</dt><dd class="mono">{_value(v)}</dd>' for k, v in items.items())
    return f'<dl class="kv">{rows}</dl>'


def _status(value: str) -> str:
    return f'<span class="st {_e(value)}">{_e(value)}</span>'


def _findings_table(findings: Iterable[Finding]) -> str:
    rows = []
    for f in findings:
        evidence = ""
        if f.evidence:
            # json.dumps escapes every non-ASCII and control character itself; the newlines of indent stay.
            body = html.escape(json.dumps(dict(f.evidence), indent=1, sort_keys=True, default=str)[:4000], quote=True)
            evidence = f'<details><summary>evidence</summary><pre class="mono">{body}</pre></details>'
        rows.append(
            f'<tr><td>{_status(f.status.value)}</td><td class="mono">{_e(f.check)}</td>'
            f'<td class="mono">{_e(f.subject)}</td><td>{_e(f.message)}{evidence}</td></tr>'
        )
    if not rows:
        return "<p>None.</p>"
    head = "<tr><th>status</th><th>check</th><th>subject</th><th>message</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _chain_table(chain: list[Mapping[str, Any]]) -> str:
    head = "<tr><th>status</th><th>statement</th><th>subject</th><th>digest</th><th>signed by</th></tr>"
    rows = []
    for link in chain:
        digests = link.get("digests") or {}
        digest = "<br>".join(f"{_e(str(a))}:{_e(str(d))}" for a, d in sorted(dict(digests).items()))
        signers = link.get("signers") or []
        rows.append(
            f'<tr><td>{_status(str(link.get("status", "")))}</td>'
            f'<td class="mono">{_e(str(link.get("predicate_type", "")))}</td>'
            f'<td class="mono">{_e(str(link.get("subject", "")))}</td><td class="mono">{digest}</td>'
            f'<td class="mono">{"<br>".join(_e(str(s)) for s in signers) or "nobody trusted"}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _component_table(diff: list[Mapping[str, Any]]) -> str:
    head = "<tr><th>change</th><th>class</th><th>declared</th><th>observed</th></tr>"
    rows = []
    for item in diff:

        def side(value: Any) -> str:
            if not value:
                return "&mdash;"
            if isinstance(value, Mapping):
                return "<br>".join(f"{_e(str(k))}: {_e(v)}" for k, v in value.items() if v not in (None, ""))
            return _e(value)

        rows.append(
            f"<tr><td>{_status(str(item.get('change', '')))}</td><td>{_e(str(item.get('class', '')))}</td>"
            f'<td class="mono">{side(item.get("declared"))}</td><td class="mono">{side(item.get("observed"))}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


class HtmlRenderer:
    name = "html"

    def render(self, report: Report) -> str:
        meta = dict(report.metadata)
        verdict = report.verdict
        counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(report.title)}: {_e(verdict.value)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{_e(report.title)}</h1>",
            f'<p class="sub">{_e(report.subject)}</p>',
            f'<p><span class="verdict {_e(verdict.value)}" id="verdict">{_e(verdict.value.upper())}</span>'
            f'<span class="counts">{_e(counts)}{" (strict)" if report.strict else ""}</span></p>',
        ]
        reasons = report.reasons()
        if verdict is not Verdict.PASS and reasons:
            items = "".join(
                f'<li><span class="mono">{_e(f.check)}</span>{" [" + _e(f.subject) + "]" if f.subject else ""}: '
                f"{_e(f.message)}</li>"
                for f in reasons
            )
            parts.append(f'<h2>Why</h2><ul class="reasons">{items}</ul>')
        facts = {k: meta[k] for k in ("release", "policy", "vsa", "generated_at") if k in meta}
        if facts:
            parts.append("<h2>Intake</h2>" + _kv({k: v for k, v in facts.items()}))
        chain = meta.get("evidence_chain")
        parts.append("<h2>Evidence chain</h2>")
        parts.append(_chain_table(list(chain)) if chain else "<p>No attestations were verified.</p>")
        device = meta.get("device")
        parts.append("<h2>Device</h2>")
        parts.append(_kv(device) if isinstance(device, Mapping) and device else "<p>No device was read.</p>")
        diff = meta.get("component_diff")
        if diff:
            parts.append("<h3>Components: declared against observed</h3>" + _component_table(list(diff)))
        firmware = [f for f in report.findings if f.check.startswith("firmware.")]
        parts.append("<h2>Firmware findings</h2>")
        parts.append(_findings_table(firmware) if firmware else "<p>No firmware was scanned.</p>")
        parts.append("<h2>All findings</h2>")
        parts.append(_findings_table(report.findings))
        worst = [s for s in (Status.FAIL, Status.ERROR) if report.counts()[s.value]]
        footer = "provcheck report" + (f" &middot; {', '.join(s.value for s in worst)} present" if worst else "")
        parts.append(f"<footer>{footer}</footer></body></html>")
        return "\n".join(parts) + "\n"
