"""The Secure Boot judges on stores, updates and efivarfs sets the tests make, each check with its failing twin made
the way an attacker (or a careless vendor) would."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from tests.firmware.secureboot import builders as b
from verifier.checks.secureboot import SecureBootRules, carries_test_key, check_secureboot
from verifier.firmware.secureboot.databases import SecureBootState, read_efivarfs, read_secureboot
from verifier.firmware.secureboot.guids import EFI_GLOBAL_VARIABLE
from verifier.firmware.secureboot.reference import (
    DbxReference,
    load_dbx_reference,
    load_test_keys,
    shipped_dbx_reference,
    shipped_test_keys,
)
from verifier.model import Finding, Status


def rules(**changes: object) -> SecureBootRules:
    base = SecureBootRules(b.NOW, shipped_test_keys(), shipped_dbx_reference())
    return SecureBootRules(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def judge(data: bytes, name: str = "store.fd", **changes: object) -> list[Finding]:
    return check_secureboot(read_secureboot(name, data), rules(**changes))


def statuses(findings: list[Finding], check: str) -> set[Status]:
    return {f.status for f in findings if f.check == check}


def enrolled(**changes: bytes) -> bytes:
    """A healthy platform: own PK and KEK, a db certificate; everything else as given."""
    parts = {"pk": b.cert_list(b.certificate("Vendor Platform Key", index=1)),
             "kek": b.cert_list(b.certificate("Vendor KEK", index=2)),
             "db": b.cert_list(b.certificate("Vendor Boot Signer", index=3))}
    parts.update(changes)
    return b.store(**parts)


# --- secureboot.test-key ---------------------------------------------------------------------------------------------

def test_a_do_not_trust_pk_is_a_test_key_by_subject() -> None:
    findings = judge(enrolled(pk=b.cert_list(b.certificate("DO NOT TRUST - AMI Test PK", index=4))))
    failing = [f for f in findings if f.check == "secureboot.test-key" and f.status is Status.FAIL]
    assert len(failing) == 1 and failing[0].evidence["matched_by"] == ["subject"]
    assert carries_test_key(findings)


def test_the_same_store_with_a_vendor_pk_has_no_test_key() -> None:
    findings = judge(enrolled())
    assert statuses(findings, "secureboot.test-key") == {Status.PASS}
    assert not carries_test_key(findings)


@pytest.mark.parametrize("name", ["do not ship - oem pk", "Vendor PK (DO NOT TRUST)"])
def test_the_marker_is_found_in_any_case_and_position(name: str) -> None:
    assert statuses(judge(enrolled(pk=b.cert_list(b.certificate(name, index=4)))), "secureboot.test-key") == {
        Status.FAIL}


def test_a_marker_in_the_issuer_only_still_matches() -> None:
    pk = b.certificate("Innocent PK", issuer_cn="DO NOT TRUST - AMI Test CA", index=4)
    assert statuses(judge(enrolled(pk=b.cert_list(pk))), "secureboot.test-key") == {Status.FAIL}


def test_a_test_kek_fails_and_a_test_db_entry_warns() -> None:
    findings = judge(enrolled(kek=b.cert_list(b.certificate("DO NOT SHIP KEK", index=5)),
                              db=b.cert_list(b.certificate("DO NOT TRUST db", index=6))))
    by_db = {f.evidence["database"]: f.status for f in findings if f.check == "secureboot.test-key"}
    assert by_db == {"KEK": Status.FAIL, "db": Status.WARN}


def test_a_user_list_adds_a_fingerprint_and_a_plain_subject_is_then_caught(tmp_path: Path) -> None:
    pk = b.certificate("Lab Bench PK", index=7)
    store = enrolled(pk=b.cert_list(pk))
    assert statuses(judge(store), "secureboot.test-key") == {Status.PASS}
    listed = load_test_keys("mine.txt", f"{hashlib.sha256(pk).hexdigest()}  # our lab key\n".encode())
    findings = judge(store, test_keys=shipped_test_keys().extended(listed))
    failing = [f for f in findings if f.check == "secureboot.test-key"]
    assert [f.evidence["matched_by"] for f in failing] == [["fingerprint"]]


def test_a_test_pk_under_a_foreign_guid_is_not_the_pk() -> None:
    """Firmware reads PK only under EFI_GLOBAL_VARIABLE: a 'PK' elsewhere is ignored, and listed as such."""
    fake = ("PK", "11111111-2222-3333-4444-555555555555", 0x27, b.cert_list(b.certificate("DO NOT TRUST", index=4)))
    state = read_secureboot("store.fd", b.store(pk=b.cert_list(b.certificate("Vendor Platform Key", index=1)),
                                                extra=(fake,)))
    assert state.ignored == ("PK-11111111-2222-3333-4444-555555555555",)
    assert statuses(check_secureboot(state, rules()), "secureboot.test-key") == {Status.PASS}


def test_forbid_test_keys_false_lowers_to_a_warning() -> None:
    store = enrolled(pk=b.cert_list(b.certificate("DO NOT TRUST - AMI Test PK", index=4)))
    assert statuses(judge(store, forbid_test_keys=False), "secureboot.test-key") == {Status.WARN}


# --- secureboot.not-enforcing ----------------------------------------------------------------------------------------

def test_an_empty_store_is_setup_mode() -> None:
    findings = judge(b.store())
    failing = [f for f in findings if f.check == "secureboot.not-enforcing"]
    assert [f.status for f in failing] == [Status.FAIL] and "setup mode" in failing[0].message


def test_a_store_with_a_pk_enforces() -> None:
    assert statuses(judge(enrolled()), "secureboot.not-enforcing") == {Status.PASS}


def test_secure_boot_enable_zero_does_not_enforce() -> None:
    store = b.store(pk=b.cert_list(b.certificate("Vendor Platform Key", index=1)), secure_boot_enable=0)
    assert statuses(judge(store), "secureboot.not-enforcing") == {Status.FAIL}


def test_audit_mode_on_a_device_does_not_enforce(tmp_path: Path) -> None:
    pk = b.cert_list(b.certificate("Vendor Platform Key", index=1))
    variables = {"PK": (EFI_GLOBAL_VARIABLE, 0x27, pk), "SecureBoot": (EFI_GLOBAL_VARIABLE, 0x6, b"\x01"),
                 "SetupMode": (EFI_GLOBAL_VARIABLE, 0x6, b"\x00")}
    paths = b.efivarfs_dir(tmp_path / "ok", variables)
    good = read_efivarfs([(p.name, p.read_bytes()) for p in paths])
    assert statuses(check_secureboot(good, rules()), "secureboot.not-enforcing") == {Status.PASS}
    variables["AuditMode"] = (EFI_GLOBAL_VARIABLE, 0x6, b"\x01")
    paths = b.efivarfs_dir(tmp_path / "audit", variables)
    audit = read_efivarfs([(p.name, p.read_bytes()) for p in paths])
    assert statuses(check_secureboot(audit, rules()), "secureboot.not-enforcing") == {Status.FAIL}


def test_a_lone_signature_list_says_nothing_about_enforcement() -> None:
    findings = judge(b.cert_list(b.certificate("Vendor KEK", index=2)), "kek.esl")
    assert not statuses(findings, "secureboot.not-enforcing")


# --- secureboot.expired / expiring -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("days", "check", "status"), [
    (-1, "secureboot.expired", Status.FAIL), (10, "secureboot.expiring", Status.WARN),
    (400, "secureboot.expiring", Status.PASS), (400, "secureboot.expired", Status.PASS)])
def test_expiry_is_judged_at_the_given_time(days: int, check: str, status: Status) -> None:
    kek = b.certificate(f"KEK ending in {days} days", index=2, not_after=b.NOW + dt.timedelta(days=days))
    assert statuses(judge(enrolled(kek=b.cert_list(kek))), check) == {status}


def test_the_window_is_a_parameter() -> None:
    kek = b.certificate("KEK ending in 100 days", index=2, not_after=b.NOW + dt.timedelta(days=100))
    store = enrolled(kek=b.cert_list(kek))
    assert statuses(judge(store, expiring_days=90), "secureboot.expiring") == {Status.PASS}
    assert statuses(judge(store, expiring_days=180), "secureboot.expiring") == {Status.WARN}


def test_an_expired_dbx_certificate_is_a_revocation_not_a_finding() -> None:
    old = b.certificate("Old revoked CA", index=8, not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                        not_after=b.NOW - dt.timedelta(days=900))
    findings = judge(enrolled(dbx=b.cert_list(old)))
    assert statuses(findings, "secureboot.expired") == {Status.PASS}


# --- secureboot.weak-key ---------------------------------------------------------------------------------------------

def test_an_rsa_1024_sha1_kek_is_weak() -> None:
    kek = b.certificate("Weak Test KEK (RSA-1024, SHA-1)", bits=1024, digest=hashes.SHA1)
    failing = [f for f in judge(enrolled(kek=b.cert_list(kek))) if f.check == "secureboot.weak-key"]
    assert [f.status for f in failing] == [Status.FAIL]
    assert failing[0].evidence["problems"] == ["RSA-1024 key (below 2048)", "signed with SHA1"]


def test_an_rsa_2048_sha256_kek_is_not_weak() -> None:
    assert statuses(judge(enrolled()), "secureboot.weak-key") == {Status.PASS}


def test_sha1_alone_is_weak_too() -> None:
    kek = b.certificate("SHA-1 signed KEK", index=2, digest=hashes.SHA1)
    assert statuses(judge(enrolled(kek=b.cert_list(kek))), "secureboot.weak-key") == {Status.FAIL}


# --- secureboot.revoked-in-db ----------------------------------------------------------------------------------------

def test_a_db_certificate_that_dbx_revokes_fails() -> None:
    signer = b.certificate("Vendor Boot Signer", index=3)
    findings = judge(enrolled(db=b.cert_list(signer), dbx=b.cert_list(signer)))
    assert statuses(findings, "secureboot.revoked-in-db") == {Status.FAIL}


def test_a_db_certificate_revoked_by_its_tbs_hash_fails() -> None:
    from verifier.firmware import der

    signer = b.certificate("Vendor Boot Signer", index=3)
    tbs = hashlib.sha256(der.read(signer).child(0).raw).digest()
    dbx = b.hash_list(tbs + bytes(16), kind="X509_SHA256")
    assert statuses(judge(enrolled(db=b.cert_list(signer), dbx=dbx)), "secureboot.revoked-in-db") == {Status.FAIL}


def test_a_db_hash_that_dbx_revokes_fails_and_its_twin_passes() -> None:
    image = hashlib.sha256(b"grub.efi").digest()
    other = hashlib.sha256(b"other.efi").digest()
    assert statuses(judge(enrolled(db=b.hash_list(image), dbx=b.hash_list(image))),
                    "secureboot.revoked-in-db") == {Status.FAIL}
    assert statuses(judge(enrolled(db=b.hash_list(image), dbx=b.hash_list(other))),
                    "secureboot.revoked-in-db") == {Status.PASS}


def test_a_dbx_revoking_another_certificate_of_the_same_name_passes() -> None:
    """Revocation is by the certificate, not its name: a same-named certificate with another key is not revoked."""
    findings = judge(enrolled(db=b.cert_list(b.certificate("Vendor Boot Signer", index=3)),
                              dbx=b.cert_list(b.certificate("Vendor Boot Signer", index=9))))
    assert statuses(findings, "secureboot.revoked-in-db") == {Status.PASS}


# --- secureboot.dbx-outdated -----------------------------------------------------------------------------------------

def reference(*digests: bytes) -> DbxReference:
    images = [{"authenticodeHash": d.hex().upper(), "hashType": "SHA256", "filename": f"boot{i}.efi",
               "description": "Black Lotus test" if i == 0 else "", "dateOfAddition": f"2026-0{i + 1}-01"}
              for i, d in enumerate(digests)]
    return load_dbx_reference("ref.json", json.dumps({"images": {"x64": images}}).encode())


def test_a_dbx_missing_reference_hashes_is_outdated() -> None:
    known = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    findings = judge(enrolled(dbx=b.hash_list(known[0])), dbx_reference=reference(*known))
    failing = [f for f in findings if f.check == "secureboot.dbx-outdated"]
    assert [f.status for f in failing] == [Status.FAIL]
    assert failing[0].evidence["missing"] == 2 and failing[0].evidence["newest_missing"]["date"] == "2026-03-01"


def test_a_dbx_with_every_reference_hash_is_current() -> None:
    known = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    findings = judge(enrolled(dbx=b.hash_list(*known)), dbx_reference=reference(*known))
    assert statuses(findings, "secureboot.dbx-outdated") == {Status.PASS}


def test_a_signed_dbx_update_can_be_the_reference() -> None:
    known = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    update = b.signed_update("dbx", b.hash_list(*known))
    ref = load_dbx_reference("DBXUpdate.bin", update)
    findings = judge(enrolled(dbx=b.hash_list(*known[:2])), dbx_reference=ref)
    assert [f.evidence["missing"] for f in findings if f.check == "secureboot.dbx-outdated"] == [1]


# --- secureboot.unexpected-owner -------------------------------------------------------------------------------------

def test_the_expected_pk_passes_and_another_fails() -> None:
    pk = b.certificate("Vendor Platform Key", index=1)
    store = enrolled(pk=b.cert_list(pk))
    ours = hashlib.sha256(pk).hexdigest()
    assert statuses(judge(store, expected_pk=ours), "secureboot.unexpected-owner") == {Status.PASS}
    assert statuses(judge(store, expected_pk="00" * 32), "secureboot.unexpected-owner") == {Status.FAIL}


def test_an_extra_kek_is_unexpected() -> None:
    kek = b.certificate("Vendor KEK", index=2)
    extra = b.certificate("Someone else's KEK", index=10)
    store = enrolled(kek=b.cert_list(kek, extra))
    findings = judge(store, expected_kek=(hashlib.sha256(kek).hexdigest(),))
    assert statuses(findings, "secureboot.unexpected-owner") == {Status.FAIL}
    assert statuses(judge(enrolled(kek=b.cert_list(kek)), expected_kek=(hashlib.sha256(kek).hexdigest(),)),
                    "secureboot.unexpected-owner") == {Status.PASS}


# --- secureboot.update-signature -------------------------------------------------------------------------------------

@pytest.mark.parametrize("signed_attributes", [False, True])
def test_a_signed_kek_update_verifies_for_kek(signed_attributes: bool) -> None:
    update = b.signed_update("KEK", b.cert_list(b.certificate("Vendor KEK", index=2)),
                             signed_attributes=signed_attributes)
    state = read_secureboot("KEK.auth", update)
    assert state.update is not None and (state.update.signature.variable, state.update.signature.attributes) == (
        "KEK", 0x27)
    assert statuses(check_secureboot(state, rules()), "secureboot.update-signature") == {Status.PASS}


@pytest.mark.parametrize("signed_attributes", [False, True])
def test_a_changed_payload_byte_breaks_the_update(signed_attributes: bool) -> None:
    update = bytearray(b.signed_update("KEK", b.cert_list(b.certificate("Vendor KEK", index=2)),
                                       signed_attributes=signed_attributes))
    update[-300] ^= 1  # inside the certificate's signature: still parses
    assert statuses(judge(bytes(update), "KEK.auth"), "secureboot.update-signature") == {Status.FAIL}


def test_an_update_signed_by_a_test_key_is_a_test_key_finding() -> None:
    update = b.signed_update("db", b.cert_list(b.certificate("Vendor Boot Signer", index=3)),
                             signer_cn="DO NOT TRUST - AMI Test PK", index=4)
    findings = judge(update, "db.auth")
    assert any(f.check == "secureboot.test-key" and f.evidence["database"] == "signer of the update"
               for f in findings)


def test_state_is_frozen() -> None:
    state: SecureBootState = read_secureboot("store.fd", enrolled())
    with pytest.raises(AttributeError):
        state.kind = "x"  # type: ignore[misc]


def test_an_update_replayed_at_another_time_fails() -> None:
    """The EFI_TIME is signed: moving an old update's timestamp forward (to pass firmware's monotonic check)
    breaks it."""
    update = bytearray(b.signed_update("KEK", b.cert_list(b.certificate("Vendor KEK", index=2))))
    update[0:2] = (2030).to_bytes(2, "little")
    assert statuses(judge(bytes(update), "KEK.auth"), "secureboot.update-signature") == {Status.FAIL}


@pytest.mark.parametrize(("first", "status"), [("Vendor Platform Key", Status.PASS), ("DO NOT TRUST PK", Status.FAIL)])
def test_of_two_live_copies_the_first_counts_as_in_edk2(first: str, status: Status) -> None:
    """Firmware never leaves two live copies; EDK2's FindVariable takes the first one, and so does the parser, so
    a second copy can neither hide nor plant a PK."""
    from verifier.firmware.secureboot.varstore import store_bytes

    names = [first, "DO NOT TRUST PK" if first == "Vendor Platform Key" else "Vendor Platform Key"]
    copies = [("PK", EFI_GLOBAL_VARIABLE, 0x27, b.cert_list(b.certificate(n, index=4 if "TRUST" in n else 1)))
              for n in names]
    state = read_secureboot("dup.fd", store_bytes(copies))
    assert [c.subject for c in state.databases["PK"].certificates] == [f"CN={first}"]
    assert statuses(check_secureboot(state, rules()), "secureboot.test-key") == {status}
