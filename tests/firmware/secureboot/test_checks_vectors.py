"""The judges on the real vectors, at the README's dates, and the Microsoft CAs recognised by fingerprint only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.firmware.secureboot import builders as b
from verifier.checks.secureboot import SecureBootRules, check_secureboot
from verifier.firmware.secureboot.databases import read_secureboot
from verifier.firmware.secureboot.reference import shipped_dbx_reference, shipped_test_keys
from verifier.model import Finding, Status

DEC_2026 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
JAN_2026 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def judge(path: Path, at: dt.datetime = DEC_2026) -> list[Finding]:
    rules = SecureBootRules(at, shipped_test_keys(), shipped_dbx_reference())
    return check_secureboot(read_secureboot(path.name, path.read_bytes()), rules)


def failing(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check and f.status is Status.FAIL]


def test_debian_ms_store_at_both_dates(vectors: Path) -> None:
    path = vectors / "uefi" / "debian-ovmf" / "OVMF_VARS_4M.ms.fd"
    december = judge(path)
    expired = {f.evidence["certificate"].split(",")[0] for f in failing(december, "secureboot.expired")}
    assert expired == {"CN=Microsoft Corporation KEK CA 2011", "CN=Microsoft Windows Production PCA 2011",
                       "CN=Microsoft Corporation UEFI CA 2011"}
    [missing] = failing(december, "secureboot.ca-2023-missing")
    assert {m["missing"] for m in missing.evidence["missing"]} == {
        "Microsoft Corporation KEK 2K CA 2023", "Windows UEFI CA 2023", "Microsoft UEFI CA 2023",
        "Microsoft Option ROM UEFI CA 2023"}
    [outdated] = failing(december, "secureboot.dbx-outdated")
    assert (outdated.evidence["missing"], outdated.evidence["reference_hashes"]) == (443, 443)
    assert outdated.evidence["newest_missing"]["date"] == "2026-04-09"
    assert outdated.evidence["blacklotus_missing"] == 152
    assert [f.evidence["entry"].split(",")[0] for f in failing(december, "secureboot.revoked-in-db")] == [
        "CN=Microsoft Windows Production PCA 2011"]
    assert not failing(december, "secureboot.test-key") and not failing(december, "secureboot.weak-key")
    january = judge(path, JAN_2026)
    expiring = {f.evidence["certificate"].split(",")[0]: f.evidence["days_left"] for f in january
                if f.check == "secureboot.expiring" and f.status is Status.WARN}
    assert expiring == {"CN=Microsoft Corporation KEK CA 2011": 174, "CN=Microsoft Corporation UEFI CA 2011": 177}
    assert not failing(january, "secureboot.expired")


def test_a_certificate_named_like_a_2023_ca_does_not_stand_in_for_it(vectors: Path) -> None:
    """Add a self-made 'Microsoft Corporation KEK 2K CA 2023' (and the three db ones) to the ms store's keys: still
    missing. Add the real ones instead: found."""
    ms = read_secureboot("ms.fd", (vectors / "uefi" / "debian-ovmf" / "OVMF_VARS_4M.ms.fd").read_bytes())
    kek = [c.der for c in ms.databases["KEK"].certificates]
    db = [c.der for c in ms.databases["db"].certificates]
    names = ["Windows UEFI CA 2023", "Microsoft UEFI CA 2023", "Microsoft Option ROM UEFI CA 2023"]
    fake_kek = b.certificate("Microsoft Corporation KEK 2K CA 2023", index=11)
    fake_db = [b.certificate(n, index=12 + i) for i, n in enumerate(names)]
    rules = SecureBootRules(DEC_2026, shipped_test_keys(), shipped_dbx_reference())
    forged = b.store(pk=b.cert_list(kek[0]), kek=b.cert_list(*kek, fake_kek), db=b.cert_list(*db, *fake_db))
    findings = check_secureboot(read_secureboot("forged.fd", forged), rules)
    assert len(failing(findings, "secureboot.ca-2023-missing")) == 1
    certs = vectors / "uefi" / "microsoft" / "PreSignedObjects"
    real_kek = (certs / "KEK" / "Certificates" / "microsoft_corporation_kek_2k_ca_2023.der").read_bytes()
    real_db = [(certs / "DB" / "Certificates" / f).read_bytes() for f in
               ("windows_uefi_ca_2023.der", "microsoft_uefi_ca_2023.der", "microsoft_option_rom_uefi_ca_2023.der")]
    genuine = b.store(pk=b.cert_list(kek[0]), kek=b.cert_list(*kek, real_kek), db=b.cert_list(*db, *real_db))
    findings = check_secureboot(read_secureboot("genuine.fd", genuine), rules)
    assert {f.status for f in findings if f.check == "secureboot.ca-2023-missing"} == {Status.PASS}


def test_pkfail_and_snakeoil_and_testpk_stores(vectors: Path) -> None:
    pkfail = judge(vectors / "uefi" / "made-here" / "OVMF_VARS_4M.pkfail.fd")
    [key] = failing(pkfail, "secureboot.test-key")
    assert key.evidence["matched_by"] == ["fingerprint", "subject"] and key.evidence["database"] == "PK"
    assert any(f.evidence["database"] == "PK" for f in failing(pkfail, "secureboot.expired"))
    snakeoil = judge(vectors / "uefi" / "debian-ovmf" / "OVMF_VARS_4M.snakeoil.fd")
    assert {tuple(f.evidence["matched_by"]) for f in failing(snakeoil, "secureboot.test-key")} == {("fingerprint",)}
    assert failing(snakeoil, "secureboot.dbx-outdated")
    testpk = judge(vectors / "uefi" / "made-here" / "OVMF_VARS.testpk.fd")
    assert [f.evidence["matched_by"] for f in failing(testpk, "secureboot.test-key")] == [["subject"]]
    assert [f.evidence["key"] for f in failing(testpk, "secureboot.weak-key")] == ["RSA-1024"]
    assert not failing(testpk, "secureboot.ca-2023-missing") and not failing(testpk, "secureboot.dbx-outdated")
    assert failing(testpk, "secureboot.revoked-in-db")


def test_empty_stores_are_setup_mode(vectors: Path) -> None:
    for name in ("OVMF_VARS_4M.fd", "OVMF_VARS.fd"):
        findings = judge(vectors / "uefi" / "debian-ovmf" / name)
        assert [f.check for f in findings if f.status is Status.FAIL] == ["secureboot.not-enforcing"]


def test_ecs_kek_update_fails_and_the_others_verify(vectors: Path) -> None:
    for path in sorted((vectors / "uefi" / "microsoft" / "PostSignedObjects" / "KEK").glob("*/*.bin")):
        statuses = {f.status for f in judge(path) if f.check == "secureboot.update-signature"}
        assert statuses == ({Status.FAIL} if "ECS" in path.name else {Status.PASS}), path.name


def test_efivarfs_set_gives_the_pkfail_findings(vectors: Path) -> None:
    from verifier.firmware.secureboot.databases import read_efivarfs

    files = sorted((vectors / "uefi" / "made-here" / "efivarfs").iterdir())
    state = read_efivarfs([(p.name, p.read_bytes()) for p in files])
    findings = check_secureboot(state, SecureBootRules(DEC_2026, shipped_test_keys(), shipped_dbx_reference()))
    store = judge(vectors / "uefi" / "made-here" / "OVMF_VARS_4M.pkfail.fd")
    assert sorted((f.check, f.status) for f in findings) == sorted((f.check, f.status) for f in store)
