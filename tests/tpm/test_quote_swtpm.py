"""Quotes from a real swtpm, checked by provcheck and by the reference tools (tpm2_checkquote, openssl).

Every case runs both verifiers on the same files and asserts they agree: good
quotes pass, a wrong nonce, a flipped PCR value, a flipped signature bit and the
wrong AK fail.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import assert_clean_error, run_cli
from tests.tpm.conftest import Keys, Swtpm

pytestmark = pytest.mark.slow

NONCE = "5eed0f1ce0ff1ce0123456789abcdef0"
PCR_LIST = {"sha256": "sha256:0,1,16", "sha384": "sha384:0,16"}


@dataclass(frozen=True)
class Quote:
    kind: str
    message: Path
    signature: Path
    pcrs: Path
    pcr_list: str
    hash: str


def make_quote(swtpm: Swtpm, keys: Keys, kind: str, out: Path, *, nonce: str = NONCE) -> Quote:
    ctx = keys.aks[kind][0]
    digest = "sha384" if "sha384" in kind else "sha256"
    pcr_list = PCR_LIST[digest]
    extra = ["--scheme", "rsapss"] if "rsapss" in kind else []
    swtpm.run("tpm2_pcrextend", f"16:{digest}=" + ("ab" * (48 if digest == "sha384" else 32)))
    swtpm.run("tpm2_quote", "-c", ctx, "-l", pcr_list, "-q", nonce, "-m", out / "q.msg", "-s", out / "q.sig",
              "-o", out / "q.pcrs", "-F", "values", "-g", digest, *extra)
    swtpm.flush()
    return Quote(kind, out / "q.msg", out / "q.sig", out / "q.pcrs", pcr_list, digest)


def reference_accepts(swtpm: Swtpm, q: Quote, ak_pem: Path, nonce: str) -> bool:
    """tpm2_checkquote, except for RSAPSS, which tpm2-tools 5.4's checkquote cannot verify: openssl instead."""
    if "rsapss" in q.kind:
        from hw.tpm.algorithms import hash_by_name
        from hw.tpm.attest import parse_quote_attest
        from hw.tpm.quote import parse_pcr_values, pcr_digest

        raw = q.signature.read_bytes()[6:]  # TPMT_SIGNATURE header: sigAlg, hash, size
        raw_path = q.signature.with_suffix(".raw")
        raw_path.write_bytes(raw)
        sig_ok = subprocess.run(
            ["openssl", "dgst", f"-{q.hash}", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:auto",
             "-verify", str(ak_pem), "-signature", str(raw_path), str(q.message)],
            capture_output=True, timeout=30,
        ).returncode == 0
        attest = parse_quote_attest(q.message.read_bytes())
        try:
            values = parse_pcr_values(q.pcrs.read_bytes(), attest.selections)
        except Exception:
            return False
        return (sig_ok and attest.extra_data.hex() == nonce
                and pcr_digest(attest.selections, values, hash_by_name(q.hash)) == attest.pcr_digest)
    proc = swtpm.run("tpm2_checkquote", "-u", ak_pem, "-m", q.message, "-s", q.signature, "-f", q.pcrs,
                     "-F", "values", "-l", q.pcr_list, "-g", q.hash, "-q", nonce, check=False)
    return proc.returncode == 0


def provcheck(q: Quote, ak: Path, nonce: str, *extra: object) -> dict[str, object]:
    result = run_cli(["tpm", "verify-quote", "-m", q.message, "-s", q.signature, "-o", q.pcrs, "--ak", ak,
                      "--nonce", nonce, *extra, "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 3), (result.returncode, result.stderr)
    report = json.loads(result.stdout)
    report["exit"] = result.returncode
    return report


def status(report: dict[str, object], check: str) -> str:
    findings = report["findings"]
    assert isinstance(findings, list)
    return next(f["status"] for f in findings if f["check"] == check)


@pytest.mark.parametrize("kind", ["ecc-sha256", "ecc384-sha384", "rsa-rsassa", "rsa-rsapss-sha384"])
def test_good_quote_agrees_with_reference(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path, kind: str) -> None:
    q = make_quote(swtpm, tpm_keys, kind, tmp_path)
    _, tss, pem = tpm_keys.aks[kind]
    assert reference_accepts(swtpm, q, pem, NONCE)
    for ak in (tss, pem):
        report = provcheck(q, ak, NONCE)
        assert report["exit"] == 0, report
        assert status(report, "tpm.quote.signature") == "pass"
        assert status(report, "tpm.quote.nonce") == "pass"
        assert status(report, "tpm.quote.pcr-digest") == "pass"


def test_signer_name_checked_against_ek(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    q = make_quote(swtpm, tpm_keys, "ecc-sha256", tmp_path)
    report = provcheck(q, tpm_keys.aks["ecc-sha256"][1], NONCE, "--ek-public", tpm_keys.ek_public)
    assert status(report, "tpm.quote.signer-name") == "pass"
    # Twin: the quote names another AK (the RSA one) than the ECC key whose public area we were given.
    other = provcheck(q, tpm_keys.aks["rsa-rsassa"][1], NONCE, "--ek-public", tpm_keys.ek_public)
    assert status(other, "tpm.quote.signer-name") == "fail"


def test_wrong_nonce_both_reject(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    q = make_quote(swtpm, tpm_keys, "ecc-sha256", tmp_path)
    stale = "00" * 16
    pem = tpm_keys.aks["ecc-sha256"][2]
    assert not reference_accepts(swtpm, q, pem, stale)
    report = provcheck(q, pem, stale)
    assert report["exit"] == 1
    assert status(report, "tpm.quote.nonce") == "fail"
    assert status(report, "tpm.quote.signature") == "pass"


@pytest.mark.parametrize("kind", ["ecc-sha256", "rsa-rsapss-sha384"])
def test_flipped_pcr_both_reject(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path, kind: str) -> None:
    q = make_quote(swtpm, tpm_keys, kind, tmp_path)
    data = bytearray(q.pcrs.read_bytes())
    data[5] ^= 0x01
    q.pcrs.write_bytes(bytes(data))
    pem = tpm_keys.aks[kind][2]
    assert not reference_accepts(swtpm, q, pem, NONCE)
    report = provcheck(q, pem, NONCE)
    assert report["exit"] == 1
    assert status(report, "tpm.quote.pcr-digest") == "fail"


@pytest.mark.parametrize("kind", ["ecc-sha256", "rsa-rsassa", "rsa-rsapss-sha384"])
def test_flipped_signature_bit_both_reject(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path, kind: str) -> None:
    q = make_quote(swtpm, tpm_keys, kind, tmp_path)
    data = bytearray(q.signature.read_bytes())
    data[-3] ^= 0x10
    q.signature.write_bytes(bytes(data))
    pem = tpm_keys.aks[kind][2]
    assert not reference_accepts(swtpm, q, pem, NONCE)
    report = provcheck(q, pem, NONCE)
    assert report["exit"] == 1
    assert status(report, "tpm.quote.signature") == "fail"


def test_wrong_ak_both_reject(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    q = make_quote(swtpm, tpm_keys, "rsa-rsassa", tmp_path)
    # Same algorithm, different key: a second RSA AK under the same EK.
    swtpm.run("tpm2_createak", "-C", "ek.ctx", "-c", tmp_path / "other.ctx", "-G", "rsa", "-g", "sha256",
              "-s", "rsassa", "-u", tmp_path / "other.pub")
    swtpm.flush()
    swtpm.run("tpm2_readpublic", "-c", tmp_path / "other.ctx", "-f", "pem", "-o", tmp_path / "other.pem")
    swtpm.flush()
    assert not reference_accepts(swtpm, q, tmp_path / "other.pem", NONCE)
    report = provcheck(q, tmp_path / "other.pem", NONCE)
    assert report["exit"] == 1
    assert status(report, "tpm.quote.signature") == "fail"
    # And an ECC AK for an RSA quote is a clear failure, not a crash.
    report = provcheck(q, tpm_keys.aks["ecc-sha256"][2], NONCE)
    assert status(report, "tpm.quote.signature") == "fail"


def test_ek_certificate_from_nv_chains_to_local_ca(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    q = make_quote(swtpm, tpm_keys, "ecc-sha256", tmp_path)
    ca = [x for c in swtpm.ca_bundle for x in ("--tpm-ca", c)]
    report = provcheck(q, tpm_keys.aks["ecc-sha256"][1], NONCE, "--ek-public", tpm_keys.ek_public,
                       "--tcti", swtpm.tcti, *ca, "--ak-binding", "ek")
    assert report["exit"] == 0, report
    assert status(report, "tpm.ek.chain") == "pass"
    assert status(report, "tpm.platform-cert") == "pass"
    assert status(report, "tpm.ak.binding") == "pass"
    # Twin: a CA that did not issue the EK certificate (the AK's own PEM is no CA; use a fresh self-signed one).
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "swtpm-localca-rootca")])
    now = datetime.datetime.now(datetime.UTC)
    impostor = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
    (tmp_path / "impostor-ca.pem").write_bytes(impostor.public_bytes(serialization.Encoding.PEM))
    report = provcheck(q, tpm_keys.aks["ecc-sha256"][1], NONCE, "--ek-public", tpm_keys.ek_public,
                       "--tcti", swtpm.tcti, "--tpm-ca", tmp_path / "impostor-ca.pem", "--ak-binding", "ek")
    assert report["exit"] == 1
    assert status(report, "tpm.ek.chain") == "fail"
    assert status(report, "tpm.ak.binding") == "fail"


def test_ek_binding_required_but_ak_given_as_pem(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    q = make_quote(swtpm, tpm_keys, "ecc-sha256", tmp_path)
    ca = [x for c in swtpm.ca_bundle for x in ("--tpm-ca", c)]
    report = provcheck(q, tpm_keys.aks["ecc-sha256"][2], NONCE, "--ek-public", tpm_keys.ek_public,
                       "--tcti", swtpm.tcti, *ca, "--ak-binding", "ek")
    assert status(report, "tpm.ak.binding") in ("skip", "fail")
    assert report["verdict"] != "pass"


def test_pinned_ak(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    from hw.tpm.quote import load_attestation_key

    q = make_quote(swtpm, tpm_keys, "ecc-sha256", tmp_path)
    pem = tpm_keys.aks["ecc-sha256"][2]
    keyid = load_attestation_key(pem.read_bytes()).keyid
    assert provcheck(q, pem, NONCE, "--ak-binding", "pinned", "--pin-ak", keyid)["exit"] == 0
    report = provcheck(q, pem, NONCE, "--ak-binding", "pinned", "--pin-ak", "0" * 64)
    assert status(report, "tpm.ak.binding") == "fail"


def test_truncated_quote_files_are_bad_input(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    q = make_quote(swtpm, tpm_keys, "ecc-sha256", tmp_path)
    pem = tpm_keys.aks["ecc-sha256"][2]
    for target in (q.message, q.signature, q.pcrs):
        original = target.read_bytes()
        target.write_bytes(original[: len(original) // 2])
        assert_clean_error(run_cli(["tpm", "verify-quote", "-m", q.message, "-s", q.signature, "-o", q.pcrs,
                                    "--ak", pem, "--nonce", NONCE]), 2)
        target.write_bytes(original)
    bad_ak = tmp_path / "garbage.pem"
    bad_ak.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert_clean_error(run_cli(["tpm", "verify-quote", "-m", q.message, "-s", q.signature, "-o", q.pcrs,
                                "--ak", bad_ak, "--nonce", NONCE]), 2)
    assert_clean_error(run_cli(["tpm", "verify-quote", "-m", q.message, "-s", q.signature, "-o", q.pcrs,
                                "--ak", pem, "--nonce", "xyz"]), 2)


def _activate(swtpm: Swtpm, ak_ctx: Path, credential: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """What the device does with our credential: TPM2_ActivateCredential under the EK's policy session."""
    session = out.with_suffix(".session")
    swtpm.run("tpm2_startauthsession", "--policy-session", "-S", session)
    swtpm.run("tpm2_policysecret", "-S", session, "-c", "e")
    proc = swtpm.run("tpm2_activatecredential", "-c", ak_ctx, "-C", "ek.ctx", "-i", credential, "-o", out,
                     "-P", f"session:{session}", check=False)
    swtpm.run("tpm2_flushcontext", session, check=False)
    swtpm.flush()
    return proc


def test_credential_activation_binds_the_ak(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    kind = "ecc-sha256"
    ctx, tss, _ = tpm_keys.aks[kind]
    q = make_quote(swtpm, tpm_keys, kind, tmp_path)
    ca = [x for c in swtpm.ca_bundle for x in ("--tpm-ca", c)]
    made = run_cli(["tpm", "make-credential", "--ek-public", tpm_keys.ek_public, "--ak", tss,
                    "-o", tmp_path / "cred.out", "--record", tmp_path / "record.json"])
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "record.json").stat().st_mode & 0o077 == 0
    assert _activate(swtpm, ctx, tmp_path / "cred.out", tmp_path / "secret.out").returncode == 0
    common = ["--ek-public", tpm_keys.ek_public, "--tcti", swtpm.tcti, *ca,
              "--ak-binding", "activated", "--credential-record", tmp_path / "record.json"]
    report = provcheck(q, tss, NONCE, *common, "--activated-secret", tmp_path / "secret.out")
    assert report["exit"] == 0, report
    assert status(report, "tpm.ak.binding") == "pass"
    # Twin: a device that cannot activate returns something else.
    (tmp_path / "guess.out").write_bytes(bytes(32))
    report = provcheck(q, tss, NONCE, *common, "--activated-secret", tmp_path / "guess.out")
    assert status(report, "tpm.ak.binding") == "fail"
    # Twin: the TPM refuses a credential bound to another AK's name (the RSA AK) when asked with the ECC AK.
    run_cli(["tpm", "make-credential", "--ek-public", tpm_keys.ek_public, "--ak", tpm_keys.aks["rsa-rsassa"][1],
             "-o", tmp_path / "other.out", "--record", tmp_path / "other.json"])
    assert _activate(swtpm, ctx, tmp_path / "other.out", tmp_path / "other-secret.out").returncode != 0
    # And a record for another AK never vouches for this quote's AK.
    report = provcheck(q, tss, NONCE, "--ek-public", tpm_keys.ek_public, "--tcti", swtpm.tcti, *ca,
                       "--ak-binding", "activated", "--credential-record", tmp_path / "other.json",
                       "--activated-secret", tmp_path / "secret.out")
    assert status(report, "tpm.ak.binding") == "fail"
