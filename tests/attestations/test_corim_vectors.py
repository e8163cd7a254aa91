"""The public CoRIM test cases (veraison/corim, all valid): shown, verified, round-tripped and checked against the CDDL.

Every case is accepted by ``corim show``; the three signed ones verify with the veraison test key at a date inside
their signer's validity (2021-12-31..2025-12-31) and report the expired signer without ``--at``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attestations.corim import decode, encode
from attestations.corim.document import load_document
from tests.attestations.corim_cases import jwk_to_pem, schema, validate_signed_parts
from tests.helpers import run_cli

CORIM = "corim/corim/testcases"
SIGNED = ("signed-good-corim", "signed-example-corim", "signed-corim-with-extensions")
CASES = sorted(
    [f"corim/corim/testcases/{n}" for n in (
        "corim-1", "corim-2", "corim-design-cd", "corim-firmware-cd", "corim-roles", "signed-corim-with-extensions",
        "signed-example-corim", "signed-good-corim", "unsigned-corim-with-extensions", "unsigned-example-corim",
        "unsigned-good-corim")]
    + [f"corim/comid/testcases/{n}" for n in (
        "comid-1", "comid-1a", "comid-2", "comid-2b", "comid-3", "comid-4", "comid-5", "comid-6", "comid-7",
        "comid-cend", "comid-cond-endorse-series", "comid-design-cd", "comid-domain-dep", "comid-domain-mem",
        "comid-firmware-cd", "comid-flags", "comid-integrity-registers", "comid-opaque-instance-id",
        "comid-raw-value", "comid-series")]
    + [f"corim/coev/testcases/{n}" for n in ("ce-coswid", "ce-evidence", "ce-identity")]
)
#: Vectors the draft-09 CDDL (through pycddl) cannot accept, and why: none of them is a fault of the vector's reader.
CDDL_EXCEPTIONS = {
    "comid-5": "pycddl requires the optional trailing 'conditions' of identity/attest-key triples",
    "comid-series": "an older draft's stateful-environment-record with a third entry (authorized-by)",
}


def _file(vectors: Path, case: str) -> Path:
    return vectors / f"{case}.cbor"


@pytest.fixture(scope="module")
def veraison_key(vectors: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return jwk_to_pem(vectors / CORIM / "src" / "ec-p256.jwk", tmp_path_factory.mktemp("corim") / "ec-p256.pem")


def test_every_case_is_listed(vectors: Path) -> None:
    on_disk = sorted(str(p.relative_to(vectors).with_suffix("")) for p in (vectors / "corim").rglob("*.cbor"))
    assert on_disk == CASES


@pytest.mark.parametrize("case", CASES)
def test_corim_show_accepts_every_case(vectors: Path, case: str) -> None:
    result = run_cli(["corim", "show", _file(vectors, case), "--format", "json"])
    assert result.returncode == 0, result.stderr
    tree = json.loads(result.stdout)
    kind = tree["kind"]
    assert kind == {"corim": "corim", "comid": "comid", "coev": "coev"}[case.split("/")[1]] or kind == "signed-corim"


def test_corim_show_text(vectors: Path) -> None:
    result = run_cli(["corim", "show", _file(vectors, f"{CORIM}/corim-firmware-cd")])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The profile OID, the environment class, the sha-384 reference digests, the svn.
    assert "2.16.840.1.113741.1.15.6" in out
    assert "vendor: fwmfginc.example" in out and "model: fwY_n5x" in out
    assert "alg: sha-384" in out
    assert "15e77d6f133252f1db7044901313884f2977d2109b33c79f33e079bfc78865255c0fb733c240fdda544b8215d7b8f815" in out
    assert "kind: exact" in out


@pytest.mark.parametrize("name", SIGNED)
def test_signed_cases_verify_inside_their_validity(vectors: Path, veraison_key: Path, name: str) -> None:
    result = run_cli(["corim", "verify", _file(vectors, f"{CORIM}/{name}"), "--key", veraison_key,
                      "--at", "2024-06-01", "--format", "json"])
    assert result.returncode == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    statuses = {f["check"]: f["status"] for f in report["findings"]}
    assert statuses == {"refval.format": "pass", "refval.signature": "pass", "refval.validity": "pass"}
    assert report["metadata"]["signer_claimed"] == "ACME Ltd signing key"


@pytest.mark.parametrize("name", SIGNED)
def test_signed_cases_report_their_expired_signer_today(vectors: Path, veraison_key: Path, name: str) -> None:
    result = run_cli(["corim", "verify", _file(vectors, f"{CORIM}/{name}"), "--key", veraison_key, "--format", "json"])
    assert result.returncode == 1, (result.stdout, result.stderr)
    findings = {f["check"]: f for f in json.loads(result.stdout)["findings"]}
    assert findings["refval.signature"]["status"] == "pass"
    assert findings["refval.validity"]["status"] == "fail"
    assert "signature_validity expired on 2025-12-31" in findings["refval.validity"]["message"]


def test_signed_case_fails_with_another_key(vectors: Path, tmp_path: Path) -> None:
    from tests.attestations.corim_cases import signer, write_public

    other = write_public(tmp_path / "other.pem", signer("ecdsa-p256"))
    result = run_cli(["corim", "verify", _file(vectors, f"{CORIM}/signed-good-corim"), "--key", other,
                      "--at", "2024-06-01", "--format", "json"])
    assert result.returncode == 1
    findings = {f["check"]: f["status"] for f in json.loads(result.stdout)["findings"]}
    assert findings["refval.signature"] == "fail"


def test_unsigned_case_fails_verification(vectors: Path, veraison_key: Path) -> None:
    result = run_cli(["corim", "verify", _file(vectors, f"{CORIM}/unsigned-good-corim"), "--key", veraison_key,
                      "--format", "json"])
    assert result.returncode == 1
    findings = {f["check"]: f for f in json.loads(result.stdout)["findings"]}
    assert "not signed" in findings["refval.signature"]["message"]


@pytest.mark.parametrize("case", CASES)
def test_every_case_round_trips_through_the_writer(vectors: Path, case: str) -> None:
    doc = load_document(_file(vectors, case).read_bytes())
    if doc.corim is not None:
        assert decode.decode_corim(encode.encode_corim(doc.corim)) == doc.corim
    if doc.comid is not None:
        assert decode.decode_comid(encode.encode_comid(doc.comid)) == doc.comid
    if doc.coev is not None:
        assert decode.decode_coev(encode.encode_coev(doc.coev)) == doc.coev


@pytest.mark.parametrize("case", [c for c in CASES if "/coev/" not in c])
def test_cases_against_the_draft_cddl(vectors: Path, case: str) -> None:
    name = case.rsplit("/", 1)[1]
    data = _file(vectors, case).read_bytes()
    plugs = "extensions" in name or "example" in name
    if name in CDDL_EXCEPTIONS:
        with pytest.raises(Exception):  # noqa: B017 - pycddl raises ValidationError; the exception list must stay true
            _validate(data, case, plugs)
        return
    _validate(data, case, plugs)


def _validate(data: bytes, case: str, plugs: bool) -> None:
    if "/comid/" in case:
        schema("concise-mid-tag").validate_cbor(data)
    elif case.rsplit("/", 1)[1].startswith("signed-"):
        validate_signed_parts(data, profile_plugs=plugs)
    else:
        schema(profile_plugs=plugs).validate_cbor(data)


def test_ocp_safe_review_extension_is_kept(vectors: Path) -> None:
    """The OCP S.A.F.E. CoRIM example: its SFR (mval extension -1) reaches the model as decoded values."""
    import cbor_diag

    diag = (vectors / "ocp-safe" / "Documentation" / "corim_profile" / "examples" / "ocp-safe-sfr-fw-example.diag")
    data = cbor_diag.diag2cbor(diag.read_text())
    doc = load_document(data)
    # The example writes the OID as a whole DER TLV (06 0A ...), and its bytes say 47639 where its comment says
    # 42623 (the profile's OID): provcheck shows what the bytes say.
    assert doc.corim is not None and str(doc.corim.profile) == "1.3.6.1.4.1.47639.1.1"
    triple = doc.corim.comids[0].triples.conditional_endorsement[0]
    condition = triple.conditions[0].measurements[0].mval
    assert condition.digest("sha-384") is not None and condition.digest("sha-512") is not None
    sfr = triple.endorsements[0].measurements[0].mval.extension(-1)
    assert sfr[0] == "1.1" and sfr[3] == 1
    assert [issue[2][0] for issue in sfr[5]] == ["7.9", "8.7"]
    schema(profile_plugs=True).validate_cbor(data)
