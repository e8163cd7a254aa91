"""Every simulator tamper knob: the honest device passes, each tamper fails exactly the expected check,
and line faults are never taken for tampering."""

from __future__ import annotations

import random

import pytest

from hw.sim import SIM_PROFILES, TAMPERS, TRANSPORT_FAULTS, Simulator
from tests.hw.simulated import read_and_judge
from verifier.model import Status, Verdict

# profile, knob -> the checks that must fail (empty: the reader copes and the device passes).
CONSOLES = tuple(p for p in SIM_PROFILES if p != "spdm")
EXPECTED_FAILURES: dict[tuple[str, str], set[str]] = {
    **{(p, "swapped-firmware"): {"hw.region"} for p in CONSOLES},
    **{(p, "changed-serial"): {"hw.serial-number"} for p in CONSOLES},
    **{(p, "swapped-component"): {"hw.components"} for p in CONSOLES},
    ("attest", "replayed-nonce"): {"hw.nonce"},
    ("linux", "replayed-nonce"): {"tpm.quote.nonce"},
    ("attest", "bad-signature"): {"hw.attest-signature"},
    ("attest", "wrong-device-key"): {"hw.identity-key"},
    **{(p, "lost-before-attach"): set() for p in CONSOLES},
    **{(p, "slow"): set() for p in SIM_PROFILES},
    ("uboot", "missing-commands"): set(),
    ("linux", "missing-commands"): set(),
    ("uboot", "fake-prompts"): set(),
    ("linux", "fake-prompts"): set(),
    ("spdm", "swapped-firmware"): {"spdm.measurement-mismatch"},
    ("spdm", "bad-signature"): {"spdm.signature"},
    ("spdm", "other-key"): {"spdm.signature"},
    ("spdm", "flipped-measurement"): {"spdm.signature"},
    ("spdm", "replayed-nonce"): {"spdm.signature"},
    ("spdm", "wrong-device-key"): {"spdm.chain", "hw.identity-key"},
    # The declared values are SHA-384 digests; a policy that forbids SHA-256 fails spdm.algorithm too.
    ("spdm", "weak-algorithms"): {"spdm.measurement-mismatch"},
}
# Knobs that stop the session: inconclusive (exit 3) within the read timeout, never a failure.
INCONCLUSIVE_KNOBS = {("spdm", "silent"), ("spdm", "truncated")}


def test_every_knob_is_covered() -> None:
    covered = {knob for _, knob in EXPECTED_FAILURES} | set(TRANSPORT_FAULTS) | {k for _, k in INCONCLUSIVE_KNOBS}
    assert covered == set(TAMPERS)
    for knob, (profiles, _) in TAMPERS.items():
        if knob in TRANSPORT_FAULTS:
            continue
        expected = {p for p, k in EXPECTED_FAILURES if k == knob} | {p for p, k in INCONCLUSIVE_KNOBS if k == knob}
        assert expected == set(profiles), knob


@pytest.mark.parametrize(("profile", "knob"), sorted(INCONCLUSIVE_KNOBS))
def test_session_stopping_knob_is_inconclusive_within_the_read_timeout(profile: str, knob: str) -> None:
    import time

    started = time.monotonic()
    outcome = read_and_judge(profile, [knob], read_timeout=0.5)
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert outcome.error is not None and outcome.error.exit_code == 3
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("profile", SIM_PROFILES)
def test_honest_device_passes(profile: str) -> None:
    outcome = read_and_judge(profile)
    assert outcome.verdict is Verdict.PASS, [f.to_json() for f in outcome.findings if f.status is not Status.PASS]
    assert outcome.evidence is not None and outcome.evidence.profile == profile


@pytest.mark.parametrize(("profile", "knob"), sorted(EXPECTED_FAILURES))
def test_tamper_fails_exactly_the_expected_check(profile: str, knob: str) -> None:
    outcome = read_and_judge(profile, [knob], slow_seconds=0.05)
    expected = EXPECTED_FAILURES[(profile, knob)]
    assert outcome.error is None, outcome.error
    assert outcome.failing == expected, [f.to_json() for f in outcome.findings if f.status is not Status.PASS]
    assert outcome.verdict is (Verdict.FAIL if expected else Verdict.PASS)


def test_missing_commands_fall_back_to_crc32_and_dump() -> None:
    outcome = read_and_judge("uboot", ["missing-commands"])
    assert outcome.evidence is not None
    methods = {r.method for r in outcome.evidence.regions}
    assert methods == {"crc32", "md.b"}
    assert any(r.weak for r in outcome.evidence.regions if r.method == "crc32")


def test_tamper_that_does_not_apply_is_refused() -> None:
    with pytest.raises(ValueError, match="does not apply"):
        Simulator("uboot", tamper=["bad-signature"])
    with pytest.raises(ValueError, match="unknown tamper"):
        Simulator("uboot", tamper=["no-such-knob"])


@pytest.mark.parametrize(("profile", "fault"), [(p, f) for p in SIM_PROFILES for f in TRANSPORT_FAULTS])
def test_transport_fault_is_inconclusive(profile: str, fault: str) -> None:
    outcome = read_and_judge(profile, [fault], tamper_rate=0.05, read_timeout=0.5, disconnect_after=300,
                             max_output=1 << 18)
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert outcome.error is not None and outcome.error.exit_code == 3


def test_line_faults_never_fail_over_randomized_runs() -> None:
    """100 seeded runs of random profile, fault and rate: pass or inconclusive, never fail."""
    seen: dict[str, int] = {}
    for seed in range(100):
        rng = random.Random(seed)
        profile = rng.choice(SIM_PROFILES)
        fault = rng.choice(TRANSPORT_FAULTS)
        outcome = read_and_judge(
            profile, [fault], seed=seed, tamper_rate=rng.choice([0.0005, 0.002, 0.01, 0.05]),
            read_timeout=0.25, timeout=10, disconnect_after=rng.randrange(50, 4000), max_output=1 << 18,
        )
        assert outcome.verdict is not Verdict.FAIL, (seed, profile, fault, outcome.failing)
        seen[outcome.verdict.value] = seen.get(outcome.verdict.value, 0) + 1
    assert seen.get("inconclusive", 0) > 50, seen


def test_linux_login_with_credentials() -> None:
    from hw.errors import DeviceProtocolError
    from hw.reader import read_device
    from hw.sim import DeviceConfig
    from verifier.checks.device import check_device
    from verifier.declared.device_manifest import manifest_from_predicate
    from verifier.model import judge

    config = DeviceConfig(username="operator", password="s3cret")
    with Simulator("linux", config=config) as sim:
        manifest = manifest_from_predicate(sim.declared_manifest())
        evidence = read_device(sim.port, profile="auto", timeout=30, read_timeout=2, username="operator",
                               password="s3cret", regions=manifest.region_specs())
    assert evidence.profile == "linux"
    assert judge(check_device(evidence, manifest)) is Verdict.PASS
    with Simulator("linux", config=config) as sim, pytest.raises(DeviceProtocolError, match="--username"):
        read_device(sim.port, profile="linux", timeout=30, read_timeout=2)
