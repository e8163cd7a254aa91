"""Reading one field of a declaration: the JSON type, and a reader whose errors name the field.

Every parser in this package goes through ``FieldReader`` so that a bad declaration is
rejected with the same kind of message wherever it is read ("<where>: 'components[2].class'
must be a string"), in the manner of python-tuf's ``from_dict``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from verifier.errors import BadInputError

#: A JSON value as ``json.loads`` returns it. Parts of a declaration kept as written (to re-emit them) use it.
JsonValue: TypeAlias = "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
JsonObject: TypeAlias = "Mapping[str, JsonValue]"

HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class FieldReader:
    """Typed reads of a JSON object's fields; every error names the document and the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def error(self, what: str) -> BadInputError:
        return BadInputError(f"{self.where}: {what}")

    def text(self, obj: Mapping[str, object], key: str, name: str | None = None) -> str | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(f"'{name or key}' must be a string")
        return value

    def integer(self, obj: Mapping[str, object], key: str, name: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(f"'{name}' must be a non-negative integer")
        return value
