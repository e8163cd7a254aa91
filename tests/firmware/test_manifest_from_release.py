"""``firmware scan --manifest release.intoto.jsonl``: the statement for the scanned image, and whose it is.

The release is signed here with ``release sign``; the scanned images are real gcc builds. The manifest's
signature is checked only against ``--key``: without it the report says the manifest is unverified.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from attestations.keys import generate_private_key, load_signer, private_pem, public_pem
from tests.firmware.conftest import ElfBuild
from tests.helpers import assert_clean_error, run_cli
from verifier.workflows.release import ReleaseRequest, sign_release


@pytest.fixture(scope="module")
def release(elf_build: ElfBuild, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two shipped images (the stripped clean build, and the planted one as a second product) in one release."""
    root = tmp_path_factory.mktemp("release")
    keys: dict[str, Path] = {}
    for role in ("vendor", "other"):
        signer = generate_private_key("ed25519")
        (root / f"{role}.key").write_bytes(private_pem(signer))
        (root / f"{role}.pub").write_bytes(public_pem(signer.public))
        keys[role] = root / f"{role}.pub"
    shipped = root / "ship"
    shipped.mkdir()
    first = shutil.copyfile(elf_build.stripped, shipped / "app.bin")
    second = shutil.copyfile(elf_build.hidden_constructor_stripped, shipped / "other-product.bin")
    sign_release(ReleaseRequest(firmware=[first, second], builds=[elf_build.clean, elf_build.hidden_constructor]),
                 [load_signer(root / "vendor.key")], root / "release")
    return {"bundle": root / "release" / "release.intoto.jsonl", "app": first, "second": second, **keys,
            "root": root}


def scan(*args: object) -> tuple[int, dict[str, str], str]:
    result = run_cli(["firmware", "scan", *args, "--format", "json"])
    if result.returncode == 2:
        return 2, {}, result.stderr
    report = json.loads(result.stdout)
    statuses: dict[str, str] = {}
    for f in report["findings"]:
        statuses[f["check"]] = "fail" if "fail" in (statuses.get(f["check"]), f["status"]) else f["status"]
    return result.returncode, statuses, result.stderr


def test_release_jsonl_picks_the_statement_for_the_scanned_digest(release: dict[str, Path]) -> None:
    code, checks, _ = scan(release["app"], "--manifest", release["bundle"])
    assert code == 0, checks
    assert checks["firmware.manifest-signature"] == "skip"  # unverified, and it says so
    # The other image of the same release is judged against its own manifest, not the first one.
    code, checks, _ = scan(release["second"], "--manifest", release["bundle"])
    assert code == 0 and checks["firmware.constructor"] == "pass", checks


def test_a_declared_image_under_another_name_says_what_it_is_declared_as(
    release: dict[str, Path], tmp_path: Path
) -> None:
    renamed = shutil.copyfile(release["second"], tmp_path / "app.bin")
    result = run_cli(["firmware", "scan", renamed, "--manifest", release["bundle"], "--format", "json"])
    subject = next(f for f in json.loads(result.stdout)["findings"] if f["check"] == "firmware.subject")
    assert subject["status"] == "pass" and "declares as other-product.bin" in subject["message"]


def test_without_key_the_manifest_is_called_unverified_never_signed(release: dict[str, Path]) -> None:
    result = run_cli(["firmware", "scan", release["app"], "--manifest", release["bundle"]])
    assert "unverified" in result.stdout and "signed" not in result.stdout.replace("unsigned", "")


def test_key_verifies_the_envelope(release: dict[str, Path]) -> None:
    code, checks, _ = scan(release["app"], "--manifest", release["bundle"], "--key", release["vendor"])
    assert code == 0 and checks["firmware.manifest-signature"] == "pass"
    code, checks, _ = scan(release["app"], "--manifest", release["bundle"], "--key", release["other"])
    assert code == 1 and checks["firmware.manifest-signature"] == "fail"


def test_manifest_payload_edited_after_signing_fails_with_key(
    release: dict[str, Path], elf_build: ElfBuild, tmp_path: Path
) -> None:
    """The attacker's planted image, and app.bin's statement rewritten to declare it, the vendor's signature kept."""
    import hashlib

    planted = shutil.copyfile(elf_build.hidden_constructor_stripped, tmp_path / "app.bin")
    envelopes = [json.loads(line) for line in release["bundle"].read_text().splitlines()]
    statements = [json.loads(base64.b64decode(e["payload"])) for e in envelopes]
    manifests = {s["subject"][0]["name"]: (e, s) for e, s in zip(envelopes, statements, strict=True)
                 if s["predicateType"] == "https://provcheck.dev/firmware-manifest/v1"}
    envelope, statement = manifests["app.bin"]
    statement["predicate"] = manifests["other-product.bin"][1]["predicate"]
    statement["subject"] = [{"name": "app.bin", "digest": {"sha256": hashlib.sha256(planted.read_bytes()).hexdigest()}}]
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    forged = tmp_path / "forged.intoto.jsonl"
    forged.write_text(json.dumps(envelope) + "\n")
    code, checks, _ = scan(planted, "--manifest", forged)
    assert code == 0 and checks["firmware.manifest-signature"] == "skip"  # why an unverified manifest says so
    code, checks, _ = scan(planted, "--manifest", forged, "--key", release["vendor"])
    assert code == 1 and checks["firmware.manifest-signature"] == "fail"


def test_swapped_image_under_the_shipped_name_is_scanned_and_fails(
    release: dict[str, Path], elf_build: ElfBuild, tmp_path: Path
) -> None:
    swapped = shutil.copyfile(elf_build.hidden_constructor, tmp_path / "app.bin")  # in no statement of the release
    code, checks, _ = scan(swapped, "--manifest", release["bundle"], "--key", release["vendor"])
    assert code == 1
    assert checks["firmware.subject"] == "fail"  # not the bytes the release ships under that name
    assert checks["firmware.constructor"] == "fail"  # and what changed is named
    assert checks["firmware.manifest-signature"] == "pass"


def test_image_the_release_does_not_declare_is_exit_2(release: dict[str, Path], elf_build: ElfBuild) -> None:
    code, _, stderr = scan(elf_build.clean, "--manifest", release["bundle"])
    assert code == 2 and "declares clean" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []}\n{}\n', "signatures"),
        ("not json\nat all\n", "not valid JSON"),
        ('{"payloadType": "application/vnd.in-toto+json", "payload": "bm90IGpzb24=", '
         '"signatures": [{"keyid": "", "sig": "AA=="}]}\n' * 2, "not valid JSON"),
    ],
)
def test_malformed_jsonl_is_exit_2_one_line(release: dict[str, Path], tmp_path: Path, content: str,
                                            words: str) -> None:
    bad = tmp_path / "bad.intoto.jsonl"
    bad.write_text(content)
    result = run_cli(["firmware", "scan", release["app"], "--manifest", bad])
    assert_clean_error(result, 2)
    assert words in result.stderr


def test_jsonl_without_a_firmware_manifest_is_exit_2(release: dict[str, Path], tmp_path: Path) -> None:
    lines = [line for line in release["bundle"].read_text().splitlines()
             if json.loads(base64.b64decode(json.loads(line)["payload"]))["predicateType"]
             != "https://provcheck.dev/firmware-manifest/v1"]
    lines.append(lines[0])  # two lines, so it is read as JSON lines
    only_index = tmp_path / "index-only.intoto.jsonl"
    only_index.write_text("\n".join(lines) + "\n")
    result = run_cli(["firmware", "scan", release["app"], "--manifest", only_index])
    assert_clean_error(result, 2)
    assert "holds no https://provcheck.dev/firmware-manifest/v1 statement" in result.stderr


def test_key_without_manifest_is_a_usage_error(release: dict[str, Path]) -> None:
    assert_clean_error(run_cli(["firmware", "scan", release["app"], "--key", release["vendor"]]), 2)
