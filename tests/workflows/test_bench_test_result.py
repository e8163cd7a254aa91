"""``provcheck bench`` writes each device's result as an in-toto test-result statement, and ``attest verify
--predicate-type`` checks it: signed with the operator's key, bound to the evidence read from the device.

One signed bench run (an honest device and one whose serial was changed) is shared by the module; the statements it
wrote are then verified, and attacked the way someone holding the files would: a flipped payload byte, another key,
a statement of another type in the same file, a duplicate or case-folded key that two JSON readers read apart, a
result that contradicts its own list of failed tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from attestations.dsse import envelopes_to_jsonl, sign_envelope
from attestations.files import write_private
from attestations.keys import generate_private_key, load_signer, private_pem, public_pem
from attestations.predicates import INTOTO_PAYLOAD_TYPE, INTOTO_TEST_RESULT
from attestations.statement import Subject, build_statement, parse_statement
from attestations.testresult import ResourceDescriptor, TestResult
from tests.helpers import assert_clean_error, run_cli
from tests.workflows.conftest import Workspace
from verifier.model import Report, errored, failed, passed, skipped, warned

PASSPHRASE = "bench-operator-passphrase"


@dataclass(frozen=True)
class BenchRun:
    reports: Path
    summary: dict[str, Any]
    key: Path
    pub: Path
    plan: Path


def _plan(ws: Workspace, path: Path, devices: list[tuple[str, str]]) -> Path:
    text = (
        "version = 1\n[defaults]\n"
        f"release = '{ws.release}'\npolicy = ['{ws.policy}']\nfirmware = '{ws.firmware}'\n"
        "profile = 'attest'\ntimeout = 60\n"
    )
    for name, port in devices:
        text += f"\n[[device]]\nname = '{name}'\nport = '{port}'\n"
    path.write_text(text)
    return path


def _operator_key(directory: Path) -> tuple[Path, Path]:
    """An encrypted operator key, as a lab keeps it, and its public half."""
    signer = generate_private_key("ecdsa-p256")
    key, pub = directory / "bench-operator.key", directory / "bench-operator.pub"
    write_private(key, private_pem(signer, PASSPHRASE.encode()))
    pub.write_bytes(public_pem(signer.public))
    return key, pub


@pytest.fixture(scope="module")
def signed_run(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchRun]:
    from hw.sim import Simulator
    from verifier.workflows.demo import _device_config, demo_firmware

    root = tmp_path_factory.mktemp("bench-test-result")
    sims = [
        Simulator("attest", config=_device_config(demo_firmware()), tamper=tamper)
        for tamper in ((), ("changed-serial",))
    ]
    for sim in sims:
        sim.start()
    try:
        key, pub = _operator_key(root)
        plan = _plan(workspace, root / "plan.toml", [("good", sims[0].port), ("tampered", sims[1].port)])
        result = run_cli(
            ["bench", "--plan", plan, "--report-dir", root / "reports", "--no-history", "--format", "json",
             "--key", key, "--passphrase-env", "BENCH_KEY_PASSPHRASE"],
            env={"BENCH_KEY_PASSPHRASE": PASSPHRASE},
            timeout=300,
        )
        assert result.returncode == 1, result.stderr
        yield BenchRun(root / "reports", json.loads(result.stdout), key, pub, plan)
    finally:
        for sim in sims:
            sim.stop()


def _envelope(path: Path) -> dict[str, Any]:
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1, "one signed statement per device"
    envelope: dict[str, Any] = json.loads(lines[0])
    return envelope


def _statement(path: Path) -> dict[str, Any]:
    envelope = _envelope(path)
    assert envelope["payloadType"] == INTOTO_PAYLOAD_TYPE
    payload = base64.b64decode(envelope["payload"])
    parse_statement(payload)  # the strict reader accepts what bench wrote
    statement: dict[str, Any] = json.loads(payload)
    return statement


def _verify(path: Path, pub: Path, *extra: object) -> tuple[int, dict[str, list[dict[str, Any]]], str]:
    result = run_cli(["attest", "verify", *extra, "--bundle", path, "--key", pub,
                      "--predicate-type", INTOTO_TEST_RESULT, "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    by_check: dict[str, list[dict[str, Any]]] = {}
    if result.stdout.strip():
        for finding in json.loads(result.stdout)["findings"]:
            by_check.setdefault(finding["check"], []).append(finding)
    return result.returncode, by_check, result.stderr


def _sha(path: Path, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()


def test_each_device_gets_a_signed_statement_of_its_own_result(signed_run: BenchRun, workspace: Workspace) -> None:
    summary = {f["subject"]: f for f in signed_run.summary["findings"]}
    for name, result in (("good", "PASSED"), ("tampered", "FAILED")):
        folder = signed_run.reports / name
        signed = folder / "test-result.intoto.jsonl"
        assert signed.is_file() and not (folder / "test-result.intoto.json").exists()
        assert summary[name]["evidence"]["test_result"] == str(signed)
        statement = _statement(signed)
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["predicateType"] == INTOTO_TEST_RESULT
        predicate = statement["predicate"]
        assert predicate["result"] == result
        report = json.loads((folder / "report.json").read_text())
        failing = sorted({f["check"] for f in report["findings"] if f["status"] in ("fail", "error")})
        assert predicate["failedTests"] == failing
        assert not set(predicate["passedTests"]) & set(predicate["failedTests"])
        assert "attest.signature" in predicate["passedTests"]
        assert predicate["url"] == (folder / "report.json").resolve().as_uri()

        # The subject is the device, bound by digest to the evidence read from it, and the firmware.
        evidence = json.loads((folder / "evidence.json").read_text())
        serial = evidence["identity"]["serial"]["value"]
        subjects = {s["name"]: s["digest"] for s in statement["subject"]}
        evidence_path = folder / "evidence.json"
        assert subjects[f"device:{serial}"] == {"sha256": _sha(evidence_path), "sha512": _sha(evidence_path, "sha512")}
        assert subjects[workspace.firmware.name]["sha256"] == _sha(workspace.firmware)

        # The configuration: the policy, the release's signed bundle, the profile and the plan, by digest.
        configuration = {c["name"]: c for c in predicate["configuration"]}
        assert configuration[f"policy:{workspace.policy.name}"]["digest"]["sha256"] == _sha(workspace.policy)
        bundle = workspace.release / "release.intoto.jsonl"
        assert configuration[f"release:{workspace.release.name}"]["digest"]["sha256"] == _sha(bundle)
        assert configuration["profile"]["uri"] == "urn:provcheck:profile:attest"
        plan = configuration["plan:plan.toml"]
        assert plan["digest"]["sha256"] == _sha(signed_run.plan)
        assert plan["annotations"] == {"device": name, "strict": False}
        TestResult.from_dict(predicate)  # the typed reader takes it as written
    tampered = _statement(signed_run.reports / "tampered" / "test-result.intoto.jsonl")["predicate"]
    assert "hw.serial-number" in tampered["failedTests"]
    good = _statement(signed_run.reports / "good" / "test-result.intoto.jsonl")["predicate"]
    assert good["failedTests"] == [] and good["warnedTests"] == []
    assert "hw.serial-number" in good["passedTests"]


def test_attest_verify_accepts_the_good_device_and_reports_the_tampered_one(signed_run: BenchRun) -> None:
    good = signed_run.reports / "good"
    code, findings, stderr = _verify(good / "test-result.intoto.jsonl", signed_run.pub, good / "evidence.json")
    assert code == 0, (findings, stderr)
    assert [f["status"] for f in findings["attest.signature"]] == ["pass"]
    assert [f["status"] for f in findings["attest.predicate-type"]] == ["pass"]
    assert [f["status"] for f in findings["attest.subject"]] == ["pass"]  # evidence.json is the subject
    shown = findings["attest.test-result"][0]
    assert shown["status"] == "pass" and "PASSED" in shown["message"]
    assert shown["evidence"]["result"] == "PASSED" and shown["evidence"]["failed_tests"] == []

    tampered = signed_run.reports / "tampered"
    code, findings, stderr = _verify(tampered / "test-result.intoto.jsonl", signed_run.pub)
    assert code == 1, (findings, stderr)
    assert [f["status"] for f in findings["attest.signature"]] == ["pass"]  # genuine: it records a failure
    shown = findings["attest.test-result"][0]
    assert shown["status"] == "fail" and "hw.serial-number" in shown["message"]


def test_wrong_key_fails(signed_run: BenchRun, workspace: Workspace) -> None:
    code, findings, _ = _verify(signed_run.reports / "good" / "test-result.intoto.jsonl", workspace.paths["vendor_pub"])
    assert code == 1
    assert [f["status"] for f in findings["attest.signature"]] == ["fail"]
    assert "attest.test-result" not in findings  # nothing unverified is shown as a result


@pytest.mark.parametrize(("old", "new"), [(b'"result":"FAILED"', b'"result":"PASSED"'), (b"hw.serial", b"hw.serjal")])
def test_a_changed_payload_byte_fails(signed_run: BenchRun, tmp_path: Path, old: bytes, new: bytes) -> None:
    """The tampered device's FAILED turned into PASSED, or one failing check renamed: the signature no longer holds."""
    envelope = _envelope(signed_run.reports / "tampered" / "test-result.intoto.jsonl")
    payload = base64.b64decode(envelope["payload"])
    assert old in payload
    envelope["payload"] = base64.b64encode(payload.replace(old, new, 1)).decode()
    forged = tmp_path / "forged.intoto.jsonl"
    forged.write_text(json.dumps(envelope) + "\n")
    code, findings, _ = _verify(forged, signed_run.pub)
    assert code == 1
    assert [f["status"] for f in findings["attest.signature"]] == ["fail"]
    assert "attest.test-result" not in findings


def _sign(statement: dict[str, Any] | bytes, key: Path) -> bytes:
    payload = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
    signer = load_signer(key, PASSPHRASE.encode())
    return envelopes_to_jsonl([sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [signer])])


def test_only_test_result_statements_count(signed_run: BenchRun, workspace: Workspace, tmp_path: Path) -> None:
    good = signed_run.reports / "good" / "test-result.intoto.jsonl"
    statement = _statement(good)
    # The same key signs a statement of another type about the same device, put beside the genuine one.
    other = {**statement, "predicateType": "https://slsa.dev/verification_summary/v1",
             "predicate": {"verificationResult": "PASSED", "verifier": {"id": "https://example.com/v"}}}
    mixed = tmp_path / "mixed.intoto.jsonl"
    mixed.write_bytes(good.read_bytes() + _sign(other, signed_run.key))
    code, findings, _ = _verify(mixed, signed_run.pub)
    assert code == 1
    wrong = [f for f in findings["attest.predicate-type"] if f["status"] == "fail"]
    assert len(wrong) == 1 and "https://slsa.dev/verification_summary/v1" in wrong[0]["message"]
    assert "attest.vsa" not in findings  # the other statement was not counted at all

    # A type that only looks like it (another version), alone in its file.
    lookalike = tmp_path / "v0.2.intoto.jsonl"
    lookalike.write_bytes(_sign({**statement, "predicateType": INTOTO_TEST_RESULT.replace("v0.1", "v0.2")},
                                signed_run.key))
    code, findings, _ = _verify(lookalike, signed_run.pub)
    assert code == 1
    assert "test-result/v0.2" in findings["attest.predicate-type"][0]["message"]

    # The vendor's release holds no test result at all: each of its statements fails, naming its type.
    code, findings, _ = _verify(workspace.release / "release.intoto.jsonl", workspace.paths["vendor_pub"])
    assert code == 1
    messages = " ".join(f["message"] for f in findings["attest.predicate-type"])
    assert "https://provcheck.dev/release-index/v1" in messages
    assert all(f["status"] == "fail" for f in findings["attest.predicate-type"])

    # Without --predicate-type every statement counts, and the test result is still shown.
    result = run_cli(["attest", "verify", "--bundle", mixed, "--key", signed_run.pub, "--format", "json"])
    checks = {f["check"] for f in json.loads(result.stdout)["findings"]}
    assert {"attest.test-result", "attest.vsa"} <= checks and "attest.predicate-type" not in checks


@pytest.mark.parametrize(
    "splice",
    [
        # A key twice: Python keeps the last (PASSED), others the first (FAILED).
        lambda p: p.replace(b'"result":"FAILED"', b'"result":"FAILED","result":"PASSED"', 1),
        # Keys equal under case folding: a Go reader fills failedTests from FailedTests.
        lambda p: p.replace(b'"failedTests":', b'"FailedTests":[],"failedTests":', 1),
        # A lone surrogate in a test name.
        lambda p: p.replace(b'"hw.serial-number"', b'"hw.serial-number\\ud800"', 1),
    ],
    ids=["duplicate-result", "case-folded-key", "lone-surrogate"],
)
def test_a_signed_statement_two_readers_read_apart_is_bad_input(
    signed_run: BenchRun, tmp_path: Path, splice: Any
) -> None:
    envelope = _envelope(signed_run.reports / "tampered" / "test-result.intoto.jsonl")
    payload = splice(base64.b64decode(envelope["payload"]))
    ambiguous = tmp_path / "ambiguous.intoto.jsonl"
    ambiguous.write_bytes(_sign(payload, signed_run.key))  # validly signed: only the reading can refuse it
    result = run_cli(["attest", "verify", "--bundle", ambiguous, "--key", signed_run.pub,
                      "--predicate-type", INTOTO_TEST_RESULT])
    assert_clean_error(result, 2)
    assert "ambiguous JSON" in result.stderr


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"result": "PASSED"}, "lists failed tests"),  # the label says pass, the list says otherwise
        ({"result": "WARNED"}, "lists failed tests"),
    ],
)
def test_a_result_contradicting_its_own_list_fails(
    signed_run: BenchRun, tmp_path: Path, change: dict[str, str], words: str
) -> None:
    statement = _statement(signed_run.reports / "tampered" / "test-result.intoto.jsonl")
    statement["predicate"].update(change)
    path = tmp_path / "contradiction.intoto.jsonl"
    path.write_bytes(_sign(statement, signed_run.key))
    code, findings, _ = _verify(path, signed_run.pub)
    assert code == 1
    shown = findings["attest.test-result"][0]
    assert shown["status"] == "fail" and words in shown["message"]


@pytest.mark.parametrize(
    ("predicate", "field"),
    [
        ({"result": "passed", "configuration": []}, "result"),
        ({"result": "PASSED"}, "configuration"),
        ({"result": "PASSED", "configuration": [{"name": "x"}]}, "configuration[0]"),
        ({"result": "PASSED", "configuration": [{"digest": {"sha256": "00"}}]}, "configuration[0].digest"),
        ({"result": "PASSED", "configuration": [], "failedTests": [1]}, "failedTests"),
        ({"result": "PASSED", "configuration": [], "url": 3}, "url"),
    ],
)
def test_malformed_predicate_is_bad_input_naming_the_field(
    signed_run: BenchRun, tmp_path: Path, predicate: dict[str, Any], field: str
) -> None:
    from attestations.errors import InputError

    with pytest.raises(InputError, match=field.replace("[", r"\[").replace("]", r"\]")):
        TestResult.from_dict(predicate)
    payload = build_statement([Subject("device:x", {"sha256": "0" * 64})], "https://example.com/other", {})
    statement = {**json.loads(payload), "predicateType": INTOTO_TEST_RESULT, "predicate": predicate}
    path = tmp_path / "malformed.intoto.jsonl"
    path.write_bytes(_sign(statement, signed_run.key))
    result = run_cli(["attest", "verify", "--bundle", path, "--key", signed_run.pub,
                      "--predicate-type", INTOTO_TEST_RESULT])
    assert_clean_error(result, 2)
    assert field.split("[")[0] in result.stderr


def test_unsigned_run_writes_the_bare_statement_and_a_rerun_replaces_it(
    workspace: Workspace, simulator: Any, tmp_path: Path
) -> None:
    plan = _plan(workspace, tmp_path / "plan.toml", [("good", simulator().port)])
    reports = tmp_path / "reports"
    result = run_cli(["bench", "--plan", plan, "--report-dir", reports, "--no-history", "--format", "json"],
                     timeout=300)
    assert result.returncode == 0, result.stderr
    folder = reports / "good"
    unsigned = folder / "test-result.intoto.json"
    assert unsigned.is_file() and not (folder / "test-result.intoto.jsonl").exists()
    data = unsigned.read_bytes()
    statement = parse_statement(data.rstrip(b"\n"))  # canonical JSON, read by the strict reader
    assert statement.predicate_type == INTOTO_TEST_RESULT
    assert TestResult.from_dict(statement.predicate).result == "PASSED"
    assert json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode() + b"\n" == data
    # It vouches for nothing: attest verify refuses an unsigned statement.
    refused = run_cli(["attest", "verify", "--bundle", unsigned, "--key", workspace.paths["operator_pub"],
                       "--predicate-type", INTOTO_TEST_RESULT])
    assert_clean_error(refused, 2)
    assert "unsigned" in refused.stderr

    # Run again into the same directory, signed this time: the intake takes the directory back (the statement is
    # one of the files it may replace), and only the signed statement is left.
    again = run_cli(["bench", "--plan", plan, "--report-dir", reports, "--no-history", "--format", "json",
                     "--key", workspace.paths["operator_key"]], timeout=300)
    assert again.returncode == 0, again.stderr
    assert (folder / "test-result.intoto.jsonl").is_file() and not unsigned.exists()
    code, findings, _ = _verify(folder / "test-result.intoto.jsonl", workspace.paths["operator_pub"])
    assert code == 0, findings


def test_key_problems_are_bad_input_before_any_device_is_read(
    signed_run: BenchRun, workspace: Workspace, tmp_path: Path
) -> None:
    plan = _plan(workspace, tmp_path / "plan.toml", [("nobody", "socket://127.0.0.1:9")])
    reports = tmp_path / "reports"
    for args, env, words in (
        (["--key", signed_run.key], {}, "encrypted"),
        (["--key", signed_run.key, "--passphrase-env", "WRONG"], {"WRONG": "nope"}, "wrong passphrase"),
        (["--passphrase-env", "X"], {"X": "y"}, "--key"),
        (["--key", signed_run.key, "--passphrase-env", "UNSET_BENCH_VAR"], {}, "UNSET_BENCH_VAR"),
    ):
        result = run_cli(["bench", "--plan", plan, "--report-dir", reports, "--no-history", *args], env=env)
        assert_clean_error(result, 2)
        assert words in result.stderr
        assert not reports.exists()


def test_the_tally_puts_each_check_in_one_list() -> None:
    from verifier.workflows.bench_result import tally

    findings = (
        passed("a.one", "ok"),
        passed("a.two", "ok"),
        warned("a.two", "but"),
        passed("a.three", "ok"),
        failed("a.three", "no"),
        skipped("a.four", "not run", required=False),
        passed("a.five", "ok"),
        skipped("a.five", "not here", required=False),
    )
    assert tally(Report("t", findings)) == ("FAILED", ["a.five", "a.one"], ["a.two"], ["a.three"])
    assert tally(Report("t", findings[:3]))[0] == "WARNED"
    assert tally(Report("t", findings[:1]))[0] == "PASSED"
    # Under strict a warning is a failure, and so is a skip.
    assert tally(Report("t", findings[:3] + findings[5:6], strict=True)) == (
        "FAILED", ["a.one"], [], ["a.four", "a.two"]
    )
    # Inconclusive is not a pass: an error, or a required check that was skipped, is a failed test.
    assert tally(Report("t", (passed("a.one", "ok"), errored("a.six", "timeout")))) == (
        "FAILED", ["a.one"], [], ["a.six"]
    )
    assert tally(Report("t", (passed("a.one", "ok"), skipped("a.seven", "no evidence")))) == (
        "FAILED", ["a.one"], [], ["a.seven"]
    )


def test_resource_descriptor_round_trips() -> None:
    descriptor = ResourceDescriptor(name="policy:p.toml", uri="file:///p.toml", digest={"sha256": "ab" * 32},
                                    annotations={"k": 1})
    assert ResourceDescriptor.from_dict(descriptor.to_json(), "d") == descriptor


def test_a_device_without_a_report_is_failed_and_bound_to_its_log_not_to_stale_files(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An intake that dies without a report leaves the directory as an earlier run left it: the evidence there is
    not this run's, so the statement does not name it; it names the device by its plan name and binds the log."""
    import sys

    from verifier.workflows import bench

    monkeypatch.setattr(bench, "_intake_command", lambda device, report_dir, options: [
        sys.executable, "-c", "import sys; sys.stderr.write('reader crashed\\n'); sys.exit(3)"])
    plan_path = _plan(workspace, tmp_path / "plan.toml", [("dies", "loop://")])
    # No firmware in the plan, and a release with nothing signed in it (the intake would refuse it).
    (tmp_path / "empty-release").mkdir()
    plan_path.write_text(plan_path.read_text().replace(f"firmware = '{workspace.firmware}'\n", "").replace(
        f"release = '{workspace.release}'", f"release = '{tmp_path / 'empty-release'}'"))
    stale = tmp_path / "reports" / "dies"
    stale.mkdir(parents=True)
    (stale / "evidence.json").write_text('{"stale": true}\n')
    (stale / "report.json").write_text("{}\n")
    run = bench.run_bench(bench.load_plan(plan_path), tmp_path / "reports", jobs=1, options={"no_history": True})
    (outcome,) = run.outcomes
    assert outcome.verdict.value == "inconclusive" and outcome.test_result == stale / "test-result.intoto.json"
    statement = json.loads(outcome.test_result.read_bytes())
    assert statement["predicate"]["result"] == "FAILED"
    assert statement["predicate"]["failedTests"] == ["bench.device"]
    assert "url" not in statement["predicate"]
    release = next(c for c in statement["predicate"]["configuration"] if c["name"] == "release:empty-release")
    assert release == {"name": "release:empty-release", "uri": (tmp_path / "empty-release").resolve().as_uri()}
    assert statement["subject"] == [
        {"name": "bench-device:dies", "digest": {"sha256": _sha(stale / "intake.log"),
                                                 "sha512": _sha(stale / "intake.log", "sha512")}}
    ]


def test_a_statement_that_cannot_be_written_makes_the_device_inconclusive(
    workspace: Workspace, tmp_path: Path
) -> None:
    from verifier.workflows.bench import DeviceOutcome, _with_test_result, load_plan

    plan = load_plan(_plan(workspace, tmp_path / "plan.toml", [("gone", "loop://")]))
    report = Report("gone", (passed("hw.serial-number", "ok"),), subject="gone")
    outcome = DeviceOutcome(plan.devices[0], report, 0, tmp_path / "no-such-directory", 1.0, reported=True)
    after = _with_test_result(outcome, plan, None)
    assert after.test_result is None and after.verdict.value == "inconclusive"
    assert "test-result statement was not written" in after.report.findings[-1].message
