"""The whole measured-boot chain on real peers: a fresh swtpm is extended with every event of the real boot
log (tpm2_pcrextend), quoted with a nonce (tpm2_quote), and provcheck checks quote, replay and release."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hw.tpm.eventlog import parse_event_log
from tests.helpers import run_cli
from tests.tpm.conftest import BootRecord, Swtpm, need, serve_swtpm
from tests.tpm.logtools import serialize
from tests.tpm.test_eventlog_boot import authenticode, firmware_manifest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # the first test also boots QEMU

QUOTED_PCRS = "sha256:0,1,2,3,4,5,6,7,8,9,14"


@dataclass(frozen=True)
class QuotedBoot:
    directory: Path
    nonce: str
    message: Path
    signature: Path
    pcrs: Path
    ak_pem: Path
    ak_public: Path
    tpm: Swtpm
    ek_public: Path


@pytest.fixture(scope="module")
def quoted_boot(boot_record: BootRecord, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuotedBoot]:
    need("swtpm", "tpm2_pcrextend", "tpm2_quote")
    d = tmp_path_factory.mktemp("quoted-boot")
    log = parse_event_log(boot_record.eventlog.read_bytes())
    with serve_swtpm(d / "state") as port:
        tpm = Swtpm(port, d, ())
        for event in log.events:
            if event.extends:
                digests = ",".join(f"{bank}={digest.hex()}" for bank, digest in event.digests.items())
                tpm.run("tpm2_pcrextend", f"{event.pcr}:{digests}")
        tpm.run("tpm2_createek", "-c", "ek.ctx", "-G", "ecc", "-u", "ek.pub")
        tpm.flush()
        tpm.run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256", "-s", "ecdsa",
                "-u", "ak.pub")
        tpm.flush()
        tpm.run("tpm2_readpublic", "-c", "ak.ctx", "-f", "pem", "-o", "ak.pem")
        tpm.flush()
        nonce = os.urandom(16).hex()
        tpm.run("tpm2_quote", "-c", "ak.ctx", "-l", QUOTED_PCRS, "-q", nonce, "-m", "q.msg", "-s", "q.sig",
                "-o", "q.pcrs", "-F", "values", "-g", "sha256")
        tpm.flush()
        yield QuotedBoot(d, nonce, d / "q.msg", d / "q.sig", d / "q.pcrs", d / "ak.pem", d / "ak.pub", tpm,
                         d / "ek.pub")


def _report(result: object) -> dict[str, object]:
    from tests.helpers import Run

    assert isinstance(result, Run)
    assert "Traceback" not in result.stderr, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    report["exit"] = result.returncode
    return report


def _status(report: dict[str, object], check: str) -> str:
    findings = report["findings"]
    assert isinstance(findings, list)
    statuses = [f["status"] for f in findings if f["check"] == check]
    assert statuses, check
    return "fail" if "fail" in statuses else statuses[0]


def test_quote_and_log_and_release_verify(quoted_boot: QuotedBoot, boot_record: BootRecord, tmp_path: Path) -> None:
    q = quoted_boot
    manifests = [firmware_manifest(tmp_path, boot_record.release / n) for n in ("shimx64.efi", "grubx64.efi",
                                                                                  "vmlinuz")]
    declared = [x for m in manifests for x in ("--firmware-manifest", m)]
    report = _report(run_cli(["tpm", "verify-quote", "-m", q.message, "-s", q.signature, "-o", q.pcrs,
                              "--ak", q.ak_public, "--nonce", q.nonce, "--eventlog", boot_record.eventlog,
                              "--require-secure-boot", *declared, "--format", "json"]))
    assert report["exit"] == 0, report
    for check in ("tpm.quote.signature", "tpm.quote.nonce", "tpm.quote.pcr-digest", "tpm.eventlog.replay",
                  "tpm.boot.application", "tpm.boot.secure-boot"):
        assert _status(report, check) == "pass", check


def test_log_that_differs_from_the_quote_fails(quoted_boot: QuotedBoot, boot_record: BootRecord,
                                               tmp_path: Path) -> None:
    q = quoted_boot
    log = parse_event_log(boot_record.eventlog.read_bytes())
    removed = tmp_path / "shim-event-removed.bin"
    removed.write_bytes(serialize(log, [e for e in log.events if "BOOTX64" not in str(e.decoded.get("device_path"))]))
    report = _report(run_cli(["tpm", "verify-quote", "-m", q.message, "-s", q.signature, "-o", q.pcrs,
                              "--ak", q.ak_pem, "--nonce", q.nonce, "--eventlog", removed, "--format", "json"]))
    assert report["exit"] == 1
    assert _status(report, "tpm.quote.signature") == "pass"
    assert _status(report, "tpm.eventlog.replay") == "fail"


def test_check_measured_boot_on_device_evidence(quoted_boot: QuotedBoot, boot_record: BootRecord) -> None:
    """The API the device and intake workflows call, on the DeviceEvidence ``tpm`` object."""
    from hw.evidence import TpmEvidence, TpmQuote
    from verifier.checks.measured_boot import check_measured_boot, tpm_inputs
    from verifier.declared.boot import BootReference
    from verifier.model import Verdict, judge

    q = quoted_boot
    b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
    evidence = tpm_inputs(TpmEvidence(pcrs={}, event_log_b64=b64(boot_record.eventlog),
                                      quote=TpmQuote(b64(q.message), b64(q.signature), b64(q.pcrs)),
                                      ak_public_pem=q.ak_pem.read_text()))
    declared = {authenticode(boot_record.release / n) for n in ("shimx64.efi", "grubx64.efi", "vmlinuz")}
    manifest = BootReference.from_json({"secure_boot": True, "kernel_cmdline": "console=ttyS0 quiet"})
    findings = check_measured_boot(evidence, declared_authenticode=declared, boot=manifest,
                                   nonce=bytes.fromhex(q.nonce))
    assert judge(findings) is Verdict.PASS, [f.to_json() for f in findings if f.status.value != "pass"]
    # Twins: a replayed nonce, and a release that does not declare the kernel.
    stale = check_measured_boot(evidence, declared_authenticode=declared, boot=manifest, nonce=bytes(16))
    assert judge(stale) is Verdict.FAIL
    assert any(f.check == "tpm.quote.nonce" and f.status.value == "fail" for f in stale)
    partial = check_measured_boot(evidence, declared_authenticode=declared - {authenticode(
        boot_record.release / "vmlinuz")}, boot=manifest, nonce=bytes.fromhex(q.nonce))
    assert judge(partial) is Verdict.FAIL
    assert any(f.check == "tpm.boot.application" and f.status.value == "fail" for f in partial)


def test_baseline_from_quoted_evidence(quoted_boot: QuotedBoot, boot_record: BootRecord, tmp_path: Path) -> None:
    from hw.evidence import DeviceEvidence, TpmEvidence, TpmQuote

    q = quoted_boot
    b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
    tpm = TpmEvidence(pcrs={}, event_log_b64=b64(boot_record.eventlog),
                      quote=TpmQuote(b64(q.message), b64(q.signature), b64(q.pcrs)), ak_public_pem=q.ak_pem.read_text())
    path = tmp_path / "evidence.json"
    path.write_bytes(DeviceEvidence(profile="linux", port="qemu", identity={}, tpm=tpm, nonce=q.nonce).to_bytes())
    out = tmp_path / "reference.json"
    result = run_cli(["measure", "baseline", "--evidence", path, "-o", out, "--format", "json"])
    assert result.returncode == 0, result.stderr
    pcrs = json.loads(out.read_text())["boot_measurements"]["pcrs"]["sha256"]
    assert set(pcrs) == {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "14"}
    # Twin: evidence whose quote is not for the recorded nonce is not a known-good boot.
    path.write_bytes(DeviceEvidence(profile="linux", port="qemu", identity={}, tpm=tpm, nonce="00" * 16).to_bytes())
    out2 = tmp_path / "reference-stale.json"
    result = run_cli(["measure", "baseline", "--evidence", path, "-o", out2])
    assert result.returncode == 1
    assert not out2.exists()


def test_credential_activation_with_an_ecc_ek(quoted_boot: QuotedBoot, tmp_path: Path) -> None:
    """This TPM's EK is ECC (P-256): MakeCredential uses ECDH + KDFe, and swtpm must release the secret."""
    from tests.tpm.test_quote_swtpm import _activate

    q = quoted_boot
    made = run_cli(["tpm", "make-credential", "--ek-public", q.ek_public, "--ak", q.ak_public,
                    "-o", tmp_path / "cred.out", "--record", tmp_path / "record.json"])
    assert made.returncode == 0, made.stderr
    assert _activate(q.tpm, q.directory / "ak.ctx", tmp_path / "cred.out", tmp_path / "secret.out").returncode == 0
    record = json.loads((tmp_path / "record.json").read_text())
    assert (tmp_path / "secret.out").read_bytes().hex() == record["secret"]
    args = ["tpm", "verify-quote", "-m", q.message, "-s", q.signature, "-o", q.pcrs, "--ak", q.ak_public,
            "--nonce", q.nonce, "--ek-public", q.ek_public, "--ak-binding", "activated",
            "--credential-record", tmp_path / "record.json", "--format", "json"]
    report = _report(run_cli([*args, "--activated-secret", tmp_path / "secret.out"]))
    # Released, but this EK has no certificate: the binding stops short of a manufacturer, so it is not a pass.
    binding = next(f for f in report["findings"] if f["check"] == "tpm.ak.binding")  # type: ignore[union-attr]
    assert binding["status"] == "skip" and "certificate" in binding["message"]
    assert binding["evidence"]["ak_name"]
    (tmp_path / "wrong.out").write_bytes(bytes(32))
    report = _report(run_cli([*args, "--activated-secret", tmp_path / "wrong.out"]))
    assert _status(report, "tpm.ak.binding") == "fail"
