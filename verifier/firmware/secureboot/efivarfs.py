"""Linux efivarfs dumps: a file per variable named ``Name-GUID``, holding a 4-byte attribute word then the data.

Hand-written: the format is four bytes of attributes, then the data; no package reads it.

This is what ``/sys/firmware/efi/efivars`` shows (and ``cat`` copies) on a running machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from verifier.firmware.secureboot.errors import SecureBootFormatError

NAME_PATTERN = re.compile(
    r"(?P<name>[^/]{1,512})-(?P<guid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
MAX_VARIABLE = 1024 * 1024


@dataclass(frozen=True)
class EfivarfsVariable:
    name: str
    guid: str
    attributes: int
    data: bytes


def efivarfs_name(file_name: str) -> tuple[str, str] | None:
    """(variable name, GUID) when ``file_name`` is an efivarfs name, else None."""
    match = NAME_PATTERN.fullmatch(file_name)
    return (match["name"], match["guid"]) if match else None


def parse_efivarfs(file_name: str, data: bytes) -> EfivarfsVariable:
    named = efivarfs_name(file_name)
    if named is None:
        raise SecureBootFormatError(file_name, 0, "an efivarfs file is named Name-GUID")
    if len(data) < 4:
        raise SecureBootFormatError(file_name, 0, f"{len(data)} bytes: an efivarfs file starts with 4 bytes of "
                                    "attributes")
    if len(data) > MAX_VARIABLE + 4:
        raise SecureBootFormatError(file_name, 4, f"variable of {len(data) - 4} bytes, more than {MAX_VARIABLE}")
    return EfivarfsVariable(named[0], named[1], int.from_bytes(data[:4], "little"), data[4:])
