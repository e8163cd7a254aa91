"""One sanitiser for every place a person reads text that an attacker may have written.

File names, device serials, U-Boot banners, evidence and statement values reach the terminal,
log lines, report.txt, report titles, the HTML report, JUnit/SARIF message text and ``history``.
A terminal obeys escape sequences: ``ESC[2J ESC[H ... verdict: PASS ESC[8m`` clears the screen,
paints a green verdict and hides the real one. So every such value goes through ``display`` at
the sink, which shows these characters escaped instead of passing them on:

- C0 controls (U+0000-U+001F), including ESC, NUL, backspace, tab, CR and LF: a value is one
  line, and a CR or LF inside it could start a forged line of its own;
- DEL and the C1 controls (U+007F-U+009F), among them U+009B, the 8-bit CSI, and U+0085 (NEL);
- Unicode bidi overrides, embeddings, isolates and marks (U+202A-U+202E, U+2066-U+2069,
  U+200E, U+200F, U+061C), which reorder what the eye reads;
- invisible characters that make two different values look the same: zero-width space,
  (non-)joiners, word joiner and invisible operators (U+200B-U+200D, U+2060-U+2065), the
  byte-order mark (U+FEFF), the soft hyphen (U+00AD), line and paragraph separators
  (U+2028, U+2029) and tag characters (U+E0000-U+E007F). A serial ``ABC`` and ``ABC<ZWSP>``
  must not look alike to the operator comparing them;
- lone surrogates (U+D800-U+DFFF), which JSON can carry (``"\\ud800"``) but no encoder writes.

Escapes are shown as ``\\x1b`` below U+0100 and ``\\u202e`` above. A backslash is left as it is
(Windows paths stay readable), so a literal ``\\x1b`` typed by an attacker looks the same as an
escaped ESC: both are harmless text. Machine formats (report.json, evidence, the VSA) keep the
exact values; only what is shown to a person is escaped.
"""

from __future__ import annotations

import logging
import re

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff"
    "\U000e0000-\U000e007f]"
)
#: A displayed value longer than this is cut, so one hostile value cannot flood a screen or a log.
DEFAULT_LIMIT = 4096


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def display(value: object, *, limit: int | None = None) -> str:
    """``value`` as one line that is safe to show: every unsafe character escaped, cut after ``limit``."""
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return _UNSAFE.sub(_escape, text)


def is_safe(text: str) -> bool:
    """True when ``display`` would show ``text`` unchanged."""
    return _UNSAFE.search(text) is None


def storable(text: str) -> str:
    """``text`` with lone surrogates escaped (``\\ud800``) and nothing else changed: what a UTF-8 store can hold."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class SanitisingFormatter(logging.Formatter):
    """Log lines whose message is escaped like every other sink; a traceback (``--debug``) stays as it is."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = display(record.message, limit=DEFAULT_LIMIT)
        return super().formatMessage(record)
