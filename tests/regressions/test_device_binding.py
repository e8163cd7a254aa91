"""Device evidence binds where a digest came from (provcheck issue 11, section 4).

Each test is named after the defect it guards against and built the way an attacker would vary
the evidence: the same digest at another address, another size, another name, a weaker algorithm.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zlib
from typing import Any

import pytest

from hw.errors import TransportError
from hw.evidence import DeviceEvidence, RegionDigest
from hw.uboot import parse_md_b
from verifier.checks.device import check_regions
from verifier.declared.device_manifest import manifest_from_predicate
from verifier.errors import BadInputError
from verifier.model import Status

IMAGE = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(64))  # 2 KiB
SHA = hashlib.sha256(IMAGE).hexdigest()
CRC = f"{zlib.crc32(IMAGE):08x}"
ADDRESS = 0x08000000


def evidence(*regions: RegionDigest) -> DeviceEvidence:
    return DeviceEvidence(profile="uboot", port="loop://", identity={}, regions=tuple(regions))


def manifest(*regions: dict[str, Any]) -> Any:
    return manifest_from_predicate({"firmware_regions": list(regions)})


def declared(**overrides: Any) -> dict[str, Any]:
    return {"name": "bootloader", "address": ADDRESS, "size": len(IMAGE), "sha256": SHA, **overrides}


def measured(**overrides: Any) -> RegionDigest:
    fields: dict[str, Any] = {"name": "bootloader", "address": ADDRESS, "size": len(IMAGE), "algorithm": "sha256",
                              "digest": SHA, "method": "md.b", "strength": "measured"}
    fields.update(overrides)
    return RegionDigest(**fields)


def statuses(ev: DeviceEvidence, m: Any) -> list[Status]:
    return [f.status for f in check_regions(ev, m)]


# --- binding -------------------------------------------------------------------------------------------


def test_declared_digest_at_declared_place_passes() -> None:
    assert statuses(evidence(measured()), manifest(declared())) == [Status.PASS]


def test_declared_digest_at_another_address_failed_to_fail() -> None:
    # The genuine image kept at another address while the declared one holds something else.
    findings = check_regions(evidence(measured(address=ADDRESS + 0x10000)), manifest(declared()))
    assert [f.status for f in findings] == [Status.FAIL]
    assert "0x8010000" in findings[0].message and "0x8000000" in findings[0].message


def test_declared_digest_over_another_size_fails() -> None:
    assert statuses(evidence(measured(size=len(IMAGE) * 2)), manifest(declared())) == [Status.FAIL]


def test_region_without_address_does_not_stand_for_an_addressed_declaration() -> None:
    assert statuses(evidence(measured(address=None)), manifest(declared())) == [Status.FAIL]


def test_same_name_twice_one_elsewhere_fails() -> None:
    both = evidence(measured(), measured(address=ADDRESS + 0x1000, digest="00" * 32))
    assert statuses(both, manifest(declared())) == [Status.FAIL]


def test_another_name_with_the_declared_digest_is_not_the_region() -> None:
    assert statuses(evidence(measured(name="recovery")), manifest(declared())) == [Status.SKIP]


def test_two_declared_regions_with_one_digest_each_need_their_own_measurement() -> None:
    # A/B copies with the same image: measuring copy A says nothing about copy B.
    two = manifest(declared(name="a"), declared(name="b", address=ADDRESS + 0x100000))
    assert statuses(evidence(measured(name="a")), two) == [Status.PASS, Status.SKIP]
    # Copy A's measurement relabelled as B (at A's address) does not count for B.
    assert statuses(evidence(measured(name="a"), measured(name="b")), two) == [Status.PASS, Status.FAIL]
    ok = evidence(measured(name="a"), measured(name="b", address=ADDRESS + 0x100000))
    assert statuses(ok, two) == [Status.PASS, Status.PASS]


def test_region_declared_twice_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="declared twice"):
        manifest(declared(), declared(address=ADDRESS + 0x1000))


def test_region_of_size_zero_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="size 0"):
        manifest(declared(size=0, sha256=hashlib.sha256(b"").hexdigest()))


def test_crc32_never_matches_a_sha256_declaration() -> None:
    crc = measured(algorithm="crc32", digest=CRC, method="crc32", weak=True)
    assert statuses(evidence(crc), manifest(declared())) == [Status.SKIP]
    # Even when the evidence drops the weak flag or calls the crc32 a sha256.
    assert statuses(evidence(dataclasses.replace(crc, weak=False)), manifest(declared())) == [Status.SKIP]
    assert statuses(evidence(dataclasses.replace(crc, algorithm="sha256", weak=False)), manifest(declared())) == [
        Status.SKIP
    ]


def test_other_algorithm_labelled_weak_does_not_count_as_crc32() -> None:
    m = manifest(declared(crc32=CRC))
    sha1 = measured(algorithm="sha1", digest=CRC, method="sha1", weak=True)
    assert statuses(evidence(sha1), m) == [Status.SKIP]
    assert statuses(evidence(measured(algorithm="crc32", digest=CRC, method="crc32", weak=True)), m) == [Status.WARN]


def test_crc32_measured_elsewhere_fails() -> None:
    m = manifest(declared(crc32=CRC))
    crc = measured(algorithm="crc32", digest=CRC, method="crc32", weak=True, address=ADDRESS + 4)
    assert statuses(evidence(crc), m) == [Status.FAIL]


def test_linux_region_bound_by_its_device_file() -> None:
    m = manifest(declared(path="/dev/mtd0"))
    by_path = measured(address=None, method="sha256sum", path="/dev/mtd0")
    assert statuses(evidence(by_path), m) == [Status.PASS]
    assert statuses(evidence(dataclasses.replace(by_path, path="/dev/mtd1")), m) == [Status.FAIL]


def test_region_path_survives_the_evidence_file(tmp_path: Any) -> None:
    ev = evidence(measured(address=None, path="/dev/mtd0"))
    (tmp_path / "ev.json").write_bytes(ev.to_bytes())
    assert DeviceEvidence.load(tmp_path / "ev.json").regions[0].path == "/dev/mtd0"


# --- md.b ----------------------------------------------------------------------------------------------


def render_md_b(address: int, data: bytes) -> str:
    """md.b output as U-Boot's print_buffer prints it (address, bytes, padding, two spaces, ASCII)."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = "".join(f" {b:02x}" for b in chunk) + "   " * (16 - len(chunk))
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{address + offset:08x}:{hexes}    {text}")
    return "\n".join(lines) + "\n"


def test_md_b_line_of_spaces_parsed_as_fifteen_bytes() -> None:
    data = b"A" * 16 + b" " * 16 + b"B" * 16
    assert parse_md_b(render_md_b(ADDRESS, data), ADDRESS, len(data)) == data
    # Also when the console drops the trailing spaces of the ASCII column.
    stripped = "\n".join(line.rstrip() for line in render_md_b(ADDRESS, data).splitlines())
    assert parse_md_b(stripped, ADDRESS, len(data)) == data


def test_md_b_short_final_line_and_hex_looking_ascii() -> None:
    # The ASCII column reads like more hex bytes: only the positions of the byte columns count.
    data = b"41 42 43 44 45 4" * 2 + b"00 11 22"
    text = render_md_b(ADDRESS, data)
    assert parse_md_b(text, ADDRESS, len(data)) == data


@pytest.mark.parametrize("length", [1, 15, 16, 17, 31, 32, 33])
def test_md_b_round_trips_every_line_shape(length: int) -> None:
    data = bytes(range(256))[:length]
    assert parse_md_b(render_md_b(ADDRESS, data), ADDRESS, length) == data


def _lines(data: bytes) -> list[str]:
    return render_md_b(ADDRESS, data).splitlines()


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda ls: ls[:-1], id="missing-final-line"),
        pytest.param(lambda ls: ls[1:], id="missing-first-line"),
        pytest.param(lambda ls: [ls[0], ls[0], *ls[1:]], id="duplicated-line"),
        pytest.param(lambda ls: [ls[1], ls[0], *ls[2:]], id="out-of-order"),
        pytest.param(lambda ls: [*ls, ls[-1]], id="repeated-final-line"),
        pytest.param(lambda ls: [ls[0], "08000010: " + "ee " * 16 + "   " + "." * 16, *ls[1:]], id="fake-line"),
        pytest.param(lambda ls: [*ls, f"{ADDRESS + 48:08x}: 00"], id="extra-line-after-the-end"),
        pytest.param(lambda ls: [ls[0][:-20], *ls[1:]], id="truncated-line"),
        pytest.param(lambda ls: [ls[0].replace(" 41", " 4l", 1), *ls[1:]], id="garbled-hex"),
        pytest.param(lambda ls: [ls[0][:-1] + "Z", *ls[1:]], id="ascii-disagrees"),
        pytest.param(lambda ls: [" " + ls[0], *ls[1:]], id="indented-line"),
        pytest.param(lambda ls: [ls[0].replace(": ", ":", 1), *ls[1:]], id="missing-space"),
        pytest.param(lambda ls: ["        " * 4, *ls[:-1]], id="all-spaces-line-instead-of-data"),
    ],
)
def test_md_b_dump_is_exact_or_inconclusive(mangle: Any) -> None:
    data = b"A" * 16 + b" " * 16 + b"0123456789abcdef"
    with pytest.raises(TransportError):
        parse_md_b("\n".join(mangle(_lines(data))) + "\n", ADDRESS, len(data))


def test_md_b_noise_lines_carry_no_data() -> None:
    # A stray prompt or echo between dump lines is not data and not an address: skipped.
    data = bytes(range(48))
    lines = _lines(data)
    noisy = ["=> ", lines[0], "login:", "", lines[1], "                ", lines[2], "=> "]
    assert parse_md_b("\n".join(noisy), ADDRESS, len(data)) == data


def test_md_b_reads_all_of_debian_uboot_bin_rendered() -> None:
    """The whole of Debian's qemu_arm64 u-boot.bin as print_buffer shows it; the QEMU test reads it for real."""
    from tests.hw.peers import UBOOT_BIN

    if not UBOOT_BIN.is_file():
        pytest.skip(f"{UBOOT_BIN} is missing (Debian u-boot-qemu)")
    image = UBOOT_BIN.read_bytes()
    assert parse_md_b(render_md_b(PFLASH, image), PFLASH, len(image)) == image


PFLASH = 0x04400000


# --- CycloneDX HBOM: what it says is kept ----------------------------------------------------------------


def hbom(quantity: str = "2", **extra_component: Any) -> dict[str, Any]:
    flash = {"type": "device", "name": "0x0018", "manufacturer": {"name": "Intel"},
             "supplier": {"name": "Flash Distribution Ltd", "address": {"country": "GB"}},
             "properties": [{"name": "cdx:device:function", "value": "flash"},
                            {"name": "cdx:device:quantity", "value": quantity}]}
    # None removes a field: CycloneDX has no null (the schema refuses "supplier": null).
    flash = {key: value for key, value in {**flash, **extra_component}.items() if value is not None}
    return {
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"component": {"type": "device", "name": "linux,dummy-virt",
                                   "supplier": {"name": "Emulation Inc", "address": {"country": "FI"}}},
                     "manufacturer": {"name": "Emulation Inc"}},
        "components": [flash],
    }


def component_evidence(profile: str, *components: tuple[str, str, str]) -> DeviceEvidence:
    from hw.evidence import Component

    found = tuple(Component(cls, maker, model, None, None, "reported", "test") for cls, maker, model in components)
    return DeviceEvidence(profile=profile, port="loop://", identity={}, components=found)


@pytest.mark.parametrize("profile", ["uboot", "linux", "attest"])
def test_cdx_quantity_honoured_for_every_profile(profile: str) -> None:
    from verifier.checks.device import check_components
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    cls = {"uboot": "flash", "linux": "nic", "attest": "flash"}[profile]
    bom = hbom()
    bom["components"][0]["properties"][0]["value"] = cls
    two = component_evidence(profile, (cls, "Intel", "0x0018"), (cls, "Intel", "0x0018"))
    assert [f.status for f in check_components(two, manifest_from_cyclonedx(bom))] == [Status.PASS]
    one = component_evidence(profile, (cls, "Intel", "0x0018"))
    assert [f.status for f in check_components(one, manifest_from_cyclonedx(bom))] == [Status.FAIL]
    three = component_evidence(profile, *[(cls, "Intel", "0x0018")] * 3)
    findings = check_components(three, manifest_from_cyclonedx(bom))
    assert [f.status for f in findings] == [Status.FAIL] and f"+ {cls}" in findings[0].message


@pytest.mark.parametrize("quantity", ["0", "-1", "two", "1.5", "99999999", "²"])
def test_cdx_quantity_that_is_not_a_count_is_bad_input(quantity: str) -> None:
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    with pytest.raises(BadInputError, match="quantity"):
        manifest_from_cyclonedx(hbom(quantity))


def test_predicate_quantity_round_trips_and_is_checked() -> None:
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    predicate = manifest_from_cyclonedx(hbom()).to_predicate()
    assert predicate["components"][0]["quantity"] == 2
    assert manifest_from_predicate(predicate).components[0].quantity == 2
    with pytest.raises(BadInputError, match="quantity"):
        manifest_from_predicate({"components": [{"class": "flash", "quantity": 0}]})


def test_cdx_suppliers_and_countries_are_kept() -> None:
    from verifier.checks.suppliers import parties_from_device_manifest
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    predicate = manifest_from_cyclonedx(hbom()).to_predicate()
    assert predicate["supplier"] == {"name": "Emulation Inc", "country": "FI"}
    assert predicate["components"][0]["supplier"] == {"name": "Flash Distribution Ltd", "country": "GB"}
    assert predicate["components"][0]["manufacturer"] == "Intel"
    parties = {(p.name, p.country, p.role) for p in parties_from_device_manifest(manifest_from_predicate(predicate))}
    assert parties >= {("Emulation Inc", "FI", "vendor"), ("Flash Distribution Ltd", "GB", "supplier")}
    # Without a supplier, the manufacturer is who supplies it, with its country.
    maker_only = hbom(supplier=None, manufacturer={"name": "Intel", "address": {"country": "US"}})
    predicate = manifest_from_cyclonedx(maker_only).to_predicate()
    assert predicate["components"][0]["supplier"] == {"name": "Intel", "country": "US"}


def test_hbom_itself_is_signed_in_the_release(tmp_path: Any) -> None:
    """release sign --device-manifest hbom.json: the device-manifest predicate AND the HBOM, both signed."""
    import base64
    import json

    from attestations.dsse import parse_envelope, verify_signatures
    from attestations.keys import generate_private_key
    from verifier.checks.suppliers import check_suppliers, parties_from_cyclonedx, parties_from_device_manifest
    from verifier.policy.model import SupplierRule
    from verifier.workflows.release import ReleaseRequest, sign_release

    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(IMAGE)
    (tmp_path / "hbom.json").write_text(json.dumps(hbom()))
    signer = generate_private_key("ed25519")
    sign_release(ReleaseRequest(firmware=[firmware], device_manifest=tmp_path / "hbom.json"), [signer],
                 tmp_path / "release")
    statements = {}
    for line in (tmp_path / "release" / "release.intoto.jsonl").read_text().splitlines():
        envelope = parse_envelope(json.loads(line))
        assert verify_signatures(envelope, [signer.public]).distinct_valid == 1
        statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
        statements[statement["predicateType"]] = statement["predicate"]
    assert statements["https://cyclonedx.org/bom"] == hbom()  # unchanged
    device = statements["https://provcheck.dev/device-manifest/v1"]
    assert device["components"][0]["quantity"] == 2
    # The supplier rules see the HBOM's countries, and each party is judged once though named twice.
    parties = parties_from_device_manifest(manifest_from_predicate(device)) + parties_from_cyclonedx(statements["https://cyclonedx.org/bom"])
    findings = check_suppliers(parties, [SupplierRule(blocked_countries=frozenset({"GB"}))])
    blocked = [f for f in findings if f.check == "supply.blocked-country"]
    assert [f.status for f in blocked] == [Status.FAIL]
    assert "Flash Distribution Ltd" in blocked[0].message


def test_device_verify_cli_fails_a_digest_taken_at_another_address(tmp_path: Any) -> None:
    """The reported defect end to end: U-Boot evidence with the declared digest at another address."""
    import json

    from tests.helpers import run_cli

    (tmp_path / "m.json").write_text(json.dumps({"firmware_regions": [declared()]}))
    for address, code in ((ADDRESS, 0), (ADDRESS + 0x40000, 1)):
        ev = evidence(measured(address=address), measured(address=address, algorithm="crc32", digest=CRC,
                                                          method="crc32", weak=True))
        (tmp_path / "ev.json").write_bytes(ev.to_bytes())
        result = run_cli(["device", "verify", "--evidence", tmp_path / "ev.json", "--manifest", tmp_path / "m.json",
                          "--format", "json"])
        assert result.returncode == code, result.stdout + result.stderr
        region = next(f for f in json.loads(result.stdout)["findings"] if f["check"] == "hw.region")
        assert region["status"] == ("pass" if code == 0 else "fail")


# Properties: any bytes round-trip; any single edit of the printed dump yields the exact bytes or inconclusive.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_DUMP_ALPHABET = st.sampled_from(list(b" 0123456789abcdefABCDEF.:=>\n") + [0x20] * 8)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=1, max_size=80), start=st.integers(0, 0xFFFFFF00))
def test_md_b_round_trips_any_bytes(data: bytes, start: int) -> None:
    assert parse_md_b(render_md_b(start, data), start, len(data)) == data


@settings(max_examples=500, deadline=None)
@given(data=st.binary(min_size=1, max_size=64), position=st.integers(0, 10_000), op=st.sampled_from(
    ["replace", "insert", "delete"]), char=_DUMP_ALPHABET)
def test_md_b_single_edit_is_exact_or_inconclusive(data: bytes, position: int, op: str, char: int) -> None:
    text = render_md_b(ADDRESS, data)
    at = position % len(text)
    edited = {"replace": text[:at] + chr(char) + text[at + 1:], "insert": text[:at] + chr(char) + text[at:],
              "delete": text[:at] + text[at + 1:]}[op]
    try:
        parsed = parse_md_b(edited, ADDRESS, len(data))
    except TransportError:
        return
    # A hex digit changed between two bytes the ASCII column shows alike ('.' for both) is invisible in the
    # text: the line has no checksum. The reader's cross-check with the device's crc32 (or a second dump)
    # catches it, and a single changed byte always changes the crc32.
    assert len(parsed) == len(data)
    assert parsed == data or zlib.crc32(parsed) != zlib.crc32(data), (text, edited)
    if parsed != data:
        changed = [i for i in range(len(data)) if parsed[i] != data[i]]
        # '.' itself (0x2e) shows as '.' too, so 0xee -> 0x2e is as invisible as 0xee -> 0x8e.
        assert len(changed) == 1 and _shown(data[changed[0]]) == _shown(parsed[changed[0]]) == "."


def _shown(byte: int) -> str:
    """How U-Boot's md.b ASCII column shows a byte."""
    return chr(byte) if 0x20 <= byte < 0x7F else "."
