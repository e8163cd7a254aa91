"""The reference-values judge, input by input, with the variants an attacker (or a careless signer) would try.

Facts are made here: digests of bytes the test chooses, CoRIMs built and encoded with ``attestations.corim`` and
read back through the strict decoder, so each case is a file that could really be given to intake.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from attestations.corim.build import ReferenceMeasurement as Built
from attestations.corim.build import build_reference_corim
from attestations.corim.decode import decode_corim
from attestations.corim.encode import encode_corim
from attestations.corim.model import ClassMap, Digest, IntegrityRegister, Measurement, MeasurementValues, Ueid
from hw.evidence import DeviceEvidence, Fact, RegionDigest, TpmEvidence
from verifier.checks.reference_values import (
    DeviceClass,
    EnvironmentClass,
    MeasuredComponent,
    ReferenceDigest,
    ReferenceMeasurement,
    ReferenceValues,
    check_reference_values,
    digests_of,
    loaded_sections,
)
from verifier.declared.device_manifest import DeviceManifest
from verifier.model import Status
from verifier.policy.loading import parse_policy
from verifier.workflows.intake_reference_values import (
    device_class,
    pcr_components,
    reference_values_of,
    region_components,
)

IMAGE = b"\x7fELF honest firmware bytes" * 100
EVIL = b"\x7fELF planted firmware bytes" * 100
DEVICE = DeviceClass("Acme Industrial", "RTU-9", "the device (signed)")
ACME = EnvironmentClass("Acme Industrial", "RTU-9")
KEY = "image/rtu9.bin"
_EMPTY_POLICY = parse_policy("version = 1\n[reference_values]\nmissing = 'warn'\n[tpm]\nrequire_quote = true\n",
                             Path("policy.toml"))


def _measured(data: bytes = IMAGE, key: str = KEY) -> MeasuredComponent:
    return MeasuredComponent(key, digests_of(data), "computed by provcheck from the file")


def _ref(*digests: tuple[int | str, bytes], env: EnvironmentClass = ACME, key: str = KEY, signer: str = "k1",
         source: str = "a.corim") -> ReferenceValues:
    return ReferenceValues(source, signer, env,
                           (ReferenceMeasurement(key, tuple(ReferenceDigest(a, v) for a, v in digests)),))


def _all(data: bytes = IMAGE) -> list[tuple[int | str, bytes]]:
    return [(1, hashlib.sha256(data).digest()), (7, hashlib.sha384(data).digest()), (8, hashlib.sha512(data).digest())]


def _one(*refs: ReferenceValues, measured: MeasuredComponent | None = None, device: DeviceClass | None = DEVICE,
         missing: str = "warn") -> tuple[str, Status, dict[str, object], str]:
    (finding,) = check_reference_values(device, [measured or _measured()], refs, missing=missing)
    return finding.check, finding.status, dict(finding.evidence), finding.message


def test_every_algorithm_equal_is_a_match_naming_component_and_algorithms() -> None:
    check, status, evidence, message = _one(_ref(*_all()))
    assert (check, status) == ("refval.match", Status.PASS)
    assert evidence["algorithms"] == ["sha256", "sha384", "sha512"]
    assert "sha256 and sha384 and sha512" in message and "Acme Industrial / RTU-9" in message


def test_a_tampered_image_is_a_mismatch_naming_both_digests() -> None:
    check, status, evidence, message = _one(_ref(*_all()), measured=_measured(EVIL))
    assert (check, status) == ("refval.mismatch", Status.FAIL)
    assert evidence["reference"] == hashlib.sha256(IMAGE).hexdigest()
    assert evidence["measured"] == hashlib.sha256(EVIL).hexdigest()
    assert str(evidence["reference"])[:16] in message and str(evidence["measured"])[:16] in message


def test_sha256_right_and_sha384_wrong_is_a_mismatch() -> None:
    wrong = [(1, hashlib.sha256(IMAGE).digest()), (7, hashlib.sha384(EVIL).digest())]
    check, _, evidence, _ = _one(_ref(*wrong))
    assert check == "refval.mismatch" and evidence["algorithm"] == "sha384"


def test_two_corims_that_disagree_are_a_mismatch_whatever_their_order() -> None:
    a = _ref(*_all(IMAGE), source="a.corim")
    b = _ref(*_all(EVIL), source="b.corim")
    for refs in ((a, b), (b, a)):
        check, _, evidence, _ = _one(*refs)
        assert check == "refval.mismatch"
        assert evidence["reference_source"] == "b.corim"


def test_references_disagreeing_on_an_algorithm_not_computed_here_are_a_mismatch() -> None:
    """sha3-256 is not computed for the image: two references that disagree on it cannot both be right."""
    a = _ref((1, hashlib.sha256(IMAGE).digest()), (10, hashlib.sha3_256(IMAGE).digest()))
    b = _ref((1, hashlib.sha256(IMAGE).digest()), (10, hashlib.sha3_256(EVIL).digest()), source="b.corim")
    assert _one(a, b)[0] == "refval.mismatch"
    assert _one(a)[0] == "refval.match"  # alone, sha256 matches and sha3-256 is named as not compared


@pytest.mark.parametrize("alg", [2, 3, 4, 5, 6, "sha-256-32", "sha-256-128"])
def test_a_truncated_digest_never_matches(alg: int | str) -> None:
    length = {2: 16, 3: 15, 4: 12, 5: 8, 6: 4, "sha-256-32": 4, "sha-256-128": 16}[alg]
    check, status, _, message = _one(_ref((alg, hashlib.sha256(IMAGE).digest()[:length])))
    assert (check, status) == ("refval.missing", Status.WARN)
    assert "never a match" in message
    # The same truncation of another image's digest is still a definite difference.
    assert _one(_ref((alg, hashlib.sha256(EVIL).digest()[:length])))[0] == "refval.mismatch"


def test_a_sha256_cut_short_never_matches() -> None:
    assert _one(_ref((1, hashlib.sha256(IMAGE).digest()[:16])))[0] == "refval.missing"
    assert _one(_ref((1, b"")))[0] == "refval.missing"


@pytest.mark.parametrize("alg", [99, "md5", "sha-1", "SHA-256", 9])
def test_an_unknown_or_weak_algorithm_alone_is_not_a_match(alg: int | str) -> None:
    value = hashlib.md5(IMAGE).digest() if alg == "md5" else hashlib.sha256(IMAGE).digest()
    check, _, _, message = _one(_ref((alg, value)))
    assert check == "refval.missing" and "unknown" in message


def test_an_unknown_algorithm_beside_a_matching_one_is_named_not_used() -> None:
    check, _, _, message = _one(_ref((1, hashlib.sha256(IMAGE).digest()), (99, b"\x00" * 32)))
    assert check == "refval.match" and "not compared: unknown algorithm 99" in message


def test_cose_hash_ids_are_read_as_sha2() -> None:
    refs = _ref((-16, hashlib.sha256(IMAGE).digest()), (-43, hashlib.sha384(IMAGE).digest()))
    assert _one(refs)[2]["algorithms"] == ["sha256", "sha384"]


def test_reference_values_for_another_device_class_are_missing_even_with_the_right_digest() -> None:
    other = _ref(*_all(), env=EnvironmentClass("Acme Industrial", "RTU-7"))
    check, _, _, message = _one(other)
    assert check == "refval.missing" and "RTU-7" in message


@pytest.mark.parametrize("env", [
    EnvironmentClass("acme industrial", "RTU-9"),  # case: a different string is a different class
    EnvironmentClass("Acme Industrial", "RTU-9 "),
    EnvironmentClass("Acme Industrial", None),  # a vendor-wide reference names no model
    EnvironmentClass(None, "RTU-9"),
    EnvironmentClass("Acme Industrial", "RTU-9", ("instance",)),  # more specific than provcheck can prove
    EnvironmentClass("Acme Industrial", "RTU-9", ("layer 1",)),
])
def test_an_environment_is_selected_only_by_exactly_the_device_class(env: EnvironmentClass) -> None:
    assert _one(_ref(*_all(), env=env))[0] == "refval.missing"


def test_an_unverified_reference_is_never_used() -> None:
    assert _one(_ref(*_all(), signer=""))[0] == "refval.missing"
    assert _one(_ref(*_all(EVIL), signer=""), _ref(*_all()))[0] == "refval.match"


def test_an_unknown_device_class_matches_nothing() -> None:
    check, _, _, message = _one(_ref(*_all()), device=None)
    assert check == "refval.missing" and "unknown" in message


def test_the_policy_decides_whether_missing_fails() -> None:
    assert _one(missing="fail")[1] is Status.FAIL
    assert _one(missing="warn")[1] is Status.WARN


def test_one_finding_per_measured_component() -> None:
    refs = [_ref(*_all()), _ref((1, hashlib.sha256(b".text").digest()), key="image/rtu9.bin/section/.text")]
    measured = [_measured(), _measured(b".text", "image/rtu9.bin/section/.text"), _measured(b"r", "region/boot")]
    out = check_reference_values(DEVICE, measured, refs)
    assert [(f.check, f.subject) for f in out] == [
        ("refval.match", KEY), ("refval.match", "image/rtu9.bin/section/.text"), ("refval.missing", "region/boot")]


# --- the adapters: a CoRIM as the judge reads it, and the facts intake gives it ------------------------------------


def _corim_bytes(measurements: list[Built], *, env: ClassMap | None = None, extra: Measurement | None = None) -> bytes:
    corim = build_reference_corim(uuid.UUID(int=1), env or ClassMap(vendor="Acme Industrial", model="RTU-9"),
                                  measurements, tag_id="comid-1")
    if extra is not None:
        (comid,) = corim.comids
        (triple,) = comid.triples.reference
        triple = replace(triple, measurements=(*triple.measurements, extra))
        corim = replace(corim, tags=(replace(comid, triples=replace(comid.triples, reference=(triple,))),))
    return encode_corim(corim)


def test_a_decoded_corim_gives_its_digests_and_pcr_registers() -> None:
    pcr0 = hashlib.sha256(b"pcr0").digest()
    registers = Measurement(mkey="tpm/pcrs", mval=MeasurementValues(
        integrity_registers=(IntegrityRegister(0, (Digest(1, pcr0),)), IntegrityRegister("named", (Digest(1, pcr0),)))))
    data = _corim_bytes([Built(KEY, {"sha256": hashlib.sha256(IMAGE).digest()})], extra=registers)
    (refs,) = reference_values_of(decode_corim(data), "a.corim", "k1")
    assert refs.environment == ACME
    assert [m.key for m in refs.measurements] == [KEY, "pcr/0"]
    measured = [_measured(), MeasuredComponent("pcr/0", {"sha256": pcr0}, "TPM PCR (signed)")]
    assert [f.check for f in check_reference_values(DEVICE, measured, [refs])] == ["refval.match", "refval.match"]


def test_registers_under_another_mkey_are_not_pcrs() -> None:
    registers = Measurement(mkey="dice/layer0", mval=MeasurementValues(
        integrity_registers=(IntegrityRegister(0, (Digest(1, b"\x01" * 32),)),)))
    data = _corim_bytes([Built(KEY, {"sha256": hashlib.sha256(IMAGE).digest()})], extra=registers)
    (refs,) = reference_values_of(decode_corim(data), "a.corim", "k1")
    assert [m.key for m in refs.measurements] == [KEY]


def test_an_environment_with_a_class_id_or_instance_is_marked_specific() -> None:
    data = _corim_bytes([Built(KEY, {"sha256": hashlib.sha256(IMAGE).digest()})],
                        env=ClassMap(class_id=uuid.UUID(int=7), vendor="Acme Industrial", model="RTU-9"))
    (refs,) = reference_values_of(decode_corim(data), "a.corim", "k1")
    assert refs.environment.specific and not refs.environment.selects(DEVICE)
    # One unit's reference values (an instance id provcheck cannot prove) are not the class's.
    corim = decode_corim(_corim_bytes([Built(KEY, {"sha256": hashlib.sha256(IMAGE).digest()})]))
    (comid,) = corim.comids
    (triple,) = comid.triples.reference
    unit = replace(triple, environment=replace(triple.environment, instance=Ueid(b"\x01" + b"\x42" * 16)))
    corim = replace(corim, tags=(replace(comid, triples=replace(comid.triples, reference=(unit,))),))
    (refs,) = reference_values_of(decode_corim(encode_corim(corim)), "a.corim", "k1")
    assert refs.environment.specific == ("instance",)
    assert check_reference_values(DEVICE, [_measured()], [refs])[0].check == "refval.missing"


def _evidence(**identity: tuple[str, str]) -> DeviceEvidence:
    return DeviceEvidence("attest", "pty", {k: Fact(v, s, "test") for k, (v, s) in identity.items()})


def test_the_device_class_comes_from_the_device_before_the_manifest() -> None:
    manifest = DeviceManifest(manufacturer="Acme Industrial", model="RTU-9")
    seen = device_class(_evidence(manufacturer=("Acme Industrial", "signed"), model=("RTU-7", "signed")), manifest)
    assert seen is not None and seen.model == "RTU-7" and "signed" in seen.source
    fallback = device_class(_evidence(manufacturer=("Acme Industrial", "signed")), manifest)
    assert fallback is not None and fallback.model == "RTU-9" and "manifest" in fallback.source
    assert device_class(None, None) is None


def test_regions_and_pcrs_become_components_with_their_strength() -> None:
    evidence = replace(
        _evidence(),
        regions=(RegionDigest("boot", 0, 4, "sha256", "aa" * 32, "attest", "signed"),
                 RegionDigest("env", 0, 4, "crc32", "deadbeef", "crc32", "measured", weak=True)),
        tpm=TpmEvidence({"sha256": {"0": "11" * 32, "7": "22" * 32}, "sha1": {"0": "33" * 20}}, None, None, None,
                        strength="signed"),
    )
    regions = region_components(evidence)
    assert [(r.key, dict(r.digests)) for r in regions] == [
        ("region/boot", {"sha256": b"\xaa" * 32}), ("region/env", {})]
    pcrs = pcr_components(evidence)
    assert [p.key for p in pcrs] == ["pcr/0", "pcr/7"]
    assert set(pcrs[0].digests) == {"sha256", "sha1"} and "signed" in pcrs[0].how
    assert not pcrs[0].optional
    # A region measured only with crc32 can never match a sha256 reference.
    ref = _ref((1, b"\xaa" * 32), key="region/env")
    assert check_reference_values(DEVICE, [regions[1]], [ref])[0].check == "refval.missing"


def test_loaded_sections_keep_loaded_ones_and_number_repeated_names() -> None:
    digest = "ab" * 32
    sections = [
        {"name": ".text", "flags": ["alloc", "exec"], "sha256": digest},
        {"name": ".text", "flags": ["alloc", "exec"], "sha256": digest},  # a second header with the same name
        {"name": ".shstrtab", "flags": [], "sha256": digest},  # strip rewrites it
        {"name": ".bss", "flags": ["alloc", "write"], "sha256": None},
        {"name": ".rdata", "flags": ["read"], "sha256": digest},  # PE
        {"name": ".debug_info", "flags": ["read", "discardable"], "sha256": digest},  # mingw DWARF
    ]
    assert [label for label, _ in loaded_sections(sections)] == [".text", ".text#1", ".rdata"]


# --- the public CoRIM test cases (veraison/corim) -------------------------------------------------------------------


def test_every_vector_is_read_as_reference_values_or_refused_as_evidence(vectors: Path) -> None:
    from verifier.errors import BadInputError
    from verifier.workflows.intake_reference_values import read_reference_values

    files = sorted((vectors / "corim").rglob("*.cbor"))
    assert files
    for path in files:
        if "/coev/" in str(path):
            with pytest.raises(BadInputError, match="not reference values"):
                read_reference_values([path], _EMPTY_POLICY)
            continue
        (item,) = read_reference_values([path], _EMPTY_POLICY).files
        for refs in reference_values_of(item.corim, path.name, "k"):
            # Every environment of the vectors names a class id, a layer or an index, or no model: none is a
            # class provcheck could prove, so none is ever selected for a device.
            assert not refs.environment.selects(DeviceClass(refs.environment.vendor or "", refs.environment.model
                                                            or "", "test"))


def test_a_signed_vector_is_used_only_inside_its_signers_validity(vectors: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tests.attestations.corim_cases import jwk_to_pem
    from verifier.policy.loading import parse_policy
    from verifier.workflows.intake_reference_values import judge_reference_values, read_reference_values

    key = jwk_to_pem(vectors / "corim/corim/testcases/src/ec-p256.jwk", tmp_path / "veraison.pem")
    policy = parse_policy(f'version = 1\n[reference_values]\nsigners = ["{key}"]\nrequired = true\n',
                          tmp_path / "policy.toml")
    corims = read_reference_values([vectors / "corim/corim/testcases/signed-good-corim.cbor"], policy)
    inside = judge_reference_values(corims, policy, None, {}, None, None, datetime(2025, 6, 1, tzinfo=UTC))
    assert [(f.check, f.status) for f in inside] == [("refval.signature", Status.PASS),
                                                      ("refval.validity", Status.PASS)]
    after = judge_reference_values(corims, policy, None, {}, None, None, datetime(2026, 6, 1, tzinfo=UTC))
    assert [(f.check, f.status) for f in after] == [("refval.signature", Status.PASS),
                                                     ("refval.validity", Status.FAIL)]
    assert "not used" in after[1].message
    other = parse_policy('version = 1\n[reference_values]\nsigners = ["other.pem"]\nrequired = true\n',
                         _write(tmp_path / "other.pem", tmp_path / "policy2.toml"))
    corims = read_reference_values([vectors / "corim/corim/testcases/signed-good-corim.cbor"], other)
    wrong = judge_reference_values(corims, other, None, {}, None, None, datetime(2025, 6, 1, tzinfo=UTC))
    assert (wrong[0].check, wrong[0].status) == ("refval.signature", Status.FAIL)
    assert "not used" in wrong[0].message


def _write(key: Path, policy: Path) -> Path:
    from attestations.keys import generate_private_key, public_pem

    key.write_bytes(public_pem(generate_private_key("ecdsa-p256").public))
    return policy


def test_a_pcr_at_its_reset_value_is_judged_only_when_a_reference_names_it() -> None:
    evidence = replace(_evidence(), tpm=TpmEvidence({"sha256": {"7": "00" * 32, "17": "ff" * 32}}, None, None, None))
    pcrs = pcr_components(evidence)
    assert [p.optional for p in pcrs] == [True, True]
    assert check_reference_values(DEVICE, pcrs, [], missing="fail") == []
    # The vendor declared PCR 7; a boot that left it at zero is a mismatch, not skipped.
    declared = _ref((1, hashlib.sha256(b"pcr7").digest()), key="pcr/7")
    (finding,) = check_reference_values(DEVICE, pcrs, [declared], missing="fail")
    assert (finding.check, finding.subject) == ("refval.mismatch", "pcr/7")


# --- TPM event log: boot images and firmware blobs against the allowed event digests ------------------------------


def _event_log(blobs: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """A crypto-agile TCG log (sha256 bank) measuring each blob as EV_EFI_PLATFORM_FIRMWARE_BLOB into PCR 0, with
    a separator in PCRs 0-7, and the PCR values it replays to."""
    import struct

    spec_id = (b"Spec ID Event03\x00" + struct.pack("<IBBBB", 0, 0, 2, 0, 2) + struct.pack("<I", 1)
               + struct.pack("<HH", 0x000B, 32) + b"\x00")
    log = bytearray(struct.pack("<II", 0, 0x3) + bytes(20) + struct.pack("<I", len(spec_id)) + spec_id)
    pcrs = {i: bytes(32) for i in range(8)}
    events = [(0, 0x80000008, hashlib.sha256(blob).digest(), struct.pack("<QQ", 0xFFC00000 + i * 0x1000, len(blob)))
              for i, blob in enumerate(blobs)]
    events += [(i, 0x4, hashlib.sha256(b"\x00" * 4).digest(), b"\x00" * 4) for i in range(8)]
    for index, event_type, digest, data in events:
        log += struct.pack("<III", index, event_type, 1) + struct.pack("<H", 0x000B) + digest
        log += struct.pack("<I", len(data)) + data
        pcrs[index] = hashlib.sha256(pcrs[index] + digest).digest()
    return bytes(log), {str(i): v.hex() for i, v in pcrs.items()}


def _tpm_evidence(log: bytes, pcrs: dict[str, str]) -> DeviceEvidence:
    import base64

    return replace(_evidence(), tpm=TpmEvidence({"sha256": pcrs}, base64.b64encode(log).decode(), None, None,
                                                strength="signed"))


def _allowed(*blobs: bytes, source: str = "a.corim") -> ReferenceValues:
    return _ref(*[(1, hashlib.sha256(b).digest()) for b in blobs], key="tpm/events", source=source)


def test_logged_firmware_blobs_are_judged_against_the_allowed_event_digests() -> None:
    from verifier.workflows.intake_reference_values import event_components

    log, pcrs = _event_log([b"PEI volume", b"DXE volume"])
    events = event_components(_tpm_evidence(log, pcrs))
    assert [e.key for e in events] == ["tpm/event/1", "tpm/event/2"]
    assert all(e.member and e.reference_key == "tpm/events" for e in events)
    out = check_reference_values(DEVICE, events, [_allowed(b"PEI volume", b"DXE volume", b"other")])
    assert [f.check for f in out] == ["refval.match", "refval.match"]
    # A planted DXE volume is in no allowed set; a second CoRIM that does not allow the PEI volume disagrees.
    out = check_reference_values(DEVICE, events, [_allowed(b"PEI volume", b"other")])
    assert [f.check for f in out] == ["refval.match", "refval.mismatch"]
    out = check_reference_values(DEVICE, events, [_allowed(b"PEI volume", b"DXE volume"),
                                                  _allowed(b"DXE volume", source="b.corim")])
    assert [f.check for f in out] == ["refval.mismatch", "refval.match"]
    # Truncated allowed digests never allow anything.
    cut = _ref((2, hashlib.sha256(b"PEI volume").digest()[:16]), key="tpm/events")
    assert check_reference_values(DEVICE, events[:1], [cut])[0].check == "refval.missing"


def test_a_log_that_does_not_replay_to_the_pcrs_is_not_read() -> None:
    from verifier.workflows.intake_reference_values import event_components

    log, pcrs = _event_log([b"PEI volume"])
    assert event_components(_tpm_evidence(log, {**pcrs, "0": "ab" * 32})) == []
    assert event_components(_tpm_evidence(b"\x00garbage", pcrs)) == []
