"""Property tests: sign then verify round-trips, and any change to what was signed is caught."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestations.documents import parse_documents
from attestations.dsse import Envelope, envelopes_to_jsonl, sign_envelope, verify_signatures
from attestations.errors import InputError
from attestations.keys import generate_private_key
from attestations.predicates import INTOTO_PAYLOAD_TYPE
from attestations.statement import Subject, build_statement, parse_statement

SIGNERS = [generate_private_key(kind) for kind in ("ed25519", "ecdsa-p256", "ecdsa-p384")]

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
digests = st.binary(min_size=32, max_size=32).map(bytes.hex)
# JSON every parser reads alike (attestations.strict_json): keys without NUL, distinct under case folding, and
# integers a double holds exactly. What falls outside is refused at signing (the test below).
keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)


def distinct_folded(obj: dict[str, object]) -> bool:
    return len({key.casefold() for key in obj}) == len(obj)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(keys, children, max_size=4).filter(distinct_folded),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    subjects=st.lists(st.tuples(names, digests), min_size=1, max_size=4, unique_by=lambda s: s[0]),
    predicate=st.dictionaries(keys, json_values, max_size=5).filter(distinct_folded),
    signer_index=st.integers(0, len(SIGNERS) - 1),
)
def test_sign_then_verify_round_trips(subjects: list[tuple[str, str]], predicate: dict[str, object],
                                      signer_index: int) -> None:
    signer = SIGNERS[signer_index]
    payload = build_statement([Subject(n, {"sha256": d}) for n, d in subjects], "https://example.com/p/v1", predicate)
    envelope = sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [signer])
    [parsed] = parse_documents(envelopes_to_jsonl([envelope]), "prop")
    assert isinstance(parsed, Envelope)
    assert verify_signatures(parsed, [signer.public]).valid_keyids == (signer.public.keyid,)
    statement = parse_statement(parsed.payload)
    assert [(s.name, s.digests["sha256"]) for s in statement.subjects] == [(n, d) for n, d in subjects]
    assert json.loads(parsed.payload)["predicate"] == predicate


@settings(max_examples=60, deadline=None)
@given(
    ambiguity=st.sampled_from(
        [
            {"n": 2**53},
            {"n": -(2**53)},
            {"n": float("nan")},
            {"n": float("inf")},
            {"Key": 1, "key": 2},
            {"\u017fubject": 1, "subject": 2},
            {"k\x00": 1},
        ]
    ),
    depth=st.integers(0, 4),
)
def test_what_a_verifier_would_read_otherwise_is_never_signed(ambiguity: dict[str, object], depth: int) -> None:
    """The failing twin of the round trip: provcheck refuses to sign a predicate its own reader would refuse."""
    predicate: dict[str, object] = ambiguity
    for _ in range(depth):
        predicate = {"nested": [predicate]}
    with pytest.raises(InputError, match="refusing to sign"):
        build_statement([Subject("fw.bin", {"sha256": "ab" * 32})], "https://example.com/p/v1", predicate)


@settings(max_examples=80, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(0, 7), signer_index=st.integers(0, len(SIGNERS) - 1))
def test_any_flipped_payload_bit_is_caught(position: int, bit: int, signer_index: int) -> None:
    signer = SIGNERS[signer_index]
    payload = build_statement([Subject("fw.bin", {"sha256": "ab" * 32})], "https://example.com/p/v1", {"v": 1})
    envelope = sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [signer])
    tampered = bytearray(payload)
    tampered[position % len(tampered)] ^= 1 << bit
    forged = Envelope(bytes(tampered), envelope.payload_type, envelope.signatures)
    assert verify_signatures(forged, [signer.public]).distinct_valid == 0


@settings(max_examples=40, deadline=None)
@given(payload_type=st.sampled_from(["application/vnd.in-toto+json", "application/json", "text/plain"]))
def test_signature_binds_the_payload_type(payload_type: str) -> None:
    signer = SIGNERS[0]
    envelope = sign_envelope(b"{}", INTOTO_PAYLOAD_TYPE, [signer])
    moved = Envelope(envelope.payload, payload_type, envelope.signatures)
    expected = 1 if payload_type == INTOTO_PAYLOAD_TYPE else 0
    assert verify_signatures(moved, [signer.public]).distinct_valid == expected
