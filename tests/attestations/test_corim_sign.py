"""CoRIMs made and signed here, per algorithm: they verify with their key, fail with another, match the CDDL.

Needs no public vectors: the keys, the CoRIMs and the envelopes are made by the tests.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2
import pytest

from attestations.corim.build import ReferenceMeasurement, build_reference_corim, sign_reference_corim
from attestations.corim.cose import decode_signed, verify_signed
from attestations.corim.decode import decode_corim
from attestations.corim.document import load_document
from attestations.corim.encode import encode_corim
from attestations.corim.errors import CorimFormatError, CorimUnsupportedError
from attestations.corim.model import ClassMap
from attestations.keys import generate_private_key
from tests.attestations.corim_cases import (
    FIRMWARE,
    VALID_UNTIL,
    default_header,
    payload,
    raw_sign1,
    reference_corim,
    schema,
    signed_corim,
    signer,
    validate_signed_parts,
    write_public,
)
from tests.helpers import REPO, run_cli

KINDS = {"ES256": "ecdsa-p256", "ES384": "ecdsa-p384", "EdDSA": "ed25519"}


@pytest.mark.parametrize("alg", sorted(KINDS))
def test_made_here_corim_verifies_per_algorithm_and_fails_with_another_key(alg: str) -> None:
    data = signed_corim(KINDS[alg])
    signed = decode_signed(data)
    assert signed.protected.alg_name == alg
    assert signed.protected.content_type == "application/rim+cbor"
    assert signed.protected.meta is not None and signed.protected.meta.signer.name == "ACME release key"
    good = verify_signed(signed, [signer(KINDS[alg]).public])
    assert good.valid and good.key == signer(KINDS[alg]).public
    other = generate_private_key(KINDS[alg]).public
    assert not verify_signed(signed, [other]).valid
    # A key of another type is never tried against this algorithm.
    wrong_type = signer("ed25519" if alg != "EdDSA" else "ecdsa-p256").public
    check = verify_signed(signed, [wrong_type])
    assert not check.valid and "cannot verify" in check.reasons[0]


def test_es512_from_a_p521_key() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from attestations.keys import Signer, public_key_from_crypto

    private = ec.generate_private_key(ec.SECP521R1())
    p521 = Signer(private_key=private, public=public_key_from_crypto(private.public_key()))
    data = sign_reference_corim(reference_corim(), p521, "ACME P-521 key")
    signed = decode_signed(data)
    assert signed.protected.alg_name == "ES512"
    assert verify_signed(signed, [p521.public]).valid
    assert not verify_signed(signed, [generate_private_key("ecdsa-p256").public]).valid


def test_rsa_key_is_refused_naming_it() -> None:
    rsa = generate_private_key("rsa")
    with pytest.raises(CorimUnsupportedError, match="rsa-3072 key cannot sign a CoRIM"):
        sign_reference_corim(reference_corim(), rsa, "RSA key")


def test_what_was_built_is_what_is_read() -> None:
    corim = reference_corim()
    doc = load_document(signed_corim())
    assert doc.kind == "signed-corim" and doc.corim == corim
    triple = corim.comids[0].triples.reference[0]
    assert triple.environment.class_ is not None and triple.environment.class_.vendor == "ACME"
    fw = triple.measurements[0]
    assert fw.mkey == "firmware.bin"
    assert fw.mval.digest("sha-256") == hashlib.sha256(FIRMWARE).digest()
    assert fw.mval.digest("sha-384") == hashlib.sha384(FIRMWARE).digest()
    assert fw.mval.digest("sha-512") == hashlib.sha512(FIRMWARE).digest()
    assert [d.hashlib_name for d in fw.mval.digests] == ["sha256", "sha384", "sha512"]
    assert fw.mval.svn is not None and fw.mval.svn.value == 7
    assert fw.mval.version is not None and fw.mval.version.version == "1.4.0"


def test_writer_is_deterministic() -> None:
    a = encode_corim(reference_corim())
    b = encode_corim(reference_corim())
    assert a == b
    assert cbor2.dumps(cbor2.loads(a), canonical=True, datetime_as_timestamp=True) == a


@pytest.mark.parametrize("alg", sorted(KINDS))
def test_writer_output_matches_the_draft_cddl(alg: str) -> None:
    data = signed_corim(KINDS[alg])
    validate_signed_parts(data)
    schema().validate_cbor(payload())


def test_build_refuses_unknown_digest_algorithm_and_empty_measurements() -> None:
    with pytest.raises(CorimFormatError, match=r"measurements\[0\]\.digests: digest algorithm 'md5'"):
        build_reference_corim("x", ClassMap(vendor="v"), [ReferenceMeasurement("fw", {"md5": b"0" * 16})])
    with pytest.raises(CorimFormatError, match="at least one measurement"):
        build_reference_corim("x", ClassMap(vendor="v"), [])


def test_unsigned_corim_is_recognised_as_unsigned() -> None:
    doc = load_document(payload())
    assert doc.kind == "corim" and doc.signed is None
    assert decode_corim(payload()) == doc.corim


def test_cli_verify_made_here_corim(tmp_path: Path) -> None:
    corim = tmp_path / "release.corim"
    corim.write_bytes(signed_corim("ed25519"))
    key = write_public(tmp_path / "release.pub", signer("ed25519"))
    other = write_public(tmp_path / "other.pub", generate_private_key("ed25519"))
    ok = run_cli(["corim", "verify", corim, "--key", key, "--format", "json"])
    assert ok.returncode == 0, (ok.stdout, ok.stderr)
    assert {f["status"] for f in json.loads(ok.stdout)["findings"]} == {"pass"}
    bad = run_cli(["corim", "verify", corim, "--key", other, "--format", "json"])
    assert bad.returncode == 1
    # Two keys, one of them right: it verifies.
    both = run_cli(["corim", "verify", corim, "--key", other, "--key", key])
    assert both.returncode == 0, both.stdout


def test_cli_verify_validity_window(tmp_path: Path) -> None:
    corim = tmp_path / "release.corim"
    corim.write_bytes(signed_corim("ecdsa-p256"))
    key = write_public(tmp_path / "release.pub", signer("ecdsa-p256"))
    early = run_cli(["corim", "verify", corim, "--key", key, "--at", "2023-06-01", "--format", "json"])
    assert early.returncode == 1
    validity = {f["check"]: f for f in json.loads(early.stdout)["findings"]}["refval.validity"]
    assert "not valid before 2024-01-01" in validity["message"]
    late = run_cli(["corim", "verify", corim, "--key", key, "--at", "2034-01-02T00:00:00Z"])
    assert late.returncode == 1 and "expired" in late.stdout
    bad_date = run_cli(["corim", "verify", corim, "--key", key, "--at", "yesterday"])
    assert bad_date.returncode == 2 and "--at" in bad_date.stderr


def test_cli_show_signed_made_here(tmp_path: Path) -> None:
    corim = tmp_path / "release.corim"
    corim.write_bytes(signed_corim("ecdsa-p384"))
    shown = run_cli(["corim", "show", corim, "--format", "json"])
    assert shown.returncode == 0, shown.stderr
    tree = json.loads(shown.stdout)
    assert tree["cose"]["protected"]["alg"] == "ES384"
    assert tree["cose"]["protected"]["signer"] == {"name": "ACME release key", "uri": "https://acme.example/keys"}
    assert tree["corim"]["profile"] == {"oid": "1.3.6.1.4.1.99999.1"}
    assert tree["corim"]["validity"]["not_after"] == VALID_UNTIL.isoformat()
    ref = tree["corim"]["tags"][0]["triples"]["reference"][0]
    assert ref["environment"]["class"] == {"vendor": "ACME", "model": "RoadRunner"}
    digests = {d["alg"]: d["value"] for d in ref["measurements"][0]["mval"]["digests"]}
    assert digests["sha-384"] == hashlib.sha384(FIRMWARE).hexdigest()
    text = run_cli(["corim", "show", corim])
    assert text.returncode == 0 and "signer:" in text.stdout and "alg: ES384" in text.stdout


def test_raw_sign1_helper_matches_cwt() -> None:
    """The hostile-envelope helper signs exactly as COSE does, so its failures are the header's, not the helper's."""
    data = raw_sign1(default_header(), payload(), signer("ecdsa-p256"))
    assert verify_signed(decode_signed(data), [signer("ecdsa-p256").public]).valid
    data = raw_sign1(default_header(alg=-8), payload(), signer("ed25519"))
    assert verify_signed(decode_signed(data), [signer("ed25519").public]).valid


def test_signature_validity_is_the_corim_validity() -> None:
    signed = decode_signed(signed_corim())
    meta = signed.protected.meta
    assert meta is not None and meta.signature_validity is not None
    assert meta.signature_validity.not_after == datetime(2034, 1, 1, tzinfo=UTC)


def _kitchen_sink() -> Any:
    import sys

    sys.path.insert(0, str(REPO / "fuzz"))
    from seedgen import corim_kitchen_sink

    return corim_kitchen_sink()


def test_every_part_of_the_model_round_trips() -> None:
    """A CoRIM using every triple kind and every measurement value (the fuzz seed): written, read back, signed.

    Not checked against the draft-09 CDDL: it also holds what older drafts and extensions write (a stateful
    environment with its keys, extension keys the draft leaves unplugged).
    """
    sink = _kitchen_sink()
    data = encode_corim(sink)
    assert decode_corim(data) == sink
    assert encode_corim(decode_corim(data)) == data
    signed = sign_reference_corim(sink, signer("ecdsa-p256"), "ACME release key")
    assert verify_signed(decode_signed(signed), [signer("ecdsa-p256").public]).valid


def test_map_order_does_not_change_the_model() -> None:
    """Extensions are kept in deterministic key order: two encodings of one map are one model."""
    value = cbor2.loads(encode_corim(_kitchen_sink()))
    value.value = dict(reversed(list(value.value.items())))
    again = decode_corim(cbor2.dumps(value, datetime_as_timestamp=True))
    assert again == _kitchen_sink()


def test_build_boot_measurements_and_raw_values() -> None:
    pcrs = ReferenceMeasurement("boot", integrity_registers={0: {"sha256": bytes(32)}, 7: {"sha384": b"\x07" * 48}})
    raw = ReferenceMeasurement("fuse", raw_value=b"\x12\x34", raw_mask=b"\xff\x00")
    corim = build_reference_corim("boot", ClassMap(vendor="ACME", model="RoadRunner"), [pcrs, raw])
    data = encode_corim(corim)
    schema().validate_cbor(data)
    again = decode_corim(data)
    assert again == corim
    boot, fuse = again.reference_triples[0].measurements
    assert [(r.register, [d.alg_name for d in r.digests]) for r in boot.mval.integrity_registers] == [
        (0, ["sha-256"]), (7, ["sha-384"])]
    assert fuse.mval.raw_value is not None and fuse.mval.raw_value.mask == b"\xff\x00"
    with pytest.raises(CorimFormatError, match="raw_mask: given without a raw value"):
        build_reference_corim("x", ClassMap(vendor="v"), [ReferenceMeasurement("m", {"sha256": bytes(32)},
                                                                                raw_mask=b"\x00")])
