"""The seeds fuzz/seedgen.py makes for the secureboot harness are real inputs: each one parses, and the stores hold
the databases they were written with (a seed that failed to parse would fuzz only the first bounds check)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers import REPO
from verifier.firmware.secureboot.databases import read_efivarfs, read_secureboot


def test_generated_secureboot_seeds_parse(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "fuzz"))
    try:
        import seedgen
    finally:
        sys.path.remove(str(REPO / "fuzz"))
    seedgen.secureboot(tmp_path)
    kinds = {}
    for path in sorted(tmp_path.iterdir()):
        data = path.read_bytes()
        if path.suffix == ".efivarfs":
            state = read_efivarfs([("PK-8be4df61-93ca-11d2-aa0d-00e098032b8c", data)])
        else:
            state = read_secureboot(path.name, data)
        kinds[path.name] = (state.kind, sorted(state.databases))
    assert kinds["store-fv.fd"] == ("edk2-varstore", ["KEK", "PK", "db", "dbx"])
    assert kinds["store-plain.fd"] == kinds["store-bare.fd"] == kinds["store-fv.fd"]
    assert kinds["store-deleted.fd"] == ("edk2-varstore", ["KEK", "PK", "db", "dbx"])
    assert kinds["store-empty.fd"] == ("edk2-varstore", [])
    assert kinds["KEK-27.auth"] == kinds["KEK-67.auth"] == ("auth2", ["KEK"])
    assert kinds["types.esl"][0] == "esl" and kinds["cert.der"][0] == "x509"
    assert kinds["PK.efivarfs"] == ("efivarfs", ["PK"])
