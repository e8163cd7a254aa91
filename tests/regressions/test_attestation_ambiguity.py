"""One signed attestation, one meaning (issue 11, section 3), through ``provcheck attest verify`` and ``intake``.

The attacker here holds a vendor signing key, or can get the vendor's pipeline to sign what they wrote: every
forged document below carries a signature that verifies. What they vary is how the signed bytes are read. Python's
``json`` keeps the last of two equal keys, Go's ``encoding/json`` folds case, JavaScript rounds integers past 2^53,
lenient base64 decoders skip what they do not know. Each forged document is built so that two readers see two
statements (the test shows both readings), and provcheck must refuse it as bad input (exit 2) rather than pick one.
Each has an honest twin, the same statement written unambiguously, that verifies.

For ``--source-uri`` the attacker builds from their own repository and lets the vendor's appear elsewhere in the
provenance (resolvedDependencies, internalParameters, a byproduct, a lookalike name, a ref spelled another way).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attestations.dsse import sign_envelope
from attestations.keys import load_signer
from attestations.predicates import INTOTO_PAYLOAD_TYPE
from tests.helpers import Run, assert_clean_error, run_cli

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
PTYPE = "https://example.com/firmware/v1"
EVIL = "00" * 32


class Vendor:
    """A vendor key pair made with the CLI, and an honest firmware image with a decoy beside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        assert run_cli(["keys", "generate", "--out", root / "vendor"]).returncode == 0
        self.key = root / "vendor.key"
        self.pub = root / "vendor.pub"
        self.firmware = root / "firmware.img"
        self.firmware.write_bytes(b"\x7fELF honest firmware image" * 64)
        self.evil = root / "evil.img"
        self.evil.write_bytes(b"\x7fELF planted firmware image" * 64)
        self.sha256 = hashlib.sha256(self.firmware.read_bytes()).hexdigest()
        self.evil_sha256 = hashlib.sha256(self.evil.read_bytes()).hexdigest()

    def envelope(self, payload: bytes, payload_type: str = INTOTO_PAYLOAD_TYPE) -> dict[str, Any]:
        """A DSSE envelope over exactly these bytes, with a signature that verifies."""
        return sign_envelope(payload, payload_type, [load_signer(self.key)]).to_json()

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.root / name
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    def signed(self, name: str, payload: bytes, payload_type: str = INTOTO_PAYLOAD_TYPE) -> Path:
        return self.write(name, json.dumps(self.envelope(payload, payload_type)) + "\n")

    def verify(self, bundle: Path, *extra: object, artifact: Path | None = None) -> Run:
        result = run_cli(["attest", "verify", artifact or self.firmware, "--bundle", bundle, "--key", self.pub,
                          "--format", "json", *extra])
        assert "Traceback" not in result.stderr, result.stderr
        return result


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> Vendor:
    return Vendor(tmp_path_factory.mktemp("vendor"))


def statement(subject: str, predicate: str = "{}", ptype: str = PTYPE) -> str:
    """A statement written by hand, so a forgery can put in it what a serialiser never would."""
    return f'{{"_type":"{STATEMENT_V1}","subject":{subject},"predicateType":"{ptype}","predicate":{predicate}}}'


def subject(sha256: str, name: str = "firmware.img") -> str:
    return f'[{{"name":"{name}","digest":{{"sha256":"{sha256}"}}}}]'


def raw_object(*pairs: tuple[str, str]) -> str:
    """A JSON object written pair by pair (key text, value as JSON), duplicates and all."""
    return "{" + ",".join(f'"{key}":{value}' for key, value in pairs) + "}"


TYPE = ("_type", f'"{STATEMENT_V1}"')
SUBJECT = ("subject", subject("{sha}"))
PTYPE_PAIR = ("predicateType", f'"{PTYPE}"')
PREDICATE = ("predicate", "{}")


def last_wins(text: str | bytes) -> Any:
    return json.loads(text)


def first_wins(text: str | bytes) -> Any:
    def keep_first(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            out.setdefault(key, value)
        return out

    return json.loads(text, object_pairs_hook=keep_first)


def case_folding(text: str | bytes) -> Any:
    """How Go's encoding/json fills a struct: a key matches a field whatever its case (Unicode folding)."""
    fields = ("_type", "subject", "predicateType", "predicate", "name", "digest", "payload", "payloadType",
              "signatures", "sig", "keyid")

    def fold(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            field = next((f for f in fields if f.casefold() == key.casefold()), key)
            out[field] = value
        return out

    return json.loads(text, object_pairs_hook=fold)


def refused(result: Run, *words: str) -> None:
    assert_clean_error(result, 2)
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def passes(result: Run) -> dict[str, Any]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


# --- the honest twin ----------------------------------------------------------------------------------------


def test_the_honest_statement_verifies_and_the_planted_image_does_not(vendor: Vendor) -> None:
    bundle = vendor.signed("honest.jsonl", statement(subject(vendor.sha256)).encode())
    passes(vendor.verify(bundle))
    result = vendor.verify(bundle, artifact=vendor.evil)
    assert result.returncode == 1, result.stdout


# --- duplicate keys in the signed statement -----------------------------------------------------------------

# Each: (what, forged payload text, the reader that sees the planted image, the reader that sees the honest one).
HONEST = "{honest}"
PLANTED = "{evil}"
STATEMENT_FORGERIES: list[tuple[str, str, Callable[[str], Any], Callable[[str], Any]]] = [
    (
        "subject twice",
        f'{{"_type":"{STATEMENT_V1}","subject":{subject(PLANTED)},"predicateType":"{PTYPE}","predicate":{{}},'
        f'"subject":{subject(HONEST)}}}',
        first_wins,
        last_wins,
    ),
    (
        "subject twice, the second spelled with an escape",
        f'{{"_type":"{STATEMENT_V1}","subject":{subject(PLANTED)},"predicateType":"{PTYPE}","predicate":{{}},'
        f'"subj\\u0065ct":{subject(HONEST)}}}',
        first_wins,
        last_wins,
    ),
    (
        "digest name twice in one subject",
        statement(f'[{{"name":"firmware.img","digest":{{"sha256":"{PLANTED}","sha256":"{HONEST}"}}}}]'),
        first_wins,
        last_wins,
    ),
    (
        "subject and Subject (Go folds case)",
        f'{{"_type":"{STATEMENT_V1}","subject":{subject(HONEST)},"predicateType":"{PTYPE}","predicate":{{}},'
        f'"Subject":{subject(PLANTED)}}}',
        case_folding,
        last_wins,
    ),
    (
        "subject and the same word with a long s (U+017F, folded by Go)",
        f'{{"_type":"{STATEMENT_V1}","subject":{subject(HONEST)},"predicateType":"{PTYPE}","predicate":{{}},'
        f'"\\u017fubject":{subject(PLANTED)}}}',
        case_folding,
        last_wins,
    ),
]


@pytest.mark.parametrize(("what", "template", "evil_reader", "honest_reader"), STATEMENT_FORGERIES,
                         ids=[f[0] for f in STATEMENT_FORGERIES])
def test_a_statement_two_readers_read_differently_is_bad_input(
    vendor: Vendor, what: str, template: str, evil_reader: Callable[[str], Any], honest_reader: Callable[[str], Any]
) -> None:
    forged = template.replace(HONEST, vendor.sha256).replace(PLANTED, vendor.evil_sha256)

    def digests(obj: Any) -> set[str]:
        return {str(s["digest"]["sha256"]) for s in obj["subject"]}

    # The attack is real: one reader's statement covers the planted image, the other's the honest one.
    assert vendor.evil_sha256 in digests(evil_reader(forged))
    assert vendor.evil_sha256 not in digests(honest_reader(forged))
    bundle = vendor.signed("forged.jsonl", forged.encode())
    refused(vendor.verify(bundle), "ambiguous JSON")
    refused(vendor.verify(bundle, artifact=vendor.evil), "ambiguous JSON")


@pytest.mark.parametrize(
    ("what", "forged", "words"),
    [
        ("_type twice", raw_object(("_type", '"https://example.com/not-a-statement"'), TYPE, SUBJECT, PTYPE_PAIR,
                                   PREDICATE), ("'_type' appears twice",)),
        ("_type twice via an escape", raw_object(TYPE, ("_typ\\u0065", f'"{STATEMENT_V1}"'), SUBJECT, PTYPE_PAIR,
                                                 PREDICATE), ("'_type' appears twice",)),
        ("predicateType twice", raw_object(TYPE, SUBJECT, ("predicateType", f'"{SLSA_V1}"'), PTYPE_PAIR, PREDICATE),
         ("'predicateType' appears twice",)),
        ("predicateType and PredicateType", raw_object(TYPE, SUBJECT, ("predicateType", f'"{SLSA_V1}"'),
                                                       ("PredicateType", f'"{PTYPE}"'), PREDICATE),
         ("differ only in case",)),
        ("a key twice deep in the predicate", statement(subject("{sha}"), '{"a":{"b":[{"c":1,"c":2}]}}'),
         ("'c' appears twice",)),
        ("NaN in the predicate", statement(subject("{sha}"), '{"size":NaN}'), ("NaN",)),
        ("Infinity in the predicate", statement(subject("{sha}"), '{"size":-Infinity}'), ("Infinity",)),
        ("an integer past 2^53", statement(subject("{sha}"), '{"size":9007199254740993}'), ("2^53",)),
        ("a number past a double", statement(subject("{sha}"), '{"size":1e999}'), ("double",)),
        ("a lone surrogate in the subject name", statement(subject("{sha}", name="fw\\ud800.img")), ("surrogate",)),
        ("a NUL in a key", statement(subject("{sha}"), '{"builder\\u0000":"x","builder":"y"}'), ("NUL",)),
        ("trailing garbage", statement(subject("{sha}")) + " garbage", ("Extra data",)),
        ("a second statement after the first", statement(subject("{sha}")) + statement(subject(EVIL)),
         ("Extra data",)),
        ("a list, not an object", "[" + statement(subject("{sha}")) + "]", ("not a JSON object",)),
    ],
)
def test_a_signed_payload_parsers_disagree_on_is_bad_input(
    vendor: Vendor, what: str, forged: str, words: tuple[str, ...]
) -> None:
    bundle = vendor.signed("forged.jsonl", forged.replace("{sha}", vendor.sha256).encode())
    refused(vendor.verify(bundle), *words)


@pytest.mark.parametrize(
    ("what", "encode"),
    [
        ("UTF-8 with a byte-order mark", lambda text: b"\xef\xbb\xbf" + text.encode()),
        ("UTF-16 (which json.loads would guess)", lambda text: text.encode("utf-16")),
        ("Latin-1 bytes in a string", lambda text: text.replace("firmware.img", "firmw\xe4re.img").encode("latin-1")),
    ],
)
def test_a_payload_that_is_not_plain_utf8_is_bad_input(
    vendor: Vendor, what: str, encode: Callable[[str], bytes]
) -> None:
    payload = encode(statement(subject(vendor.sha256)))
    refused(vendor.verify(vendor.signed("encoded.jsonl", payload)), "the signed payload")


# --- the envelope and the file around it ----------------------------------------------------------------------


def test_an_envelope_with_two_payloads_is_bad_input(vendor: Vendor) -> None:
    """The signature covers the honest payload; a first-wins reader takes the planted one beside it."""
    honest = vendor.envelope(statement(subject(vendor.sha256)).encode())
    planted = base64.b64encode(statement(subject(vendor.evil_sha256)).encode()).decode()
    text = (f'{{"payload":"{planted}","payloadType":"{INTOTO_PAYLOAD_TYPE}",'
            f'"signatures":{json.dumps(honest["signatures"])},"payload":"{honest["payload"]}"}}')
    assert first_wins(text)["payload"] == planted and last_wins(text)["payload"] == honest["payload"]
    refused(vendor.verify(vendor.write("two-payloads.json", text)), "'payload' appears twice")
    twin = vendor.write("one-payload.json", json.dumps(honest))
    passes(vendor.verify(twin))


@pytest.mark.parametrize(
    ("what", "rewrite", "words"),
    [
        ("payloadType twice", lambda t: t.replace('"payloadType":', '"payloadType":"text/plain","payloadType":', 1),
         ("'payloadType' appears twice",)),
        ("payloadType and PayloadType",
         lambda t: t.replace('"payloadType":', '"PayloadType":"text/plain","payloadType":', 1),
         ("differ only in case",)),
        ("signatures twice", lambda t: t.replace('"signatures":', '"signatures":[],"signatures":', 1),
         ("'signatures' appears twice",)),
        ("sig twice in a signature", lambda t: t.replace('"sig":', '"sig":"AAAA","sig":', 1), ("'sig' appears twice",)),
        ("keyid twice in a signature", lambda t: t.replace('"keyid":', '"keyid":"other","keyid":', 1),
         ("'keyid' appears twice",)),
        ("a byte-order mark before the file", lambda t: "\ufeff" + t, ("byte-order mark",)),
        ("an envelope that is also a Sigstore bundle", lambda t: t.replace(
            "{", '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},', 1),
         ("at once a Sigstore bundle and a DSSE envelope",)),
        ("an envelope that is also an in-toto metablock", lambda t: t.replace("{", '{"signed":{},', 1),
         ("at once a DSSE envelope and an in-toto metablock",)),
    ],
)
def test_an_envelope_file_read_two_ways_is_bad_input(
    vendor: Vendor, what: str, rewrite: Callable[[str], str], words: tuple[str, ...]
) -> None:
    text = json.dumps(vendor.envelope(statement(subject(vendor.sha256)).encode()))
    passes(vendor.verify(vendor.write("twin.json", text)))
    refused(vendor.verify(vendor.write("forged.json", rewrite(text))), *words)


def test_a_duplicate_key_on_a_later_json_line_is_bad_input_and_named_by_line(vendor: Vendor) -> None:
    good = json.dumps(vendor.envelope(statement(subject(vendor.sha256)).encode()))
    forged = good.replace('"payloadType":', '"payloadType":"text/plain","payloadType":', 1)
    bundle = vendor.write("release.intoto.jsonl", f"{good}\n\n{forged}\n")
    refused(vendor.verify(bundle), "release.intoto.jsonl:3", "'payloadType' appears twice")
    passes(vendor.verify(vendor.write("twin.intoto.jsonl", f"{good}\r\n{good}\r\n")))


def test_json_lines_split_on_a_bare_carriage_return_are_bad_input(vendor: Vendor) -> None:
    """A reader splitting on LF sees one broken line; one splitting on any newline sees two documents."""
    good = json.dumps(vendor.envelope(statement(subject(vendor.sha256)).encode()))
    refused(vendor.verify(vendor.write("cr.intoto.jsonl", f"{good}\r{good}\n{good}\n")), "cr.intoto.jsonl:1")


STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def mixed_alphabets(encoded: str) -> str:
    """One '+' or '/' in its URL-safe spelling, another left standard: a decoder that maps both reads the bytes."""
    index = next(i for i, c in enumerate(encoded) if c in "+/")
    return encoded[:index] + {"+": "-", "/": "_"}[encoded[index]] + encoded[index + 1 :]


def trailing_bits_set(encoded: str) -> str:
    """The last character before '==' keeps 4 unused bits: set one, and lenient decoders read the same bytes."""
    body = encoded.rstrip("=")
    last = STANDARD[STANDARD.index(body[-1]) | 1]
    return body[:-1] + last + encoded[len(body) :]


@pytest.mark.parametrize(
    ("what", "rewrite"),
    [
        # Python's non-validating decoder drops what it does not know; others stop there or refuse.
        ("a character outside the alphabet", lambda b: b[:8] + "!" + b[8:]),
        ("whitespace inside", lambda b: b[:8] + "\n" + b[8:]),
        ("standard and URL-safe alphabets mixed", mixed_alphabets),
        ("unused trailing bits set", trailing_bits_set),
        ("too much padding", lambda b: b + "="),
    ],
)
def test_base64_decoders_disagree_on_is_bad_input(vendor: Vendor, what: str, rewrite: Callable[[str], str]) -> None:
    # A payload whose standard base64 ends in '==' and holds at least two of '+' and '/', so every rewrite applies.
    for filler in range(1, 300):
        payload = statement(subject(vendor.sha256), json.dumps({"note": "?" * filler + ">>"})).encode()
        encoded = base64.b64encode(payload).decode()
        if encoded.endswith("==") and sum(encoded.count(c) for c in "+/") >= 2:
            break
    else:
        raise AssertionError("no payload with the wanted base64 shape")
    envelope = vendor.envelope(payload)
    assert envelope["payload"] == encoded
    passes(vendor.verify(vendor.write("twin.json", json.dumps(envelope))))
    # The same bytes URL-safe and unpadded are one reading too: DSSE allows both.
    urlsafe = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    passes(vendor.verify(vendor.write("urlsafe.json", json.dumps(envelope | {"payload": urlsafe}))))
    forged = rewrite(encoded)
    assert forged != encoded
    # What a lenient decoder (Python's, without validate) makes of it: the signed bytes, so the signature holds.
    if what != "too much padding":
        assert base64.b64decode(forged.replace("-", "+").replace("_", "/")) == payload
    refused(vendor.verify(vendor.write("forged.json", json.dumps(envelope | {"payload": forged}))), "base64")


def test_a_payload_signed_under_another_payload_type_is_not_a_statement(vendor: Vendor) -> None:
    bundle = vendor.signed("typed.jsonl", statement(subject(vendor.sha256)).encode(), payload_type="application/json")
    refused(vendor.verify(bundle), "payloadType")


def test_a_sigstore_bundle_with_a_duplicate_key_is_bad_input(vendor: Vendor, vectors: Path, tmp_path: Path) -> None:
    """The bcr provenance bundle verifies offline; with a second payloadType in its envelope it is refused unread."""
    bcr = vectors / "slsa-verifier/cli/slsa-verifier/testdata/bcr"
    text = (bcr / "MODULE.bazel.intoto.jsonl").read_text()
    identity = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1"
    args = ["--identity", identity, "--issuer", "https://token.actions.githubusercontent.com"]
    honest = tmp_path / "honest.sigstore.json"
    honest.write_text(text)
    result = run_cli(["attest", "verify", bcr / "MODULE.bazel", "--bundle", honest, *args])
    assert result.returncode == 0, result.stdout + result.stderr
    for name, forged in (
        ("payload-type", text.replace('"payloadType":', '"payloadType":"text/plain","payloadType":', 1)),
        ("media-type", text.replace('"mediaType":', '"MediaType":"x","mediaType":', 1)),
    ):
        assert forged != text
        path = tmp_path / f"{name}.sigstore.json"
        path.write_text(forged)
        refused(run_cli(["attest", "verify", bcr / "MODULE.bazel", "--bundle", path, *args]), "ambiguous JSON")


def test_a_sigstore_dsse_payload_of_another_type_is_not_vouched_for(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MOCK, in process: a bundle whose DSSE payloadType is not in-toto cannot be made here (Rekor would have to
    log it), so sigstore-python's verification is replaced by a fact saying the bundle verified. The judge must
    still refuse to read a payload signed as another type as a statement; the in-toto twin is vouched for."""
    import dataclasses

    from attestations import sigstore as sb
    from attestations.documents import SigstoreBundleDocument
    from attestations.errors import UnsupportedError
    from verifier.checks import attestations as judge

    fact = sb.VerifiedBundle(
        source="mock.json", bundle_version="v0.3", kind="dsse", payload=statement(subject(vendor.sha256)).encode(),
        payload_type="application/json", artifact_sha256=None, signer=None, certificate_sha256=None,
        public_key_id="mock", identity_checked=True, log_entry_kind="dsse", log_entry_version="0.0.1", log_index=0,
        integrated_time=None, timestamp_count=0, trust_root="mock", verified_by="mock",
    )
    monkeypatch.setattr(sb, "load_trust_root", lambda choice: None)
    document = SigstoreBundleDocument(raw=b'{"verificationMaterial":{"publicKey":{}}}', source="mock.json",
                                      media_type="application/vnd.dev.sigstore.bundle.v0.3+json")
    artifact = judge.Artifact(vendor.firmware, {"sha256": vendor.sha256})
    monkeypatch.setattr(sb, "verify_bundle_bytes", lambda raw, **_: fact)
    with pytest.raises(UnsupportedError, match="payloadType"):
        judge.verify_sigstore_bundles([document], [artifact], judge.SigstoreOptions(), [])
    twin = dataclasses.replace(fact, payload_type=INTOTO_PAYLOAD_TYPE)
    monkeypatch.setattr(sb, "verify_bundle_bytes", lambda raw, **_: twin)
    _, vouched, _ = judge.verify_sigstore_bundles([document], [artifact], judge.SigstoreOptions(), [])
    assert [v.statement.subjects[0].digests["sha256"] for v in vouched] == [vendor.sha256]


def test_a_predicate_with_a_key_twice_is_not_signed(vendor: Vendor) -> None:
    """``attest sign`` would otherwise sign whichever of the two values Python's parser kept."""
    predicate = vendor.write("dup-predicate.json", '{"builder":"https://evil.example","builder":"https://ci.example"}')
    result = run_cli(["attest", "sign", vendor.firmware, "--key", vendor.key, "--predicate-type", PTYPE,
                      "--predicate", predicate, "-o", vendor.root / "never.jsonl"])
    refused(result, "'builder' appears twice")
    assert not (vendor.root / "never.jsonl").exists()
    twin = vendor.write("one-predicate.json", '{"builder":"https://ci.example"}')
    result = run_cli(["attest", "sign", vendor.firmware, "--key", vendor.key, "--predicate-type", PTYPE,
                      "--predicate", twin, "-o", vendor.root / "signed.jsonl"])
    assert result.returncode == 0, result.stderr


def test_a_builder_provenance_with_a_key_twice_is_not_released(vendor: Vendor, tmp_path: Path) -> None:
    """``release sign --provenance`` re-signs the builder's provenance: it must be the one its tools read."""
    honest = json.dumps(github_provenance())
    forged = honest.replace('"externalParameters": {', '"externalParameters": {"workflow": {"repository": '
                            f'"{MALLORY}", "ref": "refs/tags/v1.2.0"}}, ', 1)
    assert forged != honest
    assert first_wins(forged) != last_wins(forged)
    for name, text, code in (("forged", forged, 2), ("honest", honest, 0)):
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        result = run_cli(["release", "sign", "--firmware", vendor.firmware, "--provenance", path, "--key",
                          vendor.key, "-o", tmp_path / f"release-{name}"])
        if code:
            refused(result, "'workflow' appears twice")
        else:
            assert result.returncode == 0, result.stderr


# --- digest names and values ----------------------------------------------------------------------------------


def fill(template: str, vendor: Vendor) -> str:
    values = {"{sha}": vendor.sha256, "{upper}": vendor.sha256.upper(), "{evil}": vendor.evil_sha256,
              "{short}": vendor.sha256[:-2], "{nothex}": "zz" + vendor.sha256[2:]}
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template


@pytest.mark.parametrize(
    ("what", "digest"),
    [
        ("upper-case name and hex", '{"SHA256":"{upper}"}'),
        ("SHA-256 spelling", '{"SHA-256":"{sha}"}'),
        ("both spellings, same value", '{"sha256":"{sha}","sha-256":"{upper}"}'),
        ("an unknown algorithm beside it", '{"sha256":"{sha}","dirHash":"anything at all"}'),
    ],
)
def test_digest_spellings_that_mean_one_thing_verify(vendor: Vendor, what: str, digest: str) -> None:
    text = fill(statement(f'[{{"name":"firmware.img","digest":{digest}}}]'), vendor)
    report = passes(vendor.verify(vendor.signed("spelled.jsonl", text.encode())))
    assert {f["check"] for f in report["findings"] if f["status"] == "pass"} >= {"attest.signature", "attest.subject"}


@pytest.mark.parametrize(
    ("what", "digest", "words"),
    [
        ("one algorithm in two spellings with two values", '{"sha256":"{sha}","SHA-256":"{evil}"}',
         ("sha256 digest twice",)),
        ("sha_256 beside sha256", '{"sha_256":"{evil}","sha256":"{sha}"}', ("sha256 digest twice",)),
        ("a name with a space", '{" sha256":"{evil}","sha256":"{sha}"}', ("malformed",)),
        ("a name with a trailing tab", '{"sha256\\t":"{evil}","sha256":"{sha}"}', ("malformed",)),
        ("a non-ASCII name", '{"sha\uff12\uff15\uff16":"{evil}","sha256":"{sha}"}', ("malformed",)),
        ("a short value", '{"sha256":"{short}"}', ("malformed sha256 digest",)),
        ("a value that is not hex", '{"sha256":"{nothex}"}', ("malformed sha256 digest",)),
        ("a value with whitespace", '{"sha256":" {sha}"}', ("malformed sha256 digest",)),
        ("a sha512 of sha256 length", '{"sha512":"{sha}"}', ("malformed sha512 digest",)),
        ("a gitCommit that is not hex", '{"sha256":"{sha}","gitCommit":"main"}', ("malformed gitCommit",)),
    ],
)
def test_digest_sets_that_mean_two_things_are_bad_input(
    vendor: Vendor, what: str, digest: str, words: tuple[str, ...]
) -> None:
    text = fill(statement(f'[{{"name":"firmware.img","digest":{digest}}}]'), vendor)
    refused(vendor.verify(vendor.signed("digests.jsonl", text.encode())), *words)


def test_one_subject_name_with_two_digests_is_bad_input(vendor: Vendor) -> None:
    two = f"[{subject(vendor.sha256)[1:-1]},{subject(vendor.evil_sha256)[1:-1]}]"
    refused(vendor.verify(vendor.signed("names.jsonl", statement(two).encode())), "twice, with different digests")
    # Two names for two images is an ordinary multi-subject statement.
    named = f"[{subject(vendor.sha256)[1:-1]},{subject(vendor.evil_sha256, name='evil.img')[1:-1]}]"
    passes(vendor.verify(vendor.signed("named.jsonl", statement(named).encode())))


# --- --source-uri: the provenance's own source, nothing else ------------------------------------------------------

ACME = "https://github.com/acme/fw"
MALLORY = "https://github.com/mallory/fw"


def github_provenance(repository: str = ACME, ref: str | None = "refs/tags/v1.2.0", **extra: Any) -> dict[str, Any]:
    """SLSA v1 provenance in the shape GitHub's attest-build-provenance writes (see the bcr vector)."""
    workflow: dict[str, Any] = {"repository": repository, "path": ".github/workflows/release.yml"}
    if ref is not None:
        workflow["ref"] = ref
    predicate: dict[str, Any] = {
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": workflow},
            "internalParameters": {"github": {"event_name": "push"}},
            "resolvedDependencies": [{"uri": f"git+{repository}@{ref}", "digest": {"gitCommit": "a" * 40}}],
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
    }
    for path, value in extra.items():
        node = predicate
        *parents, leaf = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return predicate


class Provenances:
    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor
        self.count = 0

    def sign(self, predicate: dict[str, Any], ptype: str = SLSA_V1) -> Path:
        """Signed with ``attest sign``: the predicate is honest JSON; what is at stake is what it says."""
        self.count += 1
        predicate_file = self.vendor.write(f"p{self.count}.json", json.dumps(predicate))
        out = self.vendor.root / f"p{self.count}.intoto.jsonl"
        result = run_cli(["attest", "sign", self.vendor.firmware, "--key", self.vendor.key,
                          "--predicate-type", ptype, "--predicate", predicate_file, "-o", out])
        assert result.returncode == 0, result.stderr
        return out

    def source(self, predicate: dict[str, Any], wanted: str, ptype: str = SLSA_V1) -> tuple[int, dict[str, Any]]:
        result = self.vendor.verify(self.sign(predicate, ptype), "--source-uri", wanted)
        report = json.loads(result.stdout)
        [finding] = [f for f in report["findings"] if f["check"] == "attest.source"]
        assert {0: "pass", 1: "fail"}[result.returncode] == finding["status"], result.stdout
        return result.returncode, finding


@pytest.fixture(scope="module")
def provenances(vendor: Vendor) -> Provenances:
    return Provenances(vendor)


@pytest.mark.parametrize(
    ("what", "predicate"),
    [
        ("only in resolvedDependencies", github_provenance(
            MALLORY, buildDefinition__resolvedDependencies=[
                {"uri": f"git+{MALLORY}@refs/tags/v1.2.0", "digest": {"gitCommit": "b" * 40}},
                {"uri": f"git+{ACME}@refs/tags/v1.2.0", "digest": {"gitCommit": "a" * 40}},
            ])),
        ("only in internalParameters", github_provenance(
            MALLORY, buildDefinition__internalParameters={"GITHUB_REPOSITORY": "acme/fw",
                                                          "GITHUB_REF": "refs/tags/v1.2.0"})),
        ("only in a byproduct", github_provenance(
            MALLORY, runDetails__byproducts=[{"uri": f"git+{ACME}@refs/tags/v1.2.0", "name": "source"}])),
        ("only in workflow inputs", github_provenance(
            MALLORY, buildDefinition__externalParameters__inputs={"repository": ACME, "source": f"git+{ACME}"})),
        ("only as the workflow path", github_provenance(
            MALLORY, buildDefinition__externalParameters__workflow={
                "repository": MALLORY, "ref": "refs/tags/v1.2.0", "path": "github.com/acme/fw"})),
        ("named as a second source beside the attacker's", github_provenance(
            ACME, buildDefinition__externalParameters__source={"uri": f"git+{MALLORY}@refs/tags/v1.2.0"})),
    ],
)
def test_the_vendor_repository_outside_the_source_fields_does_not_satisfy_source_uri(
    provenances: Provenances, what: str, predicate: dict[str, Any]
) -> None:
    code, finding = provenances.source(predicate, "github.com/acme/fw")
    assert code == 1, finding


def test_the_vendor_repository_in_the_workflow_satisfies_source_uri(provenances: Provenances) -> None:
    code, finding = provenances.source(github_provenance(), "git+https://github.com/acme/fw@refs/tags/v1.2.0")
    assert code == 0, finding
    assert "externalParameters.workflow" in finding["message"]


@pytest.mark.parametrize(
    ("repository", "wanted", "code"),
    [
        (ACME, "github.com/acme/fw", 0),
        ("https://GitHub.com/ACME/FW.git", "git+https://github.com/acme/fw", 0),
        (ACME + "/", "https://github.com/acme/fw.git", 0),
        ("git+https://github.com/acme/fw", "github.com/acme/fw", 0),
        ("https://github.com/acme/fw-evil", "github.com/acme/fw", 1),
        ("https://github.com/acme/fwx", "github.com/acme/fw", 1),
        ("https://github.com/acme/fw/sub", "github.com/acme/fw", 1),
        ("https://github.com/acme", "github.com/acme/fw", 1),
        ("https://github.com/acme/fw", "github.com/acme/fw-evil", 1),
        ("https://github.com.evil.example/acme/fw", "github.com/acme/fw", 1),
        ("https://evil.example/github.com/acme/fw", "github.com/acme/fw", 1),
        ("https://acme@github.com/acme/fw", "github.com/acme/fw", 1),
        ("https://github.com/acme/%66w", "github.com/acme/fw", 1),
        ("https://github.com/acme/x/../fw", "github.com/acme/fw", 1),
        ("https://github.com/acme/fw?ref=main", "github.com/acme/fw", 1),
        ("https://github.com/acme/\u212aw", "github.com/acme/kw", 1),  # KELVIN SIGN lower-cases to k
        ("https://git.example.com/Acme/fw", "git.example.com/acme/fw", 1),  # case is significant off GitHub
        ("https://git.example.com/acme/fw", "GIT.example.com/acme/fw", 0),  # but never in a host
    ],
)
def test_source_repository_must_match_exactly_up_to_spelling(
    provenances: Provenances, repository: str, wanted: str, code: int
) -> None:
    got, finding = provenances.source(github_provenance(repository, ref=None), wanted)
    assert got == code, finding


@pytest.mark.parametrize(
    ("ref", "wanted_ref", "code"),
    [
        ("refs/tags/v1.2.0", "refs/tags/v1.2.0", 0),
        ("refs/tags/v1.2.0", "", 0),
        ("refs/heads/v1.2.0", "refs/tags/v1.2.0", 1),  # a branch carrying the tag's name
        ("refs/tags/v1.2.0", "v1.2.0", 1),
        ("v1.2.0", "refs/tags/v1.2.0", 1),
        ("refs/tags/v1.2.0-rc1", "refs/tags/v1.2.0", 1),
        ("refs/tags/v1.2", "refs/tags/v1.2.0", 1),
        (None, "refs/tags/v1.2.0", 1),
    ],
)
def test_source_ref_must_match_exactly_when_given(
    provenances: Provenances, ref: str | None, wanted_ref: str, code: int
) -> None:
    wanted = "github.com/acme/fw" + (f"@{wanted_ref}" if wanted_ref else "")
    got, finding = provenances.source(github_provenance(ref=ref), wanted)
    assert got == code, finding
    if ref == "refs/tags/v1.2.0" and wanted_ref == "v1.2.0":
        assert "refs are compared exactly" in finding["message"]


def test_a_ref_smuggled_into_the_repository_field_matches_nothing(provenances: Provenances) -> None:
    predicate = github_provenance(ACME + "@refs/tags/v1.2.0", ref=None)
    assert provenances.source(predicate, "github.com/acme/fw@refs/tags/v1.2.0")[0] == 1
    assert provenances.source(predicate, "github.com/acme/fw")[0] == 1


def test_slsa_v02_config_source_satisfies_and_materials_do_not(provenances: Provenances) -> None:
    def v02(config: str, materials: list[str]) -> dict[str, Any]:
        return {
            "builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/generic@v1"},
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
            "invocation": {"configSource": {"uri": config, "digest": {"sha1": "c" * 40},
                                            "entryPoint": ".github/workflows/release.yml"}},
            "materials": [{"uri": m, "digest": {"sha1": "d" * 40}} for m in materials],
        }

    wanted = "github.com/acme/fw@refs/tags/v1.2.0"
    assert provenances.source(v02(f"git+{ACME}@refs/tags/v1.2.0", []), wanted, SLSA_V02)[0] == 0
    code, finding = provenances.source(v02(f"git+{MALLORY}@refs/tags/v1.2.0", [f"git+{ACME}@refs/tags/v1.2.0"]),
                                       wanted, SLSA_V02)
    assert code == 1 and "mallory" in finding["message"]


def test_a_provenance_naming_no_source_fails_and_says_what_it_lists(provenances: Provenances) -> None:
    """slsa-github-generator's delegator (BYOB) names its source only in resolvedDependencies: not enough here."""
    predicate = github_provenance(buildDefinition__externalParameters={"inputs": {}, "vars": {}})
    code, finding = provenances.source(predicate, "github.com/acme/fw")
    assert code == 1
    assert "names no source" in finding["message"] and "github.com/acme/fw" in finding["message"]


@pytest.mark.parametrize("wanted", ["", "acme/fw", "https://", "https://github.com/acme/fw@", "github.com/a b/c",
                                    "ftp://github.com/acme/fw", "github.com/acme/../fw"])
def test_a_source_uri_that_names_no_repository_is_a_usage_error(provenances: Provenances, wanted: str) -> None:
    bundle = provenances.sign(github_provenance())
    result = run_cli(["attest", "verify", provenances.vendor.firmware, "--bundle", bundle,
                      "--key", provenances.vendor.pub, "--source-uri", wanted])
    refused(result, "source URI")


def test_the_real_github_provenance_vector(vectors: Path) -> None:
    """GitHub's attest-build-provenance for aspect-build/rules_lint (the bcr vector), with its exact ref."""
    bcr = vectors / "slsa-verifier/cli/slsa-verifier/testdata/bcr"
    identity = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1"
    base = ["attest", "verify", bcr / "MODULE.bazel", "--bundle", bcr / "MODULE.bazel.intoto.jsonl", "--identity",
            identity, "--issuer", "https://token.actions.githubusercontent.com", "--format", "json", "--source-uri"]
    for wanted, code in (
        ("git+https://github.com/aspect-build/rules_lint@refs/heads/publish-to-bcr", 0),
        ("https://github.com/Aspect-Build/rules_lint.git", 0),
        ("github.com/aspect-build/rules_lint@publish-to-bcr", 1),
        ("github.com/aspect-build/rules_lint@refs/tags/publish-to-bcr", 1),
        ("github.com/aspect-build/rules", 1),
        ("github.com/aspect-build/rules_lint-evil", 1),
        ("github.com/bazel-contrib/publish-to-bcr", 1),  # the builder's repository, not the source
    ):
        result = run_cli([*base, wanted])
        assert result.returncode == code, (wanted, result.stdout, result.stderr)


# --- the same through intake, with the policy's source_uri ----------------------------------------------------------


@pytest.mark.parametrize(("repository", "code"), [(ACME, 0), (MALLORY, 1)])
def test_intake_policy_source_uri(vendor: Vendor, tmp_path: Path, repository: str, code: int) -> None:
    """A vendor release whose provenance was built from the attacker's repository, vendoring the vendor's."""
    provenance = github_provenance(
        repository,
        buildDefinition__resolvedDependencies=[
            {"uri": f"git+{repository}@refs/tags/v1.2.0", "digest": {"gitCommit": "b" * 40}},
            {"uri": f"git+{ACME}@refs/tags/v1.2.0", "digest": {"gitCommit": "a" * 40}},
        ],
    )
    (tmp_path / "provenance.json").write_text(json.dumps(provenance))
    release = tmp_path / "release"
    signed = run_cli(["release", "sign", "--firmware", vendor.firmware, "--provenance", tmp_path / "provenance.json",
                      "--key", vendor.key, "-o", release])
    assert signed.returncode == 0, signed.stderr
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'version = 1\n[signers]\nkeys = ["{vendor.pub}"]\n'
        f'[attestations]\nrequired = ["{SLSA_V1}"]\n'
        f'source_uri = "git+{ACME}@refs/tags/v1.2.0"\n'
    )
    result = run_cli(["intake", "--release", release, "--policy", policy, "--firmware", vendor.firmware,
                      "--no-history", "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    sources = [f for f in report["findings"] if f["check"] == "attest.source"]
    assert [f["status"] for f in sources] == [{0: "pass", 1: "fail"}[code]], report["findings"]
    assert result.returncode == code, [f for f in report["findings"] if f["status"] != "pass"]
