"""The check ids in the reports a test run wrote, for the session-end audit in tests/conftest.py.

Why files: most tests run ``provcheck`` in a subprocess, exactly as a user would, and its reports land
under pytest's temporary directories (``--report-dir``, ``-o``, bench and demo folders). Reading them
back at session end sees what provcheck really emitted, costs one directory walk, and needs no hook
inside provcheck itself. What a subprocess printed to stdout only is not seen here; the static test in
tests/verifier/test_catalogue.py covers every id in the source, so this audit is the second net.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from verifier.checks.catalogue import CATALOGUE
from verifier.model import Status

#: Ids that tests invent on purpose (to exercise renderers and report sets with findings of no real check).
SYNTHETIC = frozenset({"c", "a.b", "x.check", "firmware.entropy-change", "hw.transport"})
#: Larger files are firmware images or logs, never a report.
_MAX_REPORT_BYTES = 16 << 20
_STATUSES = frozenset(s.value for s in Status)


def check_ids_in(value: object) -> Iterator[str]:
    """Every check id in a parsed report: findings (``check`` with a ``status``) and SARIF results (``ruleId``)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("check"), str) and item.get("status") in _STATUSES:
                yield item["check"]
            if isinstance(item.get("ruleId"), str) and "kind" in item:
                yield item["ruleId"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def emitted_under(root: Path) -> dict[str, Path]:
    """Each check id found in a .json or .sarif file under ``root``, with one file it was found in."""
    found: dict[str, Path] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            if not name.endswith((".json", ".sarif")):
                continue
            path = Path(folder) / name
            try:
                if path.stat().st_size > _MAX_REPORT_BYTES:
                    continue
                data = json.loads(path.read_bytes())
            except (OSError, ValueError, RecursionError):
                continue  # not a report: a hostile test input, a half-written file
            for check in check_ids_in(data):
                found.setdefault(check, path)
    return found


def uncatalogued(found: dict[str, Path]) -> dict[str, Path]:
    return {c: p for c, p in found.items() if c not in CATALOGUE and c not in SYNTHETIC}
