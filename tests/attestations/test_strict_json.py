"""The strict reader (attestations.strict_json) and source locations (attestations.slsa.parse_source), in process.

The CLI tests in tests/regressions/test_attestation_ambiguity.py show each refusal end to end; these pin the
readers' edges: what passes unchanged, what is refused, and that refusing stays cheap on hostile sizes.
"""

from __future__ import annotations

import json

import pytest

from attestations import strict_json
from attestations.errors import InputError
from attestations.slsa import SourceLocation, parse_source
from attestations.statement import digest_algorithm, normalise_digests


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [1, 2.5, -0, true, false, null], "c": {"d": "\\u00e9\\ud83d\\ude00"}}',
        '{"k": 9007199254740991, "m": -9007199254740991, "f": 1e308, "tiny": 1e-400}',
        '  {"x": "\\u0000 in a value is one reading"}\r\n',
        '{"_type": 1, "type": 2, "Type2": 3}',
    ],
)
def test_plain_json_reads_as_json_does(text: str) -> None:
    assert strict_json.loads(text.encode(), "doc") == json.loads(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"a": 1, "a": 1}', "'a' appears twice"),
        ('{"a": 1, "\\u0061": 2}', "'a' appears twice"),
        ('[{"x": {"y": [{"z": 1, "z": 2}]}}]', "'z' appears twice"),
        ('{"Digest": 1, "digest": 2}', "differ only in case"),
        ('{"\\u212a": 1, "k": 2}', "differ only in case"),  # KELVIN SIGN folds to k
        ('{"ß": 1, "ss": 2}', "differ only in case"),  # full case folding: stricter than Go's simple folding
        ('{"a\\u0000": 1}', "NUL"),
        ('["\\udc00"]', "lone surrogate"),
        ('{"\\ud800x": 1}', "lone surrogate"),
        ("[NaN]", "NaN"),
        ("[Infinity]", "Infinity"),
        ("[9007199254740992]", r"2\^53"),
        ("[-9007199254740992]", r"2\^53"),
        ("[1" + "0" * 5000 + "]", r"2\^53"),
        ("[1e309]", "double"),
    ],
)
def test_json_parsers_read_differently_is_ambiguous(text: str, words: str) -> None:
    with pytest.raises(strict_json.AmbiguousJsonError, match=words):
        strict_json.loads(text.encode(), "doc")


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"\xef\xbb\xbf{}", strict_json.AmbiguousJsonError, "byte-order mark"),
        ('{"a": "é"}'.encode("utf-16"), strict_json.AmbiguousJsonError, "not UTF-8"),
        ('{"a": "é"}'.encode("utf-32"), strict_json.AmbiguousJsonError, "not UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', strict_json.AmbiguousJsonError, "not UTF-8"),  # a surrogate encoded in UTF-8
        (b'{"a": "\xc0\xaf"}', strict_json.AmbiguousJsonError, "not UTF-8"),  # an overlong encoding
        (b"{} {}", strict_json.JsonSyntaxError, "Extra data"),
        (b"{}\x00", strict_json.JsonSyntaxError, "Extra data"),
        (b'{"a": "tab\there"}', strict_json.JsonSyntaxError, "Invalid control character"),
        (b"{'a': 1}", strict_json.JsonSyntaxError, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, strict_json.JsonSyntaxError, "nested too deeply"),
    ],
)
def test_bytes_that_are_not_one_json_value_are_refused(data: bytes, error: type[InputError], words: str) -> None:
    with pytest.raises(error, match=words):
        strict_json.loads(data, "doc")


def test_refusing_a_huge_object_of_one_repeated_key_stays_linear() -> None:
    text = "{" + ",".join(['"k":0'] * 200_000) + "}"
    with pytest.raises(strict_json.AmbiguousJsonError, match="'k' appears twice"):
        strict_json.loads(text, "doc")
    folded = "{" + ",".join(f'"{"k" * 8}{i}":0,"{"K" * 8}{i}":0' for i in range(50_000)) + "}"
    with pytest.raises(strict_json.AmbiguousJsonError, match="differ only in case"):
        strict_json.loads(folded, "doc")


def test_loads_object_wants_an_object() -> None:
    with pytest.raises(InputError, match="not a JSON object"):
        strict_json.loads_object(b"[]", "doc")
    assert strict_json.loads_object(b"{}", "doc") == {}


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("sha256", "sha256"), ("SHA256", "sha256"), ("SHA-256", "sha256"), ("sha_256", "sha256"), ("sha-1", "sha1"),
     ("SHA3-256", "sha3_256"), ("sha512/256", "sha512_256"), ("gitCommit", "gitcommit"), ("dirHash", "dirhash")],
)
def test_digest_algorithm_spellings(name: str, canonical: str) -> None:
    assert digest_algorithm(name) == canonical


@pytest.mark.parametrize(
    "name", ["", " sha256", "sha256 ", "sha\t256", "sha\uff12\uff15\uff16", "-sha256", "sha256\u200b"]
)
def test_malformed_digest_algorithm_names(name: str) -> None:
    with pytest.raises(InputError, match="malformed"):
        digest_algorithm(name)


def test_digest_sets() -> None:
    sha = "Ab" * 32
    assert normalise_digests({"SHA-256": sha, "sha256": sha.lower()}, "s") == {"sha256": sha.lower()}
    with pytest.raises(InputError, match="twice"):
        normalise_digests({"SHA-256": sha, "sha256": "cd" * 32}, "s")
    with pytest.raises(InputError, match="malformed sha384"):
        normalise_digests({"sha384": sha}, "s")
    with pytest.raises(InputError, match="not a string"):
        normalise_digests({"sha256": 1}, "s")
    assert normalise_digests({"gitCommit": "A" * 64}, "s") == {"gitcommit": "a" * 64}


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("github.com/acme/fw", SourceLocation("github.com", "acme/fw", "")),
        ("git+https://GitHub.com/Acme/FW.git@refs/tags/v1", SourceLocation("github.com", "acme/fw", "refs/tags/v1")),
        ("https://github.com/acme/fw/", SourceLocation("github.com", "acme/fw", "")),
        ("ssh://git@github.com/acme/fw", SourceLocation("github.com", "acme/fw", "")),
        ("https://GIT.example.com/Group/Sub/Repo", SourceLocation("git.example.com", "Group/Sub/Repo", "")),
        ("https://git.example.com:8443/a/b@main", SourceLocation("git.example.com:8443", "a/b", "main")),
    ],
)
def test_source_locations(text: str, location: SourceLocation) -> None:
    assert parse_source(text) == location


@pytest.mark.parametrize(
    "text",
    [
        "", "github.com", "github.com/acme", "acme/fw", "https://", "ftp://github.com/acme/fw",
        "https://user@github.com/acme/fw", "https://github.com//acme/fw", "https://github.com/acme/../fw",
        "https://github.com/acme/./fw", "https://github.com/acme/%66w", "https://github.com/acme/fw?x=1",
        "https://github.com/acme/fw#main", "https://github.com/acme/fw@", "https://github.com/acme/f w",
        "https://github.com/acme/fw\n", "https://github.com./acme/fw", "https://github.com/acme/\u212aw",
        "https://xn--gthub-zsa.com/acme/fw@refs/tags/\u0131", "git@github.com:acme/fw",
    ],
)
def test_texts_that_are_not_one_repository(text: str) -> None:
    assert parse_source(text) is None
