"""Capabilities: dangerous imports, and YARA matches from the shipped rules plus the user's own.

A capability is a fact about an image. Whether it is acceptable depends on whether the vendor declared it,
which ``verifier.checks.firmware`` decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from verifier.errors import BadInputError

# Heavy, so imported inside the functions that use it: yara,
# loaded only when rules are compiled (firmware --help must not load it).

# Imports that give code execution, process control, networking or dynamic loading.
DANGEROUS_IMPORTS = re.compile(
    r"^(system|popen|_popen|wordexp|exec[lv]p?e?|execvpe|fexecve|posix_spawnp?|fork|vfork|clone"
    r"|socket|connect|bind|listen|accept4?|dlopen|dlmopen|ptrace|setuid|setgid|setresuid"
    r"|WinExec|ShellExecute[AW]?(Ex)?[AW]?|CreateProcess[AW]?|CreateRemoteThread|LoadLibrary(Ex)?[AW]?"
    r"|WSAStartup|URLDownloadToFile[AW]?|InternetOpen[AW]?|VirtualAllocEx|WriteProcessMemory)$"
)
_MAX_MATCH_TEXT = 96
_MAX_MATCHES_PER_RULE = 32


@dataclass(frozen=True)
class StringMatch:
    rule: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "value": self.value}


def is_dangerous_import(name: str) -> bool:
    return bool(DANGEROUS_IMPORTS.match(name))


def shipped_rules_path() -> Path:
    return Path(str(resources.files("verifier.firmware") / "rules" / "capabilities.yar"))


def compile_rules(extra: Path | None = None) -> Any:
    """The shipped rule set, plus ``extra`` under the namespace ``user``; a bad rule file is bad input."""
    import yara

    sources = {"provcheck": shipped_rules_path()}
    if extra is not None:
        sources["user"] = extra
    try:
        return yara.compile(filepaths={ns: str(path) for ns, path in sources.items()})
    except yara.SyntaxError as exc:
        raise BadInputError(f"YARA rules do not compile: {' '.join(str(exc).split())}") from exc
    except yara.Error as exc:
        raise BadInputError(f"cannot load YARA rules: {' '.join(str(exc).split())}") from exc


def string_matches(rules: Any, data: bytes, *, timeout: int = 60) -> tuple[StringMatch, ...]:
    """Distinct (rule, matched text) pairs, sorted; the text is printable ASCII, shortened."""
    import yara

    try:
        matches = rules.match(data=data, timeout=timeout)
    except yara.TimeoutError:
        return (StringMatch("provcheck.timeout", "YARA scan timed out"),)
    found: set[StringMatch] = set()
    for match in matches:
        rule = f"{match.namespace}.{match.rule}"
        values: set[str] = set()
        for string in match.strings:
            for instance in string.instances:
                values.add(_printable(bytes(instance.matched_data)))
                if len(values) >= _MAX_MATCHES_PER_RULE:
                    break
        if not values:
            values.add("")
        found.update(StringMatch(rule, value) for value in values)
    return tuple(sorted(found, key=lambda m: (m.rule, m.value)))


def _printable(raw: bytes) -> str:
    text = raw.replace(b"\x00", b"").decode("ascii", "replace")
    text = "".join(ch if 32 <= ord(ch) < 127 else "." for ch in text)
    return text[:_MAX_MATCH_TEXT]
