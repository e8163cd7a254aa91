"""Regressions for issue 11, section 1: nothing counts as vouched or signed unless provcheck itself verified it.

Each attack is built as an attacker would build it (a forged signature, a label written into an evidence file,
a signature spliced from another read, a TPM object added by hand) and run through the CLI as a user would;
each has an honest twin that passes, so the failure is the attack's and not the set-up's.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from attestations.keys import load_signer
from tests.helpers import assert_clean_error, run_cli
from tests.workflows.conftest import Workspace, policy_text
from tests.workflows.conftest import workspace as workspace
from verifier.workflows.release import ReleaseRequest, sign_release

NONCE_A = bytes(range(32))
NONCE_B = bytes(range(100, 132))
STRENGTH_RULES = ("serial=signed", "regions=signed", "components=signed", "identity_key=signed")


# --- what the attacker starts from ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reads:
    """Two honest attest reads of the demo device (two nonces) and the manifest it satisfies."""

    first: dict[str, Any]
    second: dict[str, Any]
    other_device: dict[str, Any]  # another unit of the same vendor (own key, same CA), read with NONCE_A
    manifest: dict[str, Any]
    directory: Path


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory) -> Reads:
    from dataclasses import replace

    from hw.reader import read_device
    from hw.sim import Simulator
    from verifier.declared.device_manifest import manifest_from_predicate
    from verifier.workflows.demo import _device_config, declared_device_manifest, demo_firmware

    honest = _device_config(demo_firmware())
    other = replace(honest, serial="ACME-000124", key_seed="another-unit")
    out = []
    manifests = []
    for config, nonce in ((honest, NONCE_A), (honest, NONCE_B), (other, NONCE_A)):
        with Simulator("attest", config=config) as sim:
            manifests.append(declared_device_manifest(sim))
            evidence = read_device(sim.port, profile="attest", timeout=30, read_timeout=2, nonce=nonce,
                                   regions=manifest_from_predicate(manifests[0]).region_specs())
        out.append(evidence.to_json())
    return Reads(out[0], out[1], out[2], manifests[0], tmp_path_factory.mktemp("reads"))


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def device_verify(tmp: Path, evidence: dict[str, Any], manifest: dict[str, Any], *extra: str) -> tuple[int, Any]:
    """``provcheck device verify`` on an evidence file, demanding the given strengths."""
    requires = [arg for rule in extra if "=" in rule for arg in ("--require", rule)]
    flags = [rule for rule in extra if "=" not in rule]
    result = run_cli(["device", "verify", "--evidence", write(tmp / "evidence.json", evidence), "--manifest",
                      write(tmp / "manifest.json", manifest), *requires, *flags, "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 3), (result.returncode, result.stderr)
    return result.returncode, json.loads(result.stdout)


def statuses(report: dict[str, Any], check: str) -> dict[str, str]:
    return {f["subject"]: f["status"] for f in report["findings"] if f["check"] == check}


def failing(report: dict[str, Any]) -> set[str]:
    return {f["check"] for f in report["findings"] if f["status"] == "fail"}


# --- a policy without signers; forged signatures ----------------------------------------------------------


def forged_release(ws: Workspace, tmp: Path) -> Path:
    """A release declaring the tampered image, its signatures replaced by an empty key id and junk bytes."""
    genuine = tmp / "rogue"
    sign_release(
        ReleaseRequest(firmware=[ws.paths["tampered_firmware"]], device_manifest=ws.paths["device_manifest"]),
        [load_signer(ws.paths["operator_key"])],
        genuine,
    )
    lines = []
    for line in (genuine / "release.intoto.jsonl").read_text().splitlines():
        envelope = json.loads(line)
        envelope["signatures"] = [{"keyid": "", "sig": "AAAA"}]
        lines.append(json.dumps(envelope))
    forged = tmp / "forged.intoto.jsonl"
    forged.write_text("\n".join(lines) + "\n")
    return forged


NO_SIGNERS = {
    "firmware-only": "version = 1\n[firmware]\nrequired = true\n",
    "device-only": "version = 1\n[device]\nrequired = true\n",
    "firmware-and-device": "version = 1\n[firmware]\nrequired = true\n[device]\nrequired = true\n",
    "empty-signers-table": "version = 1\n[signers]\n[firmware]\nrequired = true\n",
}


@pytest.mark.parametrize("name", sorted(NO_SIGNERS))
def test_policy_without_signers_is_bad_input_not_a_pass(workspace: Workspace, tmp_path: Path, name: str) -> None:
    """The reported attack: no [signers], a forged release declaring a tampered image -> it was PASS, exit 0."""
    policy = workspace.write_policy(f"no-signers-{name}.toml", NO_SIGNERS[name])
    forged = forged_release(workspace, tmp_path)
    for release in (forged, workspace.release):  # not even the honest release can be vouched for by nobody
        result = run_cli(["intake", "--release", release, "--policy", policy, "--firmware",
                          workspace.paths["tampered_firmware"], "--no-history", "--format", "json"])
        assert_clean_error(result, 2)
        assert "signers" in result.stderr and "no trusted signer" in result.stderr, result.stderr


def test_forged_signatures_are_never_vouched(workspace: Workspace, tmp_path: Path) -> None:
    vendor = workspace.paths["vendor_pub"]
    policy = workspace.write_policy(
        "firmware-signed.toml", f'version = 1\n[signers]\nkeys = ["{vendor}"]\n[firmware]\nrequired = true\n'
    )
    forged = run_cli(["intake", "--release", forged_release(workspace, tmp_path), "--policy", policy, "--firmware",
                      workspace.paths["tampered_firmware"], "--no-history", "--format", "json"])
    report = json.loads(forged.stdout)
    assert forged.returncode == 1, report["findings"]
    assert set(statuses(report, "attest.signature").values()) == {"fail"}
    assert {"attest.subject", "firmware.manifest"} <= failing(report)
    assert not [f for f in report["findings"] if f["check"] == "attest.vouch"], "nobody vouched, nobody is named"
    # Twin: the vendor's own release and image pass, and the vouch list names the vendor's key.
    honest = run_cli(["intake", "--release", workspace.release, "--policy", policy, "--firmware",
                      workspace.firmware, "--no-history", "--format", "json"])
    report = json.loads(honest.stdout)
    assert honest.returncode == 0, [f for f in report["findings"] if f["status"] != "pass"]
    vouches = [f for f in report["findings"] if f["check"] == "attest.vouch"]
    assert vouches and all(f["evidence"]["signers"] for f in vouches)


def test_sigstore_only_signers_do_not_vouch_for_key_signed_envelopes(workspace: Workspace, tmp_path: Path) -> None:
    """A policy that trusts only a Sigstore identity names a signer (no exit 2), and DSSE envelopes are not used."""
    policy = workspace.write_policy(
        "sigstore-only.toml",
        'version = 1\n[[signers.sigstore]]\nidentity = "https://github.com/acme/fw/.github/workflows/r.yml@refs/'
        'heads/main"\nissuer = "https://token.actions.githubusercontent.com"\n[firmware]\nrequired = true\n',
    )
    result = run_cli(["intake", "--release", workspace.release, "--policy", policy, "--firmware",
                      workspace.firmware, "--no-history", "--format", "json"])
    report = json.loads(result.stdout)
    assert result.returncode == 1, report["findings"]
    assert set(statuses(report, "attest.signature").values()) == {"fail"}
    assert "firmware.manifest" in failing(report)


BCR_SAN = (
    "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1"
)
GITHUB = "https://token.actions.githubusercontent.com"


@pytest.mark.parametrize(("identity", "code"), [(BCR_SAN, 0), (BCR_SAN.replace("v0.0.1", "v6.6.6"), 1)])
def test_sigstore_only_signers_vouch_through_a_verified_bundle(
    tmp_path: Path, vectors: Path, identity: str, code: int
) -> None:
    bundle = vectors / "slsa-verifier/cli/slsa-verifier/testdata/bcr/MODULE.bazel.intoto.jsonl"
    release = tmp_path / "provenance.intoto.jsonl"
    release.write_bytes(bundle.read_bytes())
    policy = tmp_path / "policy.toml"
    policy.write_text(f'version = 1\n[[signers.sigstore]]\nidentity = "{identity}"\nissuer = "{GITHUB}"\n'
                      '[attestations]\nrequired = ["https://slsa.dev/provenance/v1"]\n')
    result = run_cli(["intake", "--release", release, "--policy", policy, "--no-history", "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert result.returncode == code, [f for f in report["findings"] if f["status"] != "pass"]
    vouches = [f for f in report["findings"] if f["check"] == "attest.vouch"]
    if code == 0:
        assert len(vouches) == 1 and BCR_SAN in vouches[0]["evidence"]["signers"][0]
    else:
        assert not vouches and "policy.required-attestation" in failing(report)


# --- evidence labels are not evidence: device verify ------------------------------------------------------


def test_honest_evidence_file_keeps_its_signed_facts(reads: Reads, tmp_path: Path) -> None:
    code, report = device_verify(tmp_path, reads.first, reads.manifest, *STRENGTH_RULES)
    assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "skip")]
    assert set(statuses(report, "hw.strength").values()) == {"pass"}
    (nonce,) = [f for f in report["findings"] if f["check"] == "hw.nonce"]
    assert nonce["status"] == "skip" and not nonce["required"]
    assert "read earlier" in nonce["message"] and "freshness cannot be shown" in nonce["message"]
    # Given the nonce it was challenged with, the same file is fresh.
    code, report = device_verify(tmp_path, reads.first, reads.manifest, *STRENGTH_RULES, "--nonce", NONCE_A.hex())
    assert code == 0 and statuses(report, "hw.nonce") == {"nonce": "pass"}


def test_attestation_removed_labels_stay_but_count_for_nothing(reads: Reads, tmp_path: Path) -> None:
    evidence = dict(reads.first, attestation=None)
    code, report = device_verify(tmp_path, evidence, reads.manifest, *STRENGTH_RULES)
    assert code == 1
    assert statuses(report, "hw.strength") == {
        "serial": "fail", "regions": "fail", "components": "fail", "identity_key": "fail", "evidence": "warn"
    }
    (lowered,) = [f for f in report["findings"] if f["check"] == "hw.strength" and f["status"] == "warn"]
    assert "no signed measurements" in lowered["message"] and "identity.serial (signed -> reported)" in (
        lowered["evidence"]["lowered"])
    (nonce,) = [f for f in report["findings"] if f["check"] == "hw.nonce"]
    assert nonce["status"] == "fail" and "carries no signed measurements" in nonce["message"]


def test_signature_for_another_nonce_is_not_signed_for_this_one(reads: Reads, tmp_path: Path) -> None:
    """The second read's valid signature spliced into the first read's file, which records nonce A."""
    evidence = dict(reads.first, attestation=reads.second["attestation"])
    code, report = device_verify(tmp_path, evidence, reads.manifest, *STRENGTH_RULES)
    assert code == 1
    assert statuses(report, "hw.attest-signature") == {"signed measurements": "pass"}  # the signature is genuine
    assert statuses(report, "hw.nonce") == {"nonce": "fail"}
    assert statuses(report, "hw.strength")["serial"] == "fail"
    # And checked against nonce A explicitly, the genuine file B is a replay.
    code, report = device_verify(tmp_path, reads.second, reads.manifest, *STRENGTH_RULES, "--nonce", NONCE_A.hex())
    assert code == 1 and statuses(report, "hw.strength")["serial"] == "fail"


def test_another_units_signature_does_not_vouch_for_these_facts(reads: Reads, tmp_path: Path) -> None:
    """A genuine signature over this nonce, by a genuine unit of the same vendor, but over that unit's facts."""
    manifest = dict(reads.manifest)
    manifest["identity"] = {"ca_pem": manifest["identity"]["ca_pem"]}  # any unit of the vendor
    code, report = device_verify(tmp_path, reads.other_device, dict(manifest, serial=None), *STRENGTH_RULES)
    assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "skip")]  # twin: that unit
    evidence = dict(reads.first, attestation=reads.other_device["attestation"],
                    identity_key=reads.other_device["identity_key"])
    code, report = device_verify(tmp_path, evidence, manifest, *STRENGTH_RULES)
    assert code == 1
    (signature,) = [f for f in report["findings"] if f["check"] == "hw.attest-signature"]
    assert signature["status"] == "fail" and "identity.serial" in signature["message"]
    assert statuses(report, "hw.strength")["serial"] == "fail"


@pytest.mark.parametrize("edit", ["component-added-signed", "component-added-reported", "serial-relabelled",
                                  "region-added-measured", "serial-dropped-from-signed"])
def test_facts_added_or_changed_after_signing_fail(reads: Reads, tmp_path: Path, edit: str) -> None:
    evidence = copy.deepcopy(reads.first)
    if edit.startswith("component-added"):
        strength = edit.rpartition("-")[2]
        evidence["components"].append({"class": "modem", "manufacturer": "Quectel", "model": "EG25", "serial": None,
                                       "revision": None, "strength": strength, "source": "edited"})
    elif edit == "serial-relabelled":
        evidence["identity"]["serial"] = {"value": "ACME-000999", "strength": "reported", "source": "edited"}
    elif edit == "region-added-measured":
        region = dict(evidence["regions"][0], digest="00" * 32, method="hash sha256", strength="measured")
        evidence["regions"].append(region)
    else:
        del evidence["identity"]["serial"]
    code, report = device_verify(tmp_path, evidence, reads.manifest)
    assert code == 1, report["findings"]
    assert failing(report) & {"hw.attest-signature", "hw.components", "hw.region"}


@pytest.mark.parametrize("identity", ["none declared", "another vendor's CA"])
def test_a_key_the_manifest_does_not_declare_signs_nothing(reads: Reads, tmp_path: Path, identity: str) -> None:
    from hw.sim import DeviceConfig, make_keys

    manifest = dict(reads.manifest)
    if identity == "none declared":
        manifest.pop("identity")
    else:
        manifest["identity"] = {"ca_pem": make_keys(DeviceConfig(ca_seed="some-other-vendor")).ca_pem}
    code, report = device_verify(tmp_path, reads.first, manifest, *STRENGTH_RULES)
    assert code == 1
    assert statuses(report, "hw.strength")["serial"] == "fail"
    assert statuses(report, "hw.strength")["evidence"] == "warn"


@pytest.mark.parametrize("label", ["Signed", "SIGNED", " signed", "signed\u200b", "verified"])
def test_strength_labels_in_odd_spellings_are_bad_input(reads: Reads, tmp_path: Path, label: str) -> None:
    evidence = copy.deepcopy(reads.first)
    evidence["identity"]["serial"]["strength"] = label
    result = run_cli(["device", "verify", "--evidence", write(tmp_path / "e.json", evidence), "--manifest",
                      write(tmp_path / "m.json", reads.manifest), "--require", "serial=signed"])
    assert_clean_error(result, 2)
    assert "strength" in result.stderr


# --- TPM quotes, from a real swtpm ------------------------------------------------------------------------


@dataclass(frozen=True)
class Quoted:
    tpm: dict[str, Any]  # a DeviceEvidence tpm object, quoted over NONCE_A
    other_nonce: dict[str, Any]  # the same, quoted over NONCE_B
    quoted_pcr: str  # an index the quote covers (sha256)


@pytest.fixture(scope="module")
def quoted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Quoted]:
    from tests.tpm.conftest import Swtpm, need, serve_swtpm

    need("swtpm", "tpm2_createek", "tpm2_createak", "tpm2_quote")
    d = tmp_path_factory.mktemp("swtpm-trust")
    with serve_swtpm(d / "state") as port:
        tpm = Swtpm(port, d, ())
        tpm.run("tpm2_pcrextend", "16:sha256=" + "ab" * 32)
        tpm.run("tpm2_createek", "-c", "ek.ctx", "-G", "ecc", "-u", "ek.pub")
        tpm.flush()
        tpm.run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256", "-s", "ecdsa",
                "-u", "ak.pub")
        tpm.flush()
        tpm.run("tpm2_readpublic", "-c", "ak.ctx", "-f", "pem", "-o", "ak.pem")
        tpm.flush()
        objects = []
        for nonce in (NONCE_A, NONCE_B):
            tpm.run("tpm2_quote", "-c", "ak.ctx", "-l", "sha256:0,16", "-q", nonce.hex(), "-m", "q.msg", "-s",
                    "q.sig", "-o", "q.pcrs", "-F", "values", "-g", "sha256")
            tpm.flush()
            b64 = {name: base64.b64encode((d / name).read_bytes()).decode() for name in ("q.msg", "q.sig", "q.pcrs")}
            objects.append({
                "pcrs": {}, "event_log_b64": None, "ak_public_pem": (d / "ak.pem").read_text(), "strength": "signed",
                "source": "tpm2_quote",
                "quote": {"message_b64": b64["q.msg"], "signature_b64": b64["q.sig"], "pcrs_b64": b64["q.pcrs"]},
            })
        yield Quoted(objects[0], objects[1], "16")


def test_a_verified_quote_makes_the_tpm_signed(reads: Reads, quoted: Quoted, tmp_path: Path) -> None:
    code, report = device_verify(tmp_path, dict(reads.first, tpm=quoted.tpm), reads.manifest, "tpm=signed")
    assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "skip")]
    assert statuses(report, "hw.strength") == {"tpm": "pass"}


def _flip_signature(tpm: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(tpm)
    raw = bytearray(base64.b64decode(out["quote"]["signature_b64"]))
    raw[-3] ^= 1
    out["quote"]["signature_b64"] = base64.b64encode(bytes(raw)).decode()
    return out


def _other_ak(tpm: dict[str, Any]) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return dict(tpm, ak_public_pem=pem.decode())


TPM_ATTACKS = {
    "hand-added, no quote": lambda q: {"pcrs": {"sha256": {"0": "11" * 32}}, "event_log_b64": None, "quote": None,
                                      "ak_public_pem": None, "strength": "signed", "source": "edited"},
    "PCR the quote does not cover": lambda q: dict(q.tpm, pcrs={"sha256": {"7": "22" * 32}}),
    "quoted PCR with another value": lambda q: dict(q.tpm, pcrs={"sha256": {q.quoted_pcr: "33" * 32}}),
    "quote that does not verify": lambda q: _flip_signature(q.tpm),
    "quote by another AK": lambda q: _other_ak(q.tpm),
    "quote for another nonce": lambda q: q.other_nonce,
}


@pytest.mark.parametrize("attack", sorted(TPM_ATTACKS))
def test_tpm_signed_only_when_the_quote_verifies_and_covers(
    reads: Reads, quoted: Quoted, tmp_path: Path, attack: str
) -> None:
    evidence = dict(reads.first, tpm=TPM_ATTACKS[attack](quoted))
    code, report = device_verify(tmp_path, evidence, reads.manifest, "tpm=signed")
    assert code == 1, report["findings"]
    assert statuses(report, "hw.strength")["tpm"] == "fail"
    (lowered,) = [f for f in report["findings"] if f["check"] == "hw.strength" and f["subject"] == "evidence"]
    assert "tpm.pcrs (signed -> measured)" in lowered["evidence"]["lowered"]


# --- evidence labels are not evidence: intake --evidence --------------------------------------------------


def intake_evidence(ws: Workspace, tmp: Path, evidence: dict[str, Any], policy: str) -> tuple[int, Any]:
    result = run_cli(["intake", "--release", ws.release, "--policy", ws.write_policy(f"{tmp.name}.toml", policy),
                      "--firmware", ws.firmware, "--evidence", write(tmp / "evidence.json", evidence),
                      "--no-history", "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


FILE_POLICY = policy_text(("require_nonce = true", "require_nonce = false"))


def test_intake_evidence_file_signed_only_as_verified(workspace: Workspace, reads: Reads, tmp_path: Path) -> None:
    code, report = intake_evidence(workspace, tmp_path, reads.first, FILE_POLICY)
    assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "skip")]
    assert "freshness cannot be shown" in next(f for f in report["findings"] if f["check"] == "hw.nonce")["message"]
    # The reported attack: attestation set to null, the "signed" labels left in place.
    code, report = intake_evidence(workspace, tmp_path, dict(reads.first, attestation=None), FILE_POLICY)
    assert code == 1
    assert {k: v for k, v in statuses(report, "hw.strength").items() if v == "fail"} == {
        "serial": "fail", "firmware_regions": "fail"
    }
    assert "(reported)" in report["metadata"]["device"]["serial"]


def test_intake_hand_added_tpm_is_not_signed(workspace: Workspace, reads: Reads, tmp_path: Path) -> None:
    policy = FILE_POLICY.replace('firmware_regions = "signed"', 'firmware_regions = "signed"\ntpm = "signed"')
    tpm = TPM_ATTACKS["hand-added, no quote"](None)
    code, report = intake_evidence(workspace, tmp_path, dict(reads.first, tpm=tpm), policy)
    assert code == 1
    assert statuses(report, "hw.strength")["tpm"] == "fail"


def test_intake_evidence_file_with_require_nonce_says_what_happened(
    workspace: Workspace, reads: Reads, tmp_path: Path
) -> None:
    code, report = intake_evidence(workspace, tmp_path, reads.first, policy_text())
    assert code == 1 and failing(report) == {"hw.nonce"}
    (nonce,) = [f for f in report["findings"] if f["check"] == "hw.nonce" and f["status"] == "fail"]
    assert NONCE_A.hex()[:16] in nonce["message"] and "read earlier" in nonce["message"]


# --- attest verify needs something to trust ---------------------------------------------------------------


def test_attest_verify_without_a_key_or_identity_does_not_pass(workspace: Workspace, vectors: Path) -> None:
    bundle = workspace.release / "release.intoto.jsonl"
    result = run_cli(["attest", "verify", "--bundle", bundle, workspace.firmware])
    assert_clean_error(result, 2)
    assert "--key" in result.stderr
    sigstore = vectors / "slsa-verifier/cli/slsa-verifier/testdata/bcr/MODULE.bazel.intoto.jsonl"
    result = run_cli(["attest", "verify", "--bundle", sigstore])
    assert_clean_error(result, 2)
    assert "--identity" in result.stderr
    twin = run_cli(["attest", "verify", "--bundle", bundle, workspace.firmware, "--key", workspace.paths["vendor_pub"]])
    assert twin.returncode == 0, twin.stdout + twin.stderr


@pytest.mark.parametrize(("binding", "strength"), [("none", "fail"), ("pinned", "pass")])
def test_intake_quote_by_an_unbound_ak_is_not_signed(
    workspace: Workspace, reads: Reads, quoted: Quoted, tmp_path: Path, binding: str, strength: str
) -> None:
    """A quote verifies with whatever AK the evidence carries; with no AK binding that key may be the attacker's."""
    from hw.tpm.quote import load_attestation_key

    keyid = load_attestation_key(quoted.tpm["ak_public_pem"].encode()).keyid
    tpm_rules = f'[tpm]\nak_binding = "{binding}"\npinned_ak_keyids = ["{keyid}"]\n\n[suppliers]'
    policy = FILE_POLICY.replace('firmware_regions = "signed"', 'firmware_regions = "signed"\ntpm = "signed"')
    code, report = intake_evidence(workspace, tmp_path, dict(reads.first, tpm=quoted.tpm),
                                   policy.replace("[suppliers]", tpm_rules))
    assert statuses(report, "hw.strength")["tpm"] == strength
    if strength == "fail":
        assert code == 1
        (lowered,) = [f for f in report["findings"] if f["check"] == "hw.strength" and f["subject"] == "evidence"]
        assert "ak_binding is none" in lowered["message"]
    else:
        # A clean file: its quote carries the nonce the file records (freshness is hw.nonce's, optional here).
        assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "skip")]
        # Its twin: the quote was made over another nonce than the one the file's signed facts carry.
        code, report = intake_evidence(workspace, tmp_path, dict(reads.first, tpm=quoted.other_nonce),
                                       policy.replace("[suppliers]", tpm_rules))
        assert code == 1
        assert "tpm.quote.nonce" in failing(report)
