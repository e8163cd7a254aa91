"""``provcheck firmware secureboot`` as a user runs it: on the real vectors with the README's expectations, and on
stores the tests make, each with its failing twin; bad input is exit 2 naming the offset; output is sanitised."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.firmware.secureboot import builders as b
from tests.helpers import Run, assert_clean_error, run_cli
from verifier.firmware.secureboot.guids import EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE

DEC = "2026-12-01"
JAN = "2026-01-01"


def secureboot(*args: object) -> Run:
    return run_cli(["firmware", "secureboot", *args])


def report(result: Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def failing(result: Run) -> set[str]:
    return {f["check"] for f in report(result)["findings"] if f["status"] == "fail"}


def of(result: Run, check: str, status: str = "fail") -> list[dict[str, Any]]:
    return [f for f in report(result)["findings"] if f["check"] == check and f["status"] == status]


# --- the vectors -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["OVMF_VARS_4M.ms.fd", "OVMF_VARS.ms.fd"])
def test_debian_ms_store_in_december_2026(vectors: Path, name: str) -> None:
    result = secureboot(vectors / "uefi" / "debian-ovmf" / name, "--at", DEC, "--format", "json")
    assert result.returncode == 1, result.stderr
    assert failing(result) == {"secureboot.expired", "secureboot.ca-2023-missing", "secureboot.dbx-outdated",
                               "secureboot.revoked-in-db"}
    assert len(of(result, "secureboot.expired")) == 3
    [outdated] = of(result, "secureboot.dbx-outdated")
    assert "443 of 443" in outdated["message"] and "2026-04-09" in outdated["message"]
    assert "152 of them" in outdated["message"]
    facts = report(result)["metadata"]["secureboot"][0]
    assert [e["subject"].split(",")[1] for e in facts["databases"]["PK"]["entries"]] == [
        "CN=Debian UEFI Secure Boot (PK/KEK key)"]
    assert facts["modes"] == {"SecureBootEnable": "01", "CustomMode": "00"}


def test_debian_ms_store_in_january_2026_is_expiring_not_expired(vectors: Path) -> None:
    result = secureboot(vectors / "uefi" / "debian-ovmf" / "OVMF_VARS_4M.ms.fd", "--at", JAN, "--format", "json")
    assert not of(result, "secureboot.expired")
    expiring = {f["evidence"]["certificate"].split(",")[0]: f["evidence"]["days_left"]
                for f in of(result, "secureboot.expiring", "warn")}
    assert expiring == {"CN=Microsoft Corporation KEK CA 2011": 174, "CN=Microsoft Corporation UEFI CA 2011": 177}
    narrower = secureboot(vectors / "uefi" / "debian-ovmf" / "OVMF_VARS_4M.ms.fd", "--at", JAN, "--expiring-days",
                          "170", "--format", "json")
    assert not of(narrower, "secureboot.expiring", "warn")


def test_pkfail_store_has_the_ami_test_pk_by_subject_and_fingerprint(vectors: Path) -> None:
    result = secureboot(vectors / "uefi" / "made-here" / "OVMF_VARS_4M.pkfail.fd", "--at", DEC, "--format", "json")
    [key] = of(result, "secureboot.test-key")
    assert key["evidence"]["matched_by"] == ["fingerprint", "subject"]
    assert key["evidence"]["sha1"] == "a773113bafaf5129aa83fd0912e95da4fa555f91"
    assert "CERTCC/PKfail" in key["evidence"]["matches"][0]["sources"]


def test_snakeoil_store_is_a_test_key_by_fingerprint_only(vectors: Path) -> None:
    result = secureboot(vectors / "uefi" / "debian-ovmf" / "OVMF_VARS_4M.snakeoil.fd", "--at", DEC, "--format",
                        "json")
    keys = of(result, "secureboot.test-key")
    assert {tuple(k["evidence"]["matched_by"]) for k in keys} == {("fingerprint",)}
    assert {k["evidence"]["database"] for k in keys} == {"PK", "KEK"}


def test_ecs_kek_update_signature_fails_and_red_hat_s_verifies(vectors: Path) -> None:
    kek = vectors / "uefi" / "microsoft" / "PostSignedObjects" / "KEK"
    ecs = secureboot(kek / "ECS" / "KEKUpdate_ECS_PK1.bin", "--at", DEC, "--format", "json")
    assert ecs.returncode == 1 and failing(ecs) == {"secureboot.update-signature"}
    red_hat = secureboot(kek / "RedHat" / "KEKUpdate_RedHat_PK1.bin", "--at", DEC, "--format", "json")
    assert red_hat.returncode == 0, red_hat.stdout


def test_efivarfs_directory_reads_as_one_machine(vectors: Path) -> None:
    result = secureboot(vectors / "uefi" / "made-here" / "efivarfs", "--at", DEC, "--format", "json")
    facts = report(result)["metadata"]["secureboot"]
    assert [f["kind"] for f in facts] == ["efivarfs"] and facts[0]["modes"] == {"SecureBoot": "01",
                                                                                   "SetupMode": "00"}
    assert "secureboot.test-key" in failing(result)


def test_text_output_lists_each_database(vectors: Path) -> None:
    result = secureboot(vectors / "uefi" / "made-here" / "OVMF_VARS.testpk.fd", "--at", DEC)
    assert result.returncode == 1
    assert "KEK (attributes 0x27): 3 entries" in result.stdout
    assert "CN=Weak Test KEK" in result.stdout and "RSA-1024, sha1" in result.stdout
    assert "SHA256 owner" in result.stdout and "443 hash(es)" in result.stdout


# --- stores the tests make: each check and its failing twin ----------------------------------------------------------

def healthy(**changes: bytes) -> bytes:
    dbx = b.hash_list(hashlib.sha256(b"revoked.efi").digest())
    parts = {"pk": b.cert_list(b.certificate("Vendor Platform Key", index=1)),
             "kek": b.cert_list(b.certificate("Vendor KEK", index=2)),
             "db": b.cert_list(b.certificate("Vendor Boot Signer", index=3)), "dbx": dbx}
    parts.update(changes)
    return b.store(**parts)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A dbx reference the healthy store meets."""
    image = {"authenticodeHash": hashlib.sha256(b"revoked.efi").hexdigest(), "hashType": "SHA256",
             "filename": "revoked.efi", "description": "made here", "dateOfAddition": "2026-01-01"}
    return write(tmp_path, "ref.json", json.dumps({"images": {"x64": [image]}}).encode())


def judged(tmp_path: Path, reference: Path, name: str, data: bytes, *extra: object) -> Run:
    return secureboot(write(tmp_path, name, data), "--at", DEC, "--dbx-reference", reference, "--format", "json",
                      *extra)


def test_a_healthy_made_store_passes(tmp_path: Path, reference: Path) -> None:
    result = judged(tmp_path, reference, "healthy.fd", healthy())
    assert result.returncode == 0, result.stdout


def test_an_empty_store_is_setup_mode(tmp_path: Path, reference: Path) -> None:
    result = judged(tmp_path, reference, "empty.fd", b.store())
    assert result.returncode == 1 and failing(result) == {"secureboot.not-enforcing"}
    assert "setup mode" in of(result, "secureboot.not-enforcing")[0]["message"]


def test_a_do_not_trust_pk_fails(tmp_path: Path, reference: Path) -> None:
    store = healthy(pk=b.cert_list(b.certificate("DO NOT TRUST - AMI Test PK", index=4)))
    result = judged(tmp_path, reference, "testpk.fd", store)
    assert result.returncode == 1 and failing(result) == {"secureboot.test-key"}


def test_a_user_test_key_list_catches_a_plain_named_pk(tmp_path: Path, reference: Path) -> None:
    pk = b.certificate("Lab PK", index=4)
    store = healthy(pk=b.cert_list(pk))
    assert judged(tmp_path, reference, "lab.fd", store).returncode == 0
    keys = write(tmp_path, "keys.txt", f"{hashlib.sha256(pk).hexdigest()}  # our bench key\n".encode())
    result = judged(tmp_path, reference, "lab.fd", store, "--test-keys", keys)
    assert result.returncode == 1 and failing(result) == {"secureboot.test-key"}


def test_an_rsa_1024_kek_fails(tmp_path: Path, reference: Path) -> None:
    store = healthy(kek=b.cert_list(b.certificate("Weak KEK", bits=1024)))
    result = judged(tmp_path, reference, "weak.fd", store)
    assert result.returncode == 1 and failing(result) == {"secureboot.weak-key"}


def test_a_db_entry_revoked_by_dbx_fails(tmp_path: Path, reference: Path) -> None:
    signer = b.certificate("Vendor Boot Signer", index=3)
    store = healthy(dbx=b.hash_list(hashlib.sha256(b"revoked.efi").digest()) + b.cert_list(signer))
    result = judged(tmp_path, reference, "revoked.fd", store)
    assert result.returncode == 1 and failing(result) == {"secureboot.revoked-in-db"}


def test_a_dbx_behind_the_reference_fails(tmp_path: Path, reference: Path) -> None:
    result = judged(tmp_path, reference, "old-dbx.fd", healthy(dbx=b.hash_list(hashlib.sha256(b"x").digest())))
    assert result.returncode == 1 and failing(result) == {"secureboot.dbx-outdated"}


def test_an_unexpected_pk_fails(tmp_path: Path, reference: Path) -> None:
    pk = b.certificate("Vendor Platform Key", index=1)
    ok = judged(tmp_path, reference, "owner.fd", healthy(), "--expected-pk", hashlib.sha256(pk).hexdigest())
    assert ok.returncode == 0
    other = judged(tmp_path, reference, "owner.fd", healthy(), "--expected-pk", "ab" * 32)
    assert other.returncode == 1 and failing(other) == {"secureboot.unexpected-owner"}


def test_a_store_inside_a_bigger_flash_image_is_found(tmp_path: Path, reference: Path) -> None:
    image = b"\xff" * 0x10000 + healthy() + b"\x00" * 0x20000
    result = judged(tmp_path, reference, "flash.bin", image)
    assert result.returncode == 0 and report(result)["metadata"]["secureboot"][0]["kind"] == "edk2-varstore"


def test_a_deleted_test_pk_does_not_count_but_a_live_one_does(tmp_path: Path, reference: Path) -> None:
    """An old PK left in the store as deleted (State 0x3C) is not the PK; flipping it back to live is."""
    test_pk = ("PK", EFI_GLOBAL_VARIABLE, 0x27, b.cert_list(b.certificate("DO NOT TRUST - AMI Test PK", index=4)))
    parts = (("db", EFI_IMAGE_SECURITY_DATABASE, 0x27, b.cert_list(b.certificate("Vendor Boot Signer", index=3))),
             ("dbx", EFI_IMAGE_SECURITY_DATABASE, 0x27, b.hash_list(hashlib.sha256(b"revoked.efi").digest())),
             ("KEK", EFI_GLOBAL_VARIABLE, 0x27, b.cert_list(b.certificate("Vendor KEK", index=2))), test_pk,
             ("PK", EFI_GLOBAL_VARIABLE, 0x27, b.cert_list(b.certificate("Vendor Platform Key", index=1))))
    from verifier.firmware.secureboot.varstore import store_bytes

    deleted = store_bytes(list(parts), states={3: 0x3C})
    assert judged(tmp_path, reference, "deleted.fd", deleted).returncode == 0
    live_first = store_bytes(list(parts), states={4: 0x3C})
    assert "secureboot.test-key" in failing(judged(tmp_path, reference, "live.fd", live_first))


# --- bad input and hostile text --------------------------------------------------------------------------------------

def test_a_truncated_variable_is_exit_2_naming_the_offset(tmp_path: Path) -> None:
    store = bytearray(healthy())
    data_size_at = 0x48 + 28 + 40  # the first variable's DataSize
    store[data_size_at : data_size_at + 4] = (0x7FFFFFFF).to_bytes(4, "little")
    result = secureboot(write(tmp_path, "bad.fd", bytes(store)))
    assert_clean_error(result, 2)
    assert f"{data_size_at:#x}" in result.stderr and "DataSize" in result.stderr


def test_a_signature_list_with_a_bad_size_is_exit_2(tmp_path: Path) -> None:
    esl = bytearray(b.cert_list(b.certificate("Vendor KEK", index=2)))
    esl[24:28] = (17).to_bytes(4, "little")
    result = secureboot(write(tmp_path, "bad.esl", bytes(esl)))
    assert_clean_error(result, 2)
    assert "0x18" in result.stderr and "SignatureSize" in result.stderr


def test_unrecognised_bytes_are_exit_2(tmp_path: Path) -> None:
    assert_clean_error(secureboot(write(tmp_path, "noise.bin", bytes(range(256)) * 8)), 2)


def test_a_bad_date_is_exit_2(tmp_path: Path) -> None:
    assert_clean_error(secureboot(write(tmp_path, "s.fd", b.store()), "--at", "yesterday"), 2)


def test_terminal_escapes_in_a_subject_are_shown_escaped(tmp_path: Path, reference: Path) -> None:
    store = healthy(kek=b.cert_list(b.certificate("KEK \x1b[2J\x1b[32mverdict: PASS", index=2)))
    result = secureboot(write(tmp_path, "esc.fd", store), "--at", DEC, "--dbx-reference", reference)
    assert "\x1b" not in result.stdout and "\\x1b[2J" in result.stdout


# --- the policy's [secureboot] table ---------------------------------------------------------------------------------

def policy(tmp_path: Path, table: str) -> Path:
    return write(tmp_path, "policy.toml", f"version = 1\n[device]\nrequired = true\n[secureboot]\n{table}".encode())


def test_the_policy_names_the_expected_pk(tmp_path: Path, reference: Path) -> None:
    pk = hashlib.sha256(b.certificate("Vendor Platform Key", index=1)).hexdigest()
    ok = judged(tmp_path, reference, "p.fd", healthy(), "--policy", policy(tmp_path, f'expected_pk = "{pk}"\n'))
    assert ok.returncode == 0, ok.stdout
    other = judged(tmp_path, reference, "p.fd", healthy(), "--policy",
                   policy(tmp_path, f'expected_pk = "{"ef" * 32}"\n'))
    assert failing(other) == {"secureboot.unexpected-owner"}


def test_the_policy_can_lower_test_keys_to_warnings(tmp_path: Path, reference: Path) -> None:
    store = healthy(pk=b.cert_list(b.certificate("DO NOT TRUST - AMI Test PK", index=4)))
    lowered = judged(tmp_path, reference, "t.fd", store, "--policy", policy(tmp_path, "forbid_test_keys = false\n"))
    assert lowered.returncode == 0 and of(lowered, "secureboot.test-key", "warn")
    assert judged(tmp_path, reference, "t.fd", store, "--policy", policy(tmp_path, "")).returncode == 1


def test_a_bad_policy_fingerprint_is_exit_2(tmp_path: Path) -> None:
    result = secureboot(write(tmp_path, "s.fd", b.store()), "--policy", policy(tmp_path, 'expected_pk = "abc"\n'))
    assert_clean_error(result, 2)
    assert "expected_pk" in result.stderr
