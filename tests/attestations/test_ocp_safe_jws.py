"""Short-form report signatures, on reports the tests sign with fresh P-521 keys, and the forgeries an attacker
would try: no signature, an HMAC keyed with the public key, a key of their own in the header, another SRP's
name in kid, changed payload bytes, a duplicate key inside a validly signed payload."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwk

from attestations.errors import InputError
from attestations.keys import load_public_keys
from attestations.ocp_safe.jws import JwsFormatError, parse_compact, verify_compact
from attestations.ocp_safe.review import SignedReview, read_review
from tests.attestations.sfr import Srp, b64, encode, hmac_token, make_srp, payload, unsigned_token
from verifier.checks.reviews import check_signature
from verifier.model import Status

FIRMWARE = b"\x7fELF firmware image made by the test\x00" * 64


@pytest.fixture
def srp(tmp_path: Path) -> Srp:
    return make_srp(tmp_path, "Example Review Co")


@pytest.fixture
def other(tmp_path: Path) -> Srp:
    return make_srp(tmp_path, "Other Review Co")


def _review(token: str | bytes, *keys: Path) -> SignedReview:
    data = token.encode() if isinstance(token, str) else token
    return read_review("report.jws", data, [k for path in keys for k in load_public_keys(path)])


def _signature(token: str | bytes, *keys: Path) -> tuple[Status, str]:
    finding = check_signature(_review(token, *keys))
    return finding.status, finding.message


def test_a_report_signed_by_an_accepted_srp_verifies(srp: Srp) -> None:
    token = srp.sign(encode(payload(FIRMWARE)))
    review = _review(token, srp.pub)
    assert review.signer is not None and review.label == "Example Review Co" and review.algorithm == "ES512"
    assert _signature(token, srp.pub)[0] is Status.PASS
    assert _signature(token + "\n", srp.pub)[0] is Status.PASS  # a trailing newline is not part of the token


def test_resigned_with_a_key_not_accepted_fails(srp: Srp, other: Srp) -> None:
    token = other.sign(encode(payload(FIRMWARE)), {"alg": "ES512", "kid": srp.name})
    status, message = _signature(token, srp.pub)
    assert status is Status.FAIL and "no accepted SRP key verifies it" in message
    assert "a label only" in message


def test_kid_naming_another_srp_chooses_nothing(srp: Srp, other: Srp) -> None:
    """Signed by `other`, kid says `srp`: with both keys accepted the signer is `other`, whatever kid says."""
    token = other.sign(encode(payload(FIRMWARE)), {"alg": "ES512", "kid": srp.name})
    review = _review(token, srp.pub, other.pub)
    assert review.signer is not None and review.signer.source == str(other.pub)
    assert review.label == srp.name
    assert "Other_Review_Co.pub" in check_signature(review).message


def test_hmac_with_the_public_key_as_secret_is_refused(srp: Srp) -> None:
    body = encode(payload(FIRMWARE))
    for secret in (srp.pub.read_bytes(), srp.pub.read_bytes().strip()):
        token = hmac_token({"alg": "HS512", "kid": srp.name}, body, secret)
        status, message = _signature(token, srp.pub)
        assert status is Status.FAIL and "HMAC" in message
    # jwcrypto itself is never asked with an HMAC algorithm: the refusal comes first.
    jws = parse_compact(hmac_token({"alg": "HS256"}, body, b"k"))
    assert verify_compact(jws, load_public_keys(srp.pub)).refused


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(srp: Srp, alg: str) -> None:
    token = unsigned_token(encode(payload(FIRMWARE))).replace(b64(b'{"alg": "none", "typ": "JWT"}'),
                                                               b64(json.dumps({"alg": alg}).encode()))
    status, message = _signature(token, srp.pub)
    assert status is Status.FAIL and "unsigned" in message


def test_an_embedded_key_is_refused_even_when_it_verifies(srp: Srp, tmp_path: Path) -> None:
    attacker = make_srp(tmp_path, "attacker")
    public = json.loads(jwk.JWK.from_pyca(attacker.private.public_key()).export_public())
    for header in ({"alg": "ES512", "jwk": public}, {"alg": "ES512", "jku": "https://attacker.example/keys"},
                   {"alg": "ES512", "x5u": "https://attacker.example/cert"}, {"alg": "ES512", "x5c": ["AAAA"]}):
        token = attacker.sign(encode(payload(FIRMWARE)), header)
        status, message = _signature(token, srp.pub, attacker.pub)
        assert status is Status.FAIL and "carries or points at a key" in message, header


def test_crit_and_unknown_headers_are_refused(srp: Srp) -> None:
    body = encode(payload(FIRMWARE))
    crit = srp.sign(body, {"alg": "ES512", "crit": ["exp"], "exp": 1})
    assert "crit" in _signature(crit, srp.pub)[1]
    b64_false = srp.sign(body, {"alg": "ES512", "b64": False})
    assert _signature(b64_false, srp.pub)[0] is Status.FAIL


def test_algorithms_outside_the_sfr_list_are_refused(tmp_path: Path) -> None:
    p256 = make_srp(tmp_path, "p256", ec.SECP256R1())
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    signing_input = f"{b64(json.dumps({'alg': 'ES256'}).encode())}.{b64(encode(payload(FIRMWARE)))}"
    r, s = decode_dss_signature(p256.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    token = f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    status, message = _signature(token, p256.pub)
    assert status is Status.FAIL and "ES384, ES512, PS384, PS512" in message


def test_a_key_of_the_wrong_curve_is_not_tried(srp: Srp, tmp_path: Path) -> None:
    p384 = make_srp(tmp_path, "p384", ec.SECP384R1())
    token = srp.sign(encode(payload(FIRMWARE)))
    status, message = _signature(token, p384.pub)
    assert status is Status.FAIL and "is a key for ES512" in message


def test_no_key_given_fails(srp: Srp) -> None:
    status, message = _signature(srp.sign(encode(payload(FIRMWARE))))
    assert status is Status.FAIL and "no SRP key is accepted" in message


def test_changed_payload_bytes_fail(srp: Srp) -> None:
    token = srp.sign(encode(payload(FIRMWARE)))
    head, _body, signature = token.split(".")
    changed = json.loads(encode(payload(FIRMWARE)))
    changed["audit"]["issues"] = []
    changed["device"]["fw_version"] = "1.2.4"
    forged = f"{head}.{b64(encode(changed))}.{signature}"
    assert _signature(forged, srp.pub)[0] is Status.FAIL
    flipped = bytearray(encode(payload(FIRMWARE)))
    at = flipped.index(b"Roadrunner")
    flipped[at] ^= 0x20  # "roadrunner": still valid JSON, one bit changed
    assert _signature(f"{head}.{b64(bytes(flipped))}.{signature}", srp.pub)[0] is Status.FAIL


def test_a_flipped_signature_byte_fails(srp: Srp) -> None:
    head, body, signature = srp.sign(encode(payload(FIRMWARE))).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x80
    assert _signature(f"{head}.{body}.{b64(bytes(raw))}", srp.pub)[0] is Status.FAIL


def test_duplicate_keys_inside_a_validly_signed_payload_are_bad_input(srp: Srp) -> None:
    """The SRP signed bytes that say two things; no reading of them is trusted."""
    text = encode(payload(FIRMWARE)).decode()
    twice = text.replace('"fw_version": "1.2.3"', '"fw_version": "1.2.3", "fw_version": "9.9.9"')
    issues = text.replace('"issues": []', '"issues": [], "issues": []')
    for body in (twice, issues):
        token = srp.sign(body.encode())
        with pytest.raises(InputError, match="appears twice"):
            _review(token, srp.pub)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + ".",  # four parts
        lambda t: t.replace(".", "..", 1),
        lambda t: t.split(".")[0] + "=." + ".".join(t.split(".")[1:]),  # padding
        lambda t: t[:20] + "+" + t[21:],  # standard, not URL-safe, alphabet
        lambda t: t[:20] + " " + t[20:],  # whitespace inside a segment
        lambda t: json.dumps({"payload": t.split(".")[1], "protected": t.split(".")[0],
                              "signature": t.split(".")[2]}),  # the JSON serialisation
    ],
)
def test_tokens_not_in_the_canonical_compact_form_are_bad_input(srp: Srp, mangle: object) -> None:
    token = srp.sign(encode(payload(FIRMWARE)))
    with pytest.raises(InputError):
        _review(mangle(token), srp.pub)  # type: ignore[operator]


def test_non_canonical_trailing_bits_are_bad_input() -> None:
    # "QQ" and "QR" both decode to b"A" with a lax decoder.
    with pytest.raises(JwsFormatError, match="canonical"):
        parse_compact(b64(b'{"alg":"ES512"}') + ".QR.AAAA")


def test_header_with_duplicate_alg_is_bad_input(srp: Srp) -> None:
    header = '{"alg":"none","alg":"ES512"}'
    token = f"{b64(header.encode())}.{b64(encode(payload(FIRMWARE)))}.AAAA"
    with pytest.raises(InputError, match="appears twice"):
        _review(token, srp.pub)


def test_plain_json_is_read_but_never_trusted(srp: Srp) -> None:
    review = _review(encode(payload(FIRMWARE)), srp.pub)
    finding = check_signature(review)
    assert review.form == "json" and finding.status is Status.FAIL and "not signed" in finding.message


def _rsa_token(bits: int, alg: str, tmp_path: Path) -> tuple[str, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwcrypto import jws as jwcrypto_jws

    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pub = tmp_path / f"rsa-{bits}.pub"
    pub.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    token = jwcrypto_jws.JWS(encode(payload(FIRMWARE)))
    token.add_signature(jwk.JWK.from_pyca(private), alg=alg, protected=json.dumps({"alg": alg, "kid": "rsa"}))
    return token.serialize(compact=True), pub


def test_rsa_pss_with_a_3072_bit_key_is_an_sfr_algorithm(tmp_path: Path) -> None:
    token, pub = _rsa_token(3072, "PS384", tmp_path)
    assert _signature(token, pub)[0] is Status.PASS


def test_rsa_below_3072_bits_and_pkcs1_v15_are_not(tmp_path: Path) -> None:
    token, pub = _rsa_token(2048, "PS512", tmp_path)
    status, message = _signature(token, pub)
    assert status is Status.FAIL and "is a key for PS512" in message  # the SFR format allows 3072 and 4096 only
    token, pub = _rsa_token(3072, "RS384", tmp_path)
    status, message = _signature(token, pub)
    assert status is Status.FAIL and "RS384" in message
