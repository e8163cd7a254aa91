"""The strict TOML reader shared by policies and bench plans.

It reads a bounded UTF-8 file, parses it, and walks the result checking types; every problem is one
bad-input error naming the file, the line and the key. The caller chooses the error class, so a policy
raises ``PolicyError`` and a bench plan ``PlanError``, each naming what it read.
"""

from __future__ import annotations

import difflib
import enum
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from verifier.errors import BadInputError

#: One step of a key path: a table or key name, or an index into an array of tables.
Where = tuple[str | int, ...]
#: Checks one string value; returns why it is wrong, or None.
StringCheck = Callable[[str], str | None]
_Choice = TypeVar("_Choice", bound=enum.StrEnum)

# --- locating keys in the source, for error messages ------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(
    r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="""
)
_KEY_PART = re.compile(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(next(g for g in m.groups() if g is not None) for m in _KEY_PART.finditer(text))


def _locate(text: str, path: Sequence[str | int]) -> int | None:
    """The 1-based line that defines ``path`` (table names, array indexes and keys), if it can be found."""
    want = tuple(str(p) for p in path if not isinstance(p, int))
    indexes = [p for p in path if isinstance(p, int)]
    table: tuple[str, ...] = ()
    array_counts: dict[tuple[str, ...], int] = {}
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and not _KEY_LINE.match(line):
            table = _split_key(header.group(2))
            if header.group(1) == "[[":
                array_counts[table] = array_counts.get(table, -1) + 1
                if indexes and table == want[: len(table)] and array_counts[table] != indexes[0]:
                    table = ("\x00",)  # another element of the array: never matches
                    continue
            if table == want:
                best = best or number
            continue
        key = _KEY_LINE.match(line)
        if key:
            full = table + _split_key(key.group(1))
            if full == want:
                return number
            if best is None and len(full) < len(want) and want[: len(full)] == full:
                best = number  # an inline table or array holding the key
    return best


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# --- reading and parsing a file ------------------------------------------------------------------------------


def read_toml(
    path: Path, *, what: str, limit: int, error: type[BadInputError]
) -> tuple[str, dict[str, object]]:
    """The text of a TOML file of at most ``limit`` bytes, and its parsed tables; ``what`` names it in errors."""
    try:
        if path.is_dir():
            raise error(f"{path}: is a directory, not a {what} file")
        size = path.stat().st_size
        if size > limit:
            raise error(f"{path}: {size} bytes is too large for a {what} (limit {limit})")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return text, parse_toml(text, path, error=error)


def parse_toml(text: str, path: Path, *, error: type[BadInputError]) -> dict[str, object]:
    """Parse TOML text; a syntax error names the line, the key on it and the column."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise error(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's tomllib gives the position only inside the message: "... (at line L, column C)".
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(found.group(1)) if found else getattr(exc, "lineno", None)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "syntax error"
        key = ""
        if line:
            source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
            named = _KEY_LINE.match(source) or _HEADER.match(source)
            if named:
                key = f" key '{'.'.join(_split_key(named.group(1) if named.re is _KEY_LINE else named.group(2)))}':"
        at = f"{path}:{line}" if line else str(path)
        column = f", column {found.group(2)}" if found else ""
        raise error(f"{at}:{key} not valid TOML: {reason}{column}") from None
    except ValueError:  # tomllib's int() of a number past Python's digit limit
        raise error(f"{path}: not valid TOML: an integer with too many digits") from None


# --- walking the parsed tables ----------------------------------------------------------------------------


class TomlReader:
    """Walks the parsed TOML, checking types; every problem is ``error_type`` naming the line and the key."""

    def __init__(self, path: Path, text: str, error_type: type[BadInputError]) -> None:
        self.path = path
        self.text = text
        self.error_type = error_type

    def error(self, where: Where, message: str) -> BadInputError:
        line = _locate(self.text, where) if where else None
        at = f"{self.path}:{line}" if line else f"{self.path}"
        key = f" key '{_dotted(where)}':" if where else ""
        return self.error_type(f"{at}:{key} {message}")

    def table(self, value: object, where: Where, allowed: Iterable[str]) -> dict[str, object]:
        if not isinstance(value, dict):
            raise self.error(where, f"must be a table, not {kind(value)}")
        names = list(allowed)
        for key in value:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(names)})"
                raise self.error((*where, key), f"unknown key{hint}")
        return value

    def tables(
        self, table: Mapping[str, object], key: str, where: Where, allowed: Iterable[str]
    ) -> list[tuple[Where, dict[str, object]]]:
        """An array of tables (``[[where.key]]``): each element's key path and its checked table."""
        raw = table.get(key, [])
        if not isinstance(raw, list):
            raise self.error((*where, key), f"must be an array of tables: [[{_dotted((*where, key))}]]")
        names = tuple(allowed)
        return [((*where, key, i), self.table(item, (*where, key, i), names)) for i, item in enumerate(raw)]

    def boolean(self, table: Mapping[str, object], key: str, where: Where, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.error((*where, key), f"must be true or false, not {kind(value)}")
        return value

    def integer(
        self, table: Mapping[str, object], key: str, where: Where, *, minimum: int, default: int | None
    ) -> int | None:
        value = table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error((*where, key), f"must be an integer, not {kind(value)}")
        if value < minimum:
            raise self.error((*where, key), f"must be at least {minimum}, not {value}")
        return value

    def string(self, table: Mapping[str, object], key: str, where: Where, *, required: bool = False) -> str | None:
        if key not in table:
            if required:
                raise self.error(where, f"needs the key '{key}'")
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error((*where, key), f"must be a non-empty string, not {kind(value)}")
        return value

    def required_string(self, table: Mapping[str, object], key: str, where: Where) -> str:
        value = self.string(table, key, where, required=True)
        assert value is not None  # string() raised when the key is missing
        return value

    def choice(
        self, table: Mapping[str, object], key: str, where: Where, options: type[_Choice], default: _Choice
    ) -> _Choice:
        """One of an enum's values, by name; an unknown name lists the choices."""
        value = self.string(table, key, where)
        if value is None:
            return default
        try:
            return options(value)
        except ValueError:
            raise self.error((*where, key), f"must be one of {', '.join(options)}, not {value!r}") from None

    def strings(
        self, table: Mapping[str, object], key: str, where: Where, check: StringCheck | None = None
    ) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error((*where, key), "must be a list of non-empty strings")
        items: list[str] = value
        if check is not None:
            for item in items:
                problem = check(item)
                if problem:
                    raise self.error((*where, key), f"{item!r}: {problem}")
        return tuple(items)

    def file(self, value: str, where: Where) -> Path:
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.path.parent / path
        try:
            readable = path.is_file()
        except (OSError, ValueError):
            # A name too long for the filesystem or holding a NUL byte; found by fuzzing.
            readable = False
        if not readable:
            raise self.error(where, f"names {value[:200]!r}, which is not a readable file")
        return path


def kind(value: object) -> str:
    """How an error names a TOML value's type."""
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
