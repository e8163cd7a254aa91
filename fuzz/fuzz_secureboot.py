"""UEFI Secure Boot: variable stores, signature lists, signed updates, efivarfs dumps and event logs, then the judges.

Every input goes through the structural reader (as ``firmware secureboot`` does), and, so that each parser is
reached whatever the input looks like, through the store finder, the signature-list parser, the signed-update
parser and the efivarfs reader directly. Only ``SecureBootFormatError`` (bad input, exit 2) may escape.
"""

from __future__ import annotations

import contextlib
import datetime

import atheris

with atheris.instrument_imports(include=["verifier.firmware.secureboot", "verifier.checks.secureboot",
                                         "verifier.firmware.der"]):
    from verifier.checks.secureboot import SecureBootRules, check_secureboot
    from verifier.firmware.secureboot.auth import parse_authenticated_update
    from verifier.firmware.secureboot.databases import read_efivarfs, read_secureboot
    from verifier.firmware.secureboot.errors import SecureBootFormatError
    from verifier.firmware.secureboot.reference import shipped_dbx_reference, shipped_test_keys
    from verifier.firmware.secureboot.siglist import parse_signature_lists
    from verifier.firmware.secureboot.varstore import find_stores

from _harness import run

RULES = SecureBootRules(datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC), shipped_test_keys(),
                        shipped_dbx_reference())
EFIVARFS_PK = "PK-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def target(data: bytes) -> None:
    for reader in (lambda: find_stores(data, "store"), lambda: parse_signature_lists(data, "list"),
                   lambda: parse_authenticated_update(data, "update"),
                   lambda: check_secureboot(read_efivarfs([(EFIVARFS_PK, data)]), RULES)):
        with contextlib.suppress(SecureBootFormatError):
            reader()
    check_secureboot(read_secureboot("input", data), RULES)


if __name__ == "__main__":
    run(target, (SecureBootFormatError,))
