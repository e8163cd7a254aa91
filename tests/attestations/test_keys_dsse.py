"""Keys and DSSE envelopes as facts: what verifies, and that tampering makes it stop verifying."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from attestations.dsse import parse_envelope, sign_envelope, verify_signatures
from attestations.errors import InputError, KeyFormatError, UnsupportedError
from attestations.files import write_private
from attestations.keys import (
    KEY_TYPES,
    generate_private_key,
    load_public_keys,
    load_signer,
    private_pem,
    public_pem,
)
from attestations.predicates import INTOTO_PAYLOAD_TYPE
from attestations.statement import Subject, build_statement, parse_statement

PAYLOAD = build_statement([Subject("fw.bin", {"sha256": "ab" * 32})], "https://example.com/p/v1", {"k": 1})


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_sign_then_verify_round_trips_for_every_key_type(kind: str) -> None:
    signer = generate_private_key(kind)
    envelope = sign_envelope(PAYLOAD, INTOTO_PAYLOAD_TYPE, [signer])
    reparsed = parse_envelope(json.loads(json.dumps(envelope.to_json())))
    check = verify_signatures(reparsed, [signer.public])
    assert check.valid_keyids == (signer.public.keyid,)
    assert parse_statement(reparsed.payload).subjects[0].name == "fw.bin"


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_flipped_payload_byte_fails_for_every_key_type(kind: str) -> None:
    signer = generate_private_key(kind)
    envelope = sign_envelope(PAYLOAD, INTOTO_PAYLOAD_TYPE, [signer])
    tampered = bytearray(envelope.payload)
    tampered[10] ^= 0x01
    obj = envelope.to_json() | {"payload": base64.b64encode(bytes(tampered)).decode()}
    assert verify_signatures(parse_envelope(obj), [signer.public]).valid_keyids == ()


def test_wrong_key_does_not_verify() -> None:
    envelope = sign_envelope(PAYLOAD, INTOTO_PAYLOAD_TYPE, [generate_private_key("ed25519")])
    other = generate_private_key("ed25519")
    check = verify_signatures(envelope, [other.public])
    assert check.valid_keyids == () and check.invalid_count == 1


def test_same_key_signing_twice_counts_once() -> None:
    signer = generate_private_key("ecdsa-p256")
    envelope = sign_envelope(PAYLOAD, INTOTO_PAYLOAD_TYPE, [signer, signer])
    check = verify_signatures(envelope, [signer.public])
    assert check.signature_count == 2
    assert check.distinct_valid == 1


def test_raw_p1363_ecdsa_signature_is_accepted() -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    signer = generate_private_key("ecdsa-p256")
    envelope = sign_envelope(PAYLOAD, INTOTO_PAYLOAD_TYPE, [signer])
    r, s = decode_dss_signature(envelope.signatures[0].sig)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    obj = envelope.to_json()
    obj["signatures"][0]["sig"] = base64.b64encode(raw).decode()
    assert verify_signatures(parse_envelope(obj), [signer.public]).distinct_valid == 1
    raw_flipped = raw[:-1] + bytes([raw[-1] ^ 1])
    obj["signatures"][0]["sig"] = base64.b64encode(raw_flipped).decode()
    assert verify_signatures(parse_envelope(obj), [signer.public]).distinct_valid == 0


def test_key_file_forms_give_the_same_keyid(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    signer = generate_private_key("ecdsa-p256")
    pem = tmp_path / "k.pub"
    pem.write_bytes(public_pem(signer.public))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(signer.private_key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(signer.private_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path = tmp_path / "k.crt"
    cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
    der_path = tmp_path / "k.der"
    der_path.write_bytes(cert.public_bytes(Encoding.DER))
    sslib = tmp_path / "k.json"
    sslib.write_text(json.dumps({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                                 "keyval": {"public": public_pem(signer.public).decode()}}))
    ids = {load_public_keys(p)[0].keyid for p in (pem, cert_path, der_path, sslib)}
    assert ids == {signer.public.keyid}


def test_securesystemslib_ed25519_hex_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    signer = generate_private_key("ed25519")
    raw = signer.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    path = tmp_path / "ed.json"
    path.write_text(json.dumps({"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}))
    key = load_public_keys(path)[0]
    assert key.keyid == signer.public.keyid and key.aliases


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key", "not a supported key format"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "cannot be parsed"),
        (b'{"keytype": "ed25519"}', "not a securesystemslib key"),
        (b'{"keytype": "dsa", "keyval": {"public": "00"}}', "unsupported"),
    ],
)
def test_wrong_key_formats_are_rejected_with_a_reason(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.pub"
    path.write_bytes(content)
    with pytest.raises(KeyFormatError, match=message):
        load_public_keys(path)


def test_private_key_given_as_public_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_bytes(private_pem(generate_private_key("ed25519")))
    with pytest.raises(KeyFormatError, match="private key"):
        load_public_keys(path)


def test_encrypted_private_key_needs_the_passphrase(tmp_path: Path) -> None:
    signer = generate_private_key("ed25519")
    path = tmp_path / "k.key"
    write_private(path, private_pem(signer, b"s3cret"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(KeyFormatError, match="encrypted"):
        load_signer(path)
    with pytest.raises(KeyFormatError, match="wrong passphrase"):
        load_signer(path, b"nope")
    assert load_signer(path, b"s3cret").public.keyid == signer.public.keyid


@pytest.mark.parametrize(
    ("obj", "error", "message"),
    [
        ({"payload": "e30=", "payloadType": INTOTO_PAYLOAD_TYPE, "signatures": []}, InputError, "no signatures"),
        ({"payload": "%%%", "payloadType": INTOTO_PAYLOAD_TYPE, "signatures": [{"sig": "AA=="}]}, InputError, "base64"),
        (
            {"payload": "e30=", "payloadType": "text/plain", "signatures": [{"sig": "AA=="}]},
            UnsupportedError,
            "payloadType",
        ),
        ({"payload": "e30=", "signatures": [{"sig": "AA=="}]}, InputError, "payloadType"),
        ([1, 2], InputError, "JSON object"),
    ],
)
def test_malformed_envelopes_are_rejected(obj: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_envelope(obj)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"_type": "https://example.com/other"}', "Statement"),
        (b'{"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "x"}', "no subject"),
        (b'{"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "a", "digest": {"sha256": "zz"}}],'
         b' "predicateType": "x"}', "malformed sha256"),
    ],
)
def test_malformed_statements_are_rejected(payload: bytes, message: str) -> None:
    with pytest.raises((InputError, UnsupportedError), match=message):
        parse_statement(payload)


def test_statement_v01_is_accepted() -> None:
    payload = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://x/y",
                          "subject": [{"name": "a", "digest": {"sha256": "AB" * 32}}]}).encode()
    statement = parse_statement(payload)
    assert statement.is_legacy and statement.subjects[0].digests["sha256"] == "ab" * 32


def test_parallel_batch_verification_finds_the_one_tampered_envelope() -> None:
    from attestations.dsse import PARALLEL_THRESHOLD, Envelope, verify_many

    signer = generate_private_key("ed25519")
    envelopes = [
        sign_envelope(build_statement([Subject(f"f{i}", {"sha256": f"{i:064x}"})], "https://x/y", {}),
                      INTOTO_PAYLOAD_TYPE, [signer])
        for i in range(PARALLEL_THRESHOLD + 100)
    ]
    victim = envelopes[333]
    envelopes[333] = Envelope(victim.payload + b" ", victim.payload_type, victim.signatures, victim.source)
    results = verify_many(envelopes, [signer.public], jobs=2)
    assert len(results) == len(envelopes)
    assert [i for i, r in enumerate(results) if r.distinct_valid == 0] == [333]


def test_rsa_pkcs1v15_signatures_verify_too() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from attestations.dsse import pae

    signer = generate_private_key("rsa")
    message = pae(INTOTO_PAYLOAD_TYPE, PAYLOAD)
    signature = signer.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg, arg-type]
    assert signer.public.verify(signature, message)
    assert not signer.public.verify(signature, message + b"x")
