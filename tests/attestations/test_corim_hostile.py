"""Broken and hostile CoRIMs, made the way an attacker would: bad input is exit 2 naming the field, fast and without a
traceback; a CoRIM that decodes but was changed after signing is exit 1.

Needs no public vectors. Most cases run the CLI in-process (``verifier.cli.main``, the same code path as the console
script) so that every truncation offset can be tried; a few run it as a separate process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cbor2
import pytest

from attestations.corim import cbor as strict
from attestations.corim.decode import decode_corim
from attestations.corim.document import load_document
from attestations.corim.errors import CorimFormatError
from attestations.corim.model import Oid
from tests.attestations.corim_cases import (
    default_header,
    meta_bytes,
    payload,
    raw_sign1,
    replace_once,
    signed_corim,
    signer,
    write_public,
)
from tests.helpers import assert_clean_error, run_cli
from verifier.cli import main


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return write_public(tmp_path / "release.pub", signer("ecdsa-p256"))


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def verify(capsys: pytest.CaptureFixture[str], tmp_path: Path, data: bytes, key: Path) -> tuple[int, str, str]:
    target = tmp_path / "input.corim"
    target.write_bytes(data)
    return cli(capsys, "corim", "verify", target, "--key", key, "--format", "json")


def bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path, data: bytes, key: Path) -> str:
    code, _, err = verify(capsys, tmp_path, data, key)
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("provcheck: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    return err


def fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, data: bytes, key: Path) -> dict[str, Any]:
    code, out, err = verify(capsys, tmp_path, data, key)
    assert code == 1, (out, err)
    return {f["check"]: f for f in json.loads(out)["findings"]}


def enc(value: Any) -> bytes:
    return cbor2.dumps(value, datetime_as_timestamp=True)


def corim_value() -> Any:
    return cbor2.loads(payload())


def comid_value() -> Any:
    return cbor2.loads(corim_value().value[1][0].value)


def with_comid(comid: Any) -> bytes:
    outer = corim_value()
    outer.value[1][0] = cbor2.CBORTag(506, enc(comid))
    return enc(outer)


# --- truncation and damage ---------------------------------------------------------------------------------------


def test_truncation_at_every_offset_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 key: Path) -> None:
    data = signed_corim()
    start = time.monotonic()
    for cut in range(len(data)):
        err = bad_input(capsys, tmp_path, data[:cut], key)
        assert "input.corim" in err
    assert time.monotonic() - start < 60


def test_truncated_unsigned_corim_every_offset() -> None:
    data = payload()
    for cut in range(len(data)):
        with pytest.raises(CorimFormatError):
            load_document(data[:cut])


def test_truncated_file_through_the_console_script(tmp_path: Path, key: Path) -> None:
    target = tmp_path / "cut.corim"
    target.write_bytes(signed_corim()[:200])
    result = run_cli(["corim", "verify", target, "--key", key])
    assert_clean_error(result, 2)
    assert "(at byte " in result.stderr
    shown = run_cli(["corim", "show", target])
    assert_clean_error(shown, 2)


def test_trailing_bytes_are_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    assert "after the CBOR item" in bad_input(capsys, tmp_path, signed_corim() + b"\x00", key)


def test_flipped_signature_byte_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    data = bytearray(signed_corim())
    data[-1] ^= 0x01
    findings = fails(capsys, tmp_path, bytes(data), key)
    assert findings["refval.signature"]["status"] == "fail"


@pytest.mark.parametrize(("old", "new"), [(b"RoadRunner", b"RoadRunnes"), (b"\x651.4.0", b"\x651.5.0")])
def test_changed_payload_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path,
                               old: bytes, new: bytes) -> None:
    data = replace_once(signed_corim(), old, new)
    assert load_document(data).corim is not None  # still well-formed: only the signature can tell
    findings = fails(capsys, tmp_path, data, key)
    assert findings["refval.signature"]["status"] == "fail"


def test_changed_digest_byte_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    import hashlib

    from tests.attestations.corim_cases import FIRMWARE

    digest = hashlib.sha256(FIRMWARE).digest()
    data = replace_once(signed_corim(), digest, bytes([digest[0] ^ 0x80]) + digest[1:])
    assert fails(capsys, tmp_path, data, key)["refval.signature"]["status"] == "fail"


# --- wrong tags ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda v: cbor2.CBORTag(502, v.value), "tag 502 is not one CoRIM uses"),
        (lambda v: cbor2.CBORTag(506, v.value), "tag 506 must hold the CoMID's encoded bytes"),
        (lambda v: cbor2.CBORTag(24, enc(v)), "tag 24 is not one CoRIM uses"),
        (lambda v: v.value, "comid.tag-identity: must be a map"),  # a bare map is read as a CoMID
    ],
    ids=["tag-502", "comid-tag-on-corim-map", "embedded-cbor", "untagged-corim-map"],
)
def test_wrong_outer_tag(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path, mutate: Any,
                         expect: str) -> None:
    data = enc(mutate(corim_value()))
    assert expect in bad_input(capsys, tmp_path, data, key)


def test_wrong_inner_tags(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    outer = corim_value()
    outer.value[1][0] = cbor2.CBORTag(507, outer.value[1][0].value)
    assert "tag 507 is not one CoRIM uses" in bad_input(capsys, tmp_path, enc(outer), key)
    outer = corim_value()
    outer.value[1][0] = cbor2.CBORTag(506, cbor2.loads(outer.value[1][0].value))  # the map, not its bytes
    assert "corim.tags[0]: must be a byte string" in bad_input(capsys, tmp_path, enc(outer), key)
    comid = comid_value()
    comid[4][0][0][0][0] = {0: cbor2.CBORTag(1, 5)}  # class-id a time
    assert "environment.class.class-id: must be an OID" in bad_input(capsys, tmp_path, with_comid(comid), key)
    comid = comid_value()
    comid[4][0][0][1][0][1][1] = cbor2.CBORTag(553, "7")  # min-svn holding text
    assert "mval.svn: must be an unsigned integer" in bad_input(capsys, tmp_path, with_comid(comid), key)


def test_signed_envelope_around_something_else(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                key: Path) -> None:
    comid_bytes = enc(comid_value())
    data = raw_sign1(default_header(), comid_bytes, signer("ecdsa-p256"))
    assert "corim: must be an unsigned CoRIM (tag 501)" in bad_input(capsys, tmp_path, data, key)
    detached = enc(cbor2.CBORTag(18, [enc(default_header()), {}, None, b"\x00" * 64]))
    assert "detached" in bad_input(capsys, tmp_path, detached, key)
    three = enc(cbor2.CBORTag(18, [enc(default_header()), {}, payload()]))
    assert "array of 4 entries" in bad_input(capsys, tmp_path, three, key)


# --- missing mandatory fields -------------------------------------------------------------------------------------


def _without(path: list[Any], key_: Any) -> Any:
    value = corim_value()
    node = value.value
    for step in path:
        node = node[step]
    del node[key_]
    return value


@pytest.mark.parametrize(
    ("key_", "expect"),
    [(0, "corim: missing id (key 0)"), (1, "corim: missing tags (key 1)")],
)
def test_missing_corim_fields(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path, key_: int,
                              expect: str) -> None:
    assert expect in bad_input(capsys, tmp_path, enc(_without([], key_)), key)


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda c: c.pop(1), "corim.tags[0]: missing tag-identity (key 1)"),
        (lambda c: c.pop(4), "corim.tags[0]: missing triples (key 4)"),
        (lambda c: c[1].pop(0), "corim.tags[0].tag-identity: missing tag-id (key 0)"),
        (lambda c: c.__setitem__(4, {}), "corim.tags[0].triples: must not be empty"),
        (lambda c: c[4][0][0][1][0].pop(1), "corim.tags[0].triples.reference[0].measurements[0]: missing mval"),
        (lambda c: c[4][0][0].__setitem__(1, []), "triples.reference[0].measurements: must hold at least one"),
        (lambda c: c[4][0][0][1][0][1][2][0].__setitem__(0, b"\x01"),
         "corim.tags[0].triples.reference[0].measurements[0].mval.digests[0]: hash-alg-id must be an int or text"),
        (lambda c: c[4][0][0][1][0][1][2][0].__setitem__(1, b"\x01" * 31),
         "mval.digests[0]: a 1 digest is 32 bytes, not 31"),
        (lambda c: c[4][0][0][0].__setitem__(9, "x"), "corim.tags[0].triples.reference[0].environment: unknown key 9"),
        (lambda c: c[2][0].pop(0), "corim.tags[0].entities[0]: missing entity-name"),
    ],
    ids=["tag-identity", "triples", "tag-id", "empty-triples", "mval", "no-measurements", "digest-alg-bytes",
         "short-digest", "unknown-environment-key", "entity-name"],
)
def test_missing_or_wrong_comid_fields(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path, mutate: Any,
                                       expect: str) -> None:
    comid = comid_value()
    mutate(comid)
    assert expect in bad_input(capsys, tmp_path, with_comid(comid), key)


def test_unknown_keys_of_extensible_maps_are_kept() -> None:
    comid = comid_value()
    comid[4][0][0][1][0][1][-70000] = {"report": "kept"}
    comid[4][0][0][1][0][1][99] = "future"
    corim = decode_corim(with_comid(comid))
    mval = corim.comids[0].triples.reference[0].measurements[0].mval
    assert mval.extension(-70000) == {"report": "kept"} and mval.extension(99) == "future"
    assert mval.extension(-1) is None


# --- headers -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "expect"),
    [(0, "none (reserved) is refused"), (5, "HMAC 256/256 is refused"), (-257, "RS256 is refused"),
     ("none", "'none' is not a COSE algorithm"), (-999, "COSE algorithm -999 is refused")],
    ids=["none", "hmac", "rs256", "text-none", "unknown"],
)
def test_refused_algorithms(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path, alg: Any,
                            expect: str) -> None:
    data = raw_sign1(default_header(alg=alg), payload(), None, signature=b"\x00" * 32)
    assert expect in bad_input(capsys, tmp_path, data, key)


def test_unknown_critical_header_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    good = raw_sign1(default_header(extra={2: [1, 3]}), payload(), signer("ecdsa-p256"))
    assert verify(capsys, tmp_path, good, key)[0] == 0  # crit naming labels we process is fine
    data = raw_sign1(default_header(extra={2: [99], 99: "must understand"}), payload(), signer("ecdsa-p256"))
    assert "critical header 99 is not one this verifier understands" in bad_input(capsys, tmp_path, data, key)
    absent = raw_sign1(default_header(extra={2: [4]}), payload(), signer("ecdsa-p256"))
    assert "does not carry" in bad_input(capsys, tmp_path, absent, key)
    unprotected = raw_sign1(default_header(), payload(), signer("ecdsa-p256"), unprotected={2: [99]})
    assert "must be protected" in bad_input(capsys, tmp_path, unprotected, key)


@pytest.mark.parametrize(
    ("header", "expect"),
    [
        ({1: -7, 8: meta_bytes()}, "missing content type (label 3)"),
        ({1: -7, 3: "application/cbor", 8: meta_bytes()}, "content-type: must be 'application/rim+cbor'"),
        ({1: -7, 3: "application/rim+cbor"}, "names no signer"),
        ({3: "application/rim+cbor", 8: meta_bytes()}, "missing alg (label 1)"),
        ({1: -7, 3: "application/rim+cbor", 8: enc({1: {1: cbor2.CBORTag(1, 0)}})},
         "corim-meta: missing signer (key 0)"),
    ],
    ids=["no-content-type", "other-content-type", "no-signer", "no-alg", "meta-without-signer"],
)
def test_protected_header_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path,
                                header: dict[int, Any], expect: str) -> None:
    data = raw_sign1(header, payload(), signer("ecdsa-p256"))
    assert expect in bad_input(capsys, tmp_path, data, key)


def test_alg_only_unprotected_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    data = raw_sign1(default_header(), payload(), signer("ecdsa-p256"), unprotected={1: -8})
    assert "label 1 must be protected" in bad_input(capsys, tmp_path, data, key)


def test_empty_protected_header(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    data = raw_sign1(b"", payload(), None, signature=b"\x00" * 64)
    assert "cose.protected: is empty" in bad_input(capsys, tmp_path, data, key)


# --- duplicate keys (one reading only) -----------------------------------------------------------------------------


def _map(*pairs: tuple[Any, Any]) -> bytes:
    """A CBOR map written entry by entry, so a key can be written twice."""
    assert len(pairs) < 24
    return bytes([0xA0 | len(pairs)]) + b"".join(enc(k) + enc(v) for k, v in pairs)


def test_duplicate_alg_in_protected_header(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    """{1: -7, 1: -8}: a verifier keeping the first and one keeping the last would disagree. Refused."""
    protected = _map((1, -7), (1, -8), (3, "application/rim+cbor"), (8, meta_bytes()))
    data = raw_sign1(protected, payload(), signer("ecdsa-p256"))
    assert "cose.protected: duplicate CBOR map key" in bad_input(capsys, tmp_path, data, key)


def test_duplicate_corim_id(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    tags = corim_value().value[1]
    data = b"\xd9\x01\xf5" + _map((0, "first"), (1, tags), (0, "second"))
    assert "duplicate CBOR map key" in bad_input(capsys, tmp_path, data, key)


def test_duplicate_key_written_two_ways(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    """Key 1 written as 0x01 and as 0x18 0x01 (not shortest form) is still one key twice."""
    tags = enc(corim_value().value[1])
    data = b"\xd9\x01\xf5\xa3" + b"\x00" + enc("id") + b"\x01" + tags + b"\x18\x01" + tags
    assert "duplicate CBOR map key" in bad_input(capsys, tmp_path, data, key)


def test_duplicate_key_in_comid(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    comid = comid_value()
    inner = _map((1, comid[1]), (4, comid[4]), (4, comid[4]))
    outer = corim_value()
    outer.value[1][0] = cbor2.CBORTag(506, inner)
    assert "corim.tags[0]: duplicate CBOR map key" in bad_input(capsys, tmp_path, enc(outer), key)


# --- resource abuse: every one is exit 2, fast --------------------------------------------------------------------


HOSTILE = {
    "huge-array": b"\xd9\x01\xf5\x9b\x7f\xff\xff\xff\xff\xff\xff\xff",
    "huge-map": b"\xd9\x01\xf5\xbb\x7f\xff\xff\xff\xff\xff\xff\xff",
    "huge-bytes": b"\xd2\x84\x5b\x7f\xff\xff\xff\xff\xff\xff\xff",
    "huge-text": b"\xd9\x01\xf5\xa1\x00\x7b\x00\x00\x00\x01\x00\x00\x00\x00",
    "deep-arrays": b"\x81" * 100_000 + b"\x00",
    "deep-maps": b"\xa1\x00" * 50_000 + b"\x00",
    "deep-tags": b"\xd9\x01\xf5" * 30_000 + b"\x00",
    "indefinite-nesting": b"\x9f" * 10_000 + b"\xff" * 10_000,
    "indefinite-many": b"\x9f" + b"\x9f\xff" * 1000 + b"\xff",
    "indefinite-bytes-chunks": b"\x5f" + b"\x41\x00" * 300_000 + b"\xff",
    "many-items": b"\x9a\x00\x10\x00\x00" + b"\x00" * 0x100000,
    "bignum": b"\xd9\x01\xf5\xa2\x00\xc2\x58\x20" + b"\xff" * 32 + b"\x01\x80",
    "shared-ref": b"\xd8\x1c\x81\xd8\x1d\x00",
    "undefined-simple": b"\xd9\x01\xf5\xa2\x00\xf7\x01\x80",
    "break-outside": b"\xff",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_resource_abuse_is_bad_input_fast(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path,
                                          name: str) -> None:
    start = time.monotonic()
    bad_input(capsys, tmp_path, HOSTILE[name], key)
    assert time.monotonic() - start < 2


def test_deep_nesting_inside_an_extension(capsys: pytest.CaptureFixture[str], tmp_path: Path, key: Path) -> None:
    value: Any = 0
    for _ in range(200):
        value = [value]
    comid = comid_value()
    comid[4][0][0][1][0][1][-1] = value
    assert "nesting deeper than" in bad_input(capsys, tmp_path, with_comid(comid), key)


def test_oversized_file_is_refused_before_reading(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  key: Path) -> None:
    code, _, err = verify(capsys, tmp_path, b"\x00" * (strict.MAX_SIZE + 1), key)
    assert code == 2 and "Traceback" not in err


def test_tags_are_transparent_but_bounded() -> None:
    with pytest.raises(CorimFormatError, match="more than 2 CBOR tags on one item"):
        strict.check_profile(b"\xc1\xc1\xc1\x01")
    with pytest.raises(CorimFormatError, match="'break' outside"):
        strict.check_profile(b"\x9f\xc1\xff")  # a tag with no content before the break
    with pytest.raises(CorimFormatError, match="map key is not an integer or text"):
        strict.check_profile(b"\xa1\xc1\x01\x02")  # a tagged map key
    strict.check_profile(b"\xd9\x01\xf5\xa1\x00\xd8\x25\x50" + bytes(16))


def test_limits_named_in_the_message() -> None:
    with pytest.raises(CorimFormatError, match="more than 16 indefinite-length items"):
        strict.check_profile(HOSTILE["indefinite-many"])
    with pytest.raises(CorimFormatError, match=r"declares 9223372036854775807 entries but only 0 bytes follow"):
        strict.check_profile(HOSTILE["huge-array"])


# --- what reaches a person ---------------------------------------------------------------------------------------


def test_text_output_escapes_what_the_file_says(tmp_path: Path) -> None:
    comid = comid_value()
    comid[4][0][0][0][0][1] = "ACME\x1b[2J\x1b[32mverdict: PASS\u202e"
    comid[2][0][0] = "Evil\rCorp\x9b"
    target = tmp_path / "hostile.corim"
    target.write_bytes(with_comid(comid))
    shown = run_cli(["corim", "show", target])
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout and "\r" not in shown.stdout
    assert "\x9b" not in shown.stdout
    assert "ACME\\x1b[2J" in shown.stdout and "\\u202e" in shown.stdout
    as_json = json.loads(run_cli(["corim", "show", target, "--format", "json"]).stdout)
    vendor = as_json["corim"]["tags"][0]["triples"]["reference"][0]["environment"]["class"]["vendor"]
    assert vendor == "ACME\x1b[2J\x1b[32mverdict: PASS\u202e"  # machine output keeps the exact value


def test_error_text_from_the_file_is_escaped(tmp_path: Path, key: Path) -> None:
    comid = comid_value()
    comid[4][0][0][0]["\x1b[31mEVIL"] = 1  # an unknown (text) key in a closed map is quoted in the error
    target = tmp_path / "hostile.corim"
    target.write_bytes(with_comid(comid))
    result = run_cli(["corim", "verify", target, "--key", key])
    assert_clean_error(result, 2)
    assert "\x1b" not in result.stderr


def test_oid_forms() -> None:
    oid = Oid.from_dotted("1.3.6.1.4.1.42623.1.1")
    assert oid.der.hex() == "2b0601040182cc7f0101" and oid.dotted == "1.3.6.1.4.1.42623.1.1"
    whole = Oid(bytes([0x06, len(oid.der)]) + oid.der)
    assert whole.with_der_header and whole.dotted == "1.3.6.1.4.1.42623.1.1"
    assert Oid(b"\x80\x01").dotted == "oid:8001"


def test_json_output_stays_json(tmp_path: Path) -> None:
    """Extension values the JSON data model cannot hold (NaN, infinity, bytes, tags) are shown, not emitted raw."""
    comid = comid_value()
    comid[4][0][0][1][0][1][-1] = [float("nan"), float("inf"), b"\x00\xff", cbor2.CBORTag(560, b"\x01")]
    target = tmp_path / "odd.corim"
    target.write_bytes(with_comid(comid))
    shown = run_cli(["corim", "show", target, "--format", "json"])
    assert shown.returncode == 0, shown.stderr
    tree = json.loads(shown.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    value = tree["corim"]["tags"][0]["triples"]["reference"][0]["measurements"][0]["mval"]["extensions"]["-1"]
    assert value == ["nan", "inf", {"hex": "00ff"}, {"tag": 560, "value": {"hex": "01"}}]
