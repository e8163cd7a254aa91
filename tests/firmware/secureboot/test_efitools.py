"""Signed variable updates made by Debian's efitools (cert-to-efi-sig-list, sign-efi-sig-list), as a vendor makes them.

The other Secure Boot tests write signature lists and ``.auth`` files with provcheck's own test builders; these are
made by the tools vendors and distributions use, so the parser is checked against an independent writer. Each
check has its twin: the same update with an honest key passes where the test key or the weak key fails, and a
byte changed inside the signed list breaks the update's signature.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.skipif(
    shutil.which("sign-efi-sig-list") is None or shutil.which("cert-to-efi-sig-list") is None,
    reason="needs Debian's efitools (tests/run.sh installs it)",
)

OWNER = "11111111-2222-3333-4444-555555555555"


def _certificate(tmp: Path, name: str, subject: str, bits: int) -> tuple[Path, Path]:
    key, crt = tmp / f"{name}.key", tmp / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-new", "-x509", "-newkey", f"rsa:{bits}", "-nodes", "-subj", f"/CN={subject}/",
         "-keyout", key, "-out", crt, "-days", "3650"],
        check=True, capture_output=True, timeout=60,
    )
    return key, crt


def _signed_update(tmp: Path, variable: str, crt: Path, signer_key: Path, signer_crt: Path) -> Path:
    esl, auth = tmp / f"{variable}.esl", tmp / f"{variable}.auth"
    subprocess.run(["cert-to-efi-sig-list", "-g", OWNER, crt, esl], check=True, capture_output=True, timeout=60)
    subprocess.run(
        ["sign-efi-sig-list", "-k", signer_key, "-c", signer_crt, variable, esl, auth],
        check=True, capture_output=True, timeout=60,
    )
    return auth


def _judge(path: Path) -> tuple[int, dict[str, list[str]]]:
    result = run_cli(["firmware", "secureboot", path, "--format", "json"])
    assert result.returncode in (0, 1), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    statuses: dict[str, list[str]] = {}
    for finding in report["findings"]:
        statuses.setdefault(finding["check"], []).append(finding["status"])
    return result.returncode, statuses


def test_a_pk_update_with_a_do_not_trust_key_fails_and_its_honest_twin_passes(tmp_path: Path) -> None:
    key, crt = _certificate(tmp_path, "pk", "DO NOT TRUST - AMI Test PK", 2048)
    code, statuses = _judge(_signed_update(tmp_path, "PK", crt, key, crt))
    assert code == 1
    assert "fail" in statuses["secureboot.test-key"]
    assert statuses["secureboot.update-signature"] == ["pass"]

    honest = tmp_path / "honest"
    honest.mkdir()
    key, crt = _certificate(honest, "pk", "Example Corp Platform Key 2026", 2048)
    code, statuses = _judge(_signed_update(honest, "PK", crt, key, crt))
    assert statuses["secureboot.test-key"] == ["pass"] * len(statuses["secureboot.test-key"])
    assert statuses["secureboot.update-signature"] == ["pass"]
    assert code == 0


def test_an_rsa_1024_kek_fails_weak_key_and_a_2048_bit_one_passes(tmp_path: Path) -> None:
    pk_key, pk_crt = _certificate(tmp_path, "pk", "Example Corp Platform Key 2026", 2048)
    _, weak = _certificate(tmp_path, "weak", "Example Corp KEK 2026", 1024)
    code, statuses = _judge(_signed_update(tmp_path, "KEK", weak, pk_key, pk_crt))
    assert code == 1
    assert "fail" in statuses["secureboot.weak-key"]

    strong_dir = tmp_path / "strong"
    strong_dir.mkdir()
    _, strong = _certificate(strong_dir, "kek", "Example Corp KEK 2026", 2048)
    code, statuses = _judge(_signed_update(strong_dir, "KEK", strong, pk_key, pk_crt))
    assert statuses["secureboot.weak-key"] == ["pass"] * len(statuses["secureboot.weak-key"])
    assert code == 0


def test_a_byte_changed_inside_the_signed_list_breaks_the_update_signature(tmp_path: Path) -> None:
    key, crt = _certificate(tmp_path, "pk", "Example Corp Platform Key 2026", 2048)
    auth = _signed_update(tmp_path, "PK", crt, key, crt)
    esl = (tmp_path / "PK.esl").read_bytes()
    data = bytearray(auth.read_bytes())
    assert data.endswith(esl)  # the signed list follows the authentication header
    # The owner GUID of the list's one entry: outside the certificate, so the list still parses.
    at = len(data) - len(esl) + 28
    data[at] ^= 0x01
    tampered = tmp_path / "PK-tampered.auth"
    tampered.write_bytes(bytes(data))
    code, statuses = _judge(tampered)
    assert code == 1
    assert statuses["secureboot.update-signature"] == ["fail"]
