"""Every file in ../shared/vectors/uefi parses to exactly what its EXPECTED.json lists (stores, lists, efivarfs dumps,
signed updates and their signature results, detached PKCS#7, certificates, event logs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from verifier.firmware.secureboot.auth import (
    parse_authenticated_update,
    parse_signed_data,
    signed_bytes,
    verify_signed_data,
)
from verifier.firmware.secureboot.certificates import certificate_facts
from verifier.firmware.secureboot.databases import read_secureboot
from verifier.firmware.secureboot.efivarfs import parse_efivarfs
from verifier.firmware.secureboot.eventlog import variable_events
from verifier.firmware.secureboot.guids import KEY_DATABASES, MODE_VARIABLES
from verifier.firmware.secureboot.siglist import SignatureList, parse_signature_lists
from verifier.firmware.secureboot.varstore import find_stores

CERT_FIELDS = ("subject", "issuer", "serial_der_hex", "not_before", "not_after", "key", "sig_hash", "sha1", "sha256")
SECURE_BOOT_NAMES = set(KEY_DATABASES) | set(MODE_VARIABLES)


def expected(vectors: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors / "uefi" / "EXPECTED.json").read_text())
    return data


def entries_view(lists: tuple[SignatureList, ...]) -> list[dict[str, Any]]:
    """EXPECTED.json's shape: one object per certificate, one per run of hashes with the same type and owner (a run
    may span lists: option_rom_eventlog's dbx splits 77 hashes of one owner over two lists)."""
    out: list[dict[str, Any]] = []
    run: dict[str, Any] | None = None
    for signature_list in lists:
        for entry in signature_list.entries:
            if entry.certificate is not None:
                out.append({"type": entry.type, "owner": entry.owner, **entry.certificate.to_json()})
                run = None
                continue
            if run is None or (run["type"], run["owner"]) != (entry.type, entry.owner):
                run = {"type": entry.type, "owner": entry.owner, "count": 0, "values": []}
                out.append(run)
            run["count"] += 1
            run["values"].append(entry.digest_hex)
    return out


def same_entries(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    for mine, theirs in zip(got, want, strict=True):
        if "values" in mine:
            assert (mine["type"], mine["owner"], mine["count"]) == (theirs["type"], theirs["owner"], theirs["count"])
            if "values" in theirs:
                assert mine["values"] == theirs["values"]
        else:
            assert mine == {k: theirs[k] for k in ("type", "owner", *CERT_FIELDS)}


def cert_view(der: bytes, name: str) -> dict[str, Any]:
    return certificate_facts(der, name).to_json()


def efi_time_bytes(iso: str) -> bytes:
    year, month, day = int(iso[0:4]), int(iso[5:7]), int(iso[8:10])
    hour, minute, second = int(iso[11:13]), int(iso[14:16]), int(iso[17:19])
    return year.to_bytes(2, "little") + bytes([month, day, hour, minute, second]) + bytes(9)


def check_store(path: Path, want: dict[str, Any]) -> None:
    stores = find_stores(path.read_bytes(), path.name)
    assert len(stores) == 1
    live = {v.name: v for v in stores[0].variables if v.name in SECURE_BOOT_NAMES}
    assert set(live) == set(want["variables"])
    for name, variable in live.items():
        theirs = want["variables"][name]
        assert (variable.guid, hex(variable.attributes)) == (theirs["guid"], theirs["attributes"])
        if "entries" in theirs:
            same_entries(entries_view(parse_signature_lists(variable.data, name)), theirs["entries"])
        else:
            assert variable.data.hex() == theirs["value"]


def check_efivarfs(path: Path, want: dict[str, Any]) -> None:
    variable = parse_efivarfs(path.name, path.read_bytes())
    assert hex(variable.attributes) == want["attributes"]
    if "entries" in want:
        same_entries(entries_view(parse_signature_lists(variable.data, path.name)), want["entries"])
    else:
        assert variable.data.hex() == want["value"]


def check_auth(path: Path, want: dict[str, Any]) -> None:
    update = parse_authenticated_update(path.read_bytes(), path.name)
    assert update.timestamp == want["timestamp"]
    assert [c.to_json() for c in update.pkcs7.certificates] == [{k: c[k] for k in CERT_FIELDS}
                                                                for c in want["pkcs7_certs"]]
    signature = want["signature"]
    assert update.signature.valid is (signature["result"] == "valid")
    if update.signature.valid:
        assert update.signature.variable == signature["variable"]
        assert hex(update.signature.attributes or 0) == signature["attributes"]
        signer_cn = signature["signer"].split("Common Name: ", 1)[1].split(", ")[0]
        assert all(f"CN={signer_cn}" in s.subject for s in update.signature.signers)
    else:
        assert update.signature.tried_attributes == tuple(int(a, 16) for a in signature["tried_attributes"])
        assert [s.problem for s in update.signature.signers] == [d[0] for d in signature["detail"]]
        assert "covers only that content" in update.signature.note
    same_entries(entries_view(update.payload), want["payload"])


def check_detached(path: Path, want: dict[str, Any], vectors: Path) -> None:
    signed = parse_signed_data(path.read_bytes(), path.name, 0)
    assert [c.to_json() for c in signed.certificates] == [{k: c[k] for k in CERT_FIELDS} for c in want["pkcs7_certs"]]
    content = (vectors / "uefi" / "certcc-pkfail" / "Ami-windowspk_content.bin").read_bytes()
    message = signed_bytes("PK", 0x27, efi_time_bytes("2024-12-31T23:56:59Z"), content)
    results = verify_signed_data(signed, message)
    assert all(r.verified for r in results) is (want["signature"]["result"] == "valid")
    tampered = verify_signed_data(signed, message[:-1] + bytes([message[-1] ^ 1]))
    assert not any(r.verified for r in tampered)


def check_event_log(path: Path, want: dict[str, Any]) -> None:
    from hw.tpm.eventlog import parse_event_log

    log = parse_event_log(path.read_bytes())
    assert {"crypto-agile": "crypto-agile", "sha1": "sha1 (TCG 1.2 style)"}[log.format] == want["format"]
    assert len(log.events) == want["events"]
    events = variable_events(log, path.name)
    assert len(events) == len(want["variable_events"])
    for event, theirs in zip(events, want["variable_events"], strict=True):
        assert (event.pcr, event.event, event.name, event.guid, len(event.data)) == (
            theirs["pcr"], theirs["event"], theirs["name"], theirs["guid"], theirs["data_len"])
        matches = {f"{bank}_matches_event_data": ok for bank, ok in event.digest_matches.items()
                   if bank in ("sha1", "sha256")}  # EXPECTED.json reports these two banks
        assert matches == {k: v for k, v in theirs.items() if k.endswith("_matches_event_data")}
        if "entries" in theirs:
            same_entries(entries_view(event.lists), theirs["entries"])
        elif "value" in theirs:
            assert event.data.hex() == theirs["value"]
        elif "authority" in theirs:
            assert event.authority is not None and event.authority.certificate is not None
            assert {"owner": event.authority.owner, **event.authority.certificate.to_json()} == theirs["authority"]
        elif "authority_raw_cert" in theirs:
            assert event.authority_certificate is not None
            assert event.authority_certificate.to_json() == theirs["authority_raw_cert"]
        elif "authority_raw" in theirs:
            assert event.data.hex() == theirs["authority_raw"]
        else:
            assert not event.lists and not event.data


def test_every_uefi_vector_parses_to_what_expected_json_lists(vectors: Path) -> None:
    checked = 0
    for relative, want in expected(vectors).items():
        path = vectors / "uefi" / relative
        kind = want["kind"]
        if kind == "edk2-varstore":
            check_store(path, want)
        elif kind == "efivarfs":
            check_efivarfs(path, want)
        elif kind == "esl":
            same_entries(entries_view(parse_signature_lists(path.read_bytes(), path.name)), want["entries"])
        elif kind == "auth2":
            check_auth(path, want)
        elif kind == "pkcs7-detached":
            check_detached(path, want, vectors)
        elif kind == "x509":
            state = read_secureboot(path.name, path.read_bytes())
            assert [c.to_json() for c in state.certificates] == [{k: want[k] for k in CERT_FIELDS}]
        elif kind == "tcg-eventlog":
            check_event_log(path, want)
        else:
            pytest.fail(f"{relative}: unknown kind {kind}")
        checked += 1
    assert checked == len(expected(vectors)) >= 68


def test_every_vector_is_recognised_by_its_structure(vectors: Path) -> None:
    """read_secureboot picks the right reader from the bytes (the efivarfs name aside), for every vector."""
    kinds = {"edk2-varstore": "edk2-varstore", "efivarfs": "efivarfs", "esl": "esl", "auth2": "auth2",
             "pkcs7-detached": "pkcs7", "x509": "x509", "tcg-eventlog": "tcg-eventlog"}
    for relative, want in expected(vectors).items():
        path = vectors / "uefi" / relative
        assert read_secureboot(path.name, path.read_bytes()).kind == kinds[want["kind"]], relative


def test_deleted_variables_are_skipped_and_counted(vectors: Path) -> None:
    path = vectors / "uefi" / "debian-ovmf" / "OVMF_VARS_4M.ms.fd"
    store = find_stores(path.read_bytes(), path.name)[0]
    assert {v.state for v in store.deleted} == {0x3C, 0x3D}
    assert [v.name for v in store.variables].count("CustomMode") == 1
    assert next(v for v in store.variables if v.name == "CustomMode").data == b"\x00"
