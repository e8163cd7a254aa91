"""The policy loader: every documented key is read, bad and empty policies are exit 2 naming line and key."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from tests.helpers import REPO, assert_clean_error, run_cli
from verifier.errors import PolicyError
from verifier.model import Strength
from verifier.policy.combine import all_of
from verifier.policy.loading import load_policy, parse_policy

EXAMPLE = REPO / "docs" / "policy.example.toml"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "vendor.pub").write_text("placeholder: the loader only checks that the file exists\n")
    (tmp_path / "keys" / "ncc_group_srp.pub").write_text("placeholder: the loader only checks that the file exists\n")
    target = tmp_path / "policy.toml"
    shutil.copy(EXAMPLE, target)
    return target


def _leaf_keys(data: object, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict) and key != "thresholds":
                out |= _leaf_keys(value, path)
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    out |= _leaf_keys(item, path)
            else:
                out.add(path)
    return out


def test_example_documents_and_sets_every_key(example: Path) -> None:
    policy = load_policy(example)
    text = EXAMPLE.read_text()
    # Every key the example sets is preceded by a comment explaining it.
    for key in _leaf_keys(tomllib.loads(text)):
        assert key.split(".")[-1] in text
    assert policy.strict is False
    (rule,) = policy.signers
    assert rule.keys == (example.parent / "keys" / "vendor.pub",)
    assert rule.threshold == 1
    assert rule.threshold_for("https://provcheck.dev/firmware-manifest/v1") == 1
    assert rule.sigstore[0].issuer == "https://token.actions.githubusercontent.com"
    assert rule.sigstore[0].staging is False
    assert policy.attestations.required == {
        "https://provcheck.dev/firmware-manifest/v1",
        "https://provcheck.dev/device-manifest/v1",
    }
    assert policy.attestations.max_age_days == 365
    assert policy.attestations.builder_id == "https://github.com/acme/builders/release@v1"
    assert policy.attestations.source_uri and policy.attestations.source_uri.startswith("git+https://")
    assert policy.firmware.required is True
    assert policy.firmware.fail == ("firmware.hidden-function", "firmware.constructor")
    assert policy.firmware.warn == ("firmware.entropy",)
    assert policy.firmware.allow[0].name == "diag_selftest"
    assert policy.firmware.allow[0].reason.startswith("vendor advisory")
    assert policy.device.required is True
    assert policy.device.required_fields == {"manufacturer", "model", "serial"}
    assert policy.device.required_strength == {"serial": Strength.REPORTED, "firmware_regions": Strength.MEASURED}
    assert policy.device.component_serials == "match"
    assert policy.device.region_digests is True
    assert policy.device.require_nonce is False
    assert policy.tpm.require_quote is False
    assert policy.tpm.require_secure_boot is False
    (suppliers,) = policy.suppliers
    assert "intel" in suppliers.allowed
    assert suppliers.blocked == {"shady components ltd"}
    assert suppliers.allowed_countries == {"DE", "US", "TW", "NL"}
    assert suppliers.blocked_countries == {"XX"}
    assert suppliers.concentration_warning == 0.5
    assert suppliers.require_origin is False
    assert re.fullmatch("[0-9a-f]{64}", policy.digest)


def test_firmware_disposition(example: Path) -> None:
    policy = load_policy(example)
    assert policy.firmware_disposition("firmware.export", ["diag_selftest"])[0] == "allow"
    # Allowed only when every name the finding reports is allowed.
    assert policy.firmware_disposition("firmware.export", ["diag_selftest", "backdoor"])[0] == "keep"
    assert policy.firmware_disposition("firmware.export", ["backdoor"])[0] == "keep"
    assert policy.firmware_disposition("firmware.hidden-function", ["sub_401000"])[0] == "fail"
    assert policy.firmware_disposition("firmware.hidden-function", [])[0] == "fail"
    assert policy.firmware_disposition("firmware.entropy", [".text"])[0] == "warn"
    assert policy.firmware_disposition("firmware.capability", [])[0] == "keep"


def test_allowed_deviation_never_covers_what_a_finding_could_not_name(example: Path) -> None:
    """A finding listing 50 of 51 exports, or an item without a name, is not allowed by the names it shows."""
    from verifier.checks.firmware_policy import apply_firmware_policy
    from verifier.model import Status, failed

    policy = load_policy(example)
    listed = failed("firmware.export", "1 new export", "fw", exports=[{"name": "diag_selftest"}], count=1)
    cut_short = failed("firmware.export", "2 new exports", "fw", exports=[{"name": "diag_selftest"}], count=2)
    unnamed = failed("firmware.export", "2 new exports", "fw", exports=[{"name": "diag_selftest"}, {"offset": 4}])
    judged = apply_firmware_policy([listed, cut_short, unnamed], policy)
    assert [f.status for f in judged] == [Status.PASS, Status.FAIL, Status.FAIL]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("threshold = 1\n", "treshold = 1\n", "signers.treshold", "did you mean 'threshold'"),
        ("threshold = 1\n", 'threshold = "one"\n', "signers.threshold", "integer"),
        ("threshold = 1\n", "threshold = 5\n", "signers.threshold", "only 2 are trusted"),
        ('serial = "reported"', 'serial = "notarised"', "device.required_strength.serial", "signed, measured"),
        ('component_serials = "match"', 'component_serials = "maybe"', "device.component_serials", "match"),
        ('"XX"]', '"Narnia"]', "suppliers.blocked_countries", "ISO 3166"),
        ("concentration_warning = 0.5", "concentration_warning = 5", "suppliers.concentration_warning", "share"),
        ("require_quote = false", "require_quote = 1", "tpm.require_quote", "true or false"),
        ('name = "diag_selftest"', 'nmae = "diag_selftest"', "firmware.allow[0].nmae", "unknown key"),
        ("max_age_days = 365", "max_age_days = 0", "attestations.max_age_days", "at least 1"),
        ('keys = ["keys/vendor.pub"]', 'keys = ["keys/missing.pub"]', "signers.keys", "not a readable file"),
    ],
)
def test_bad_key_names_line_and_key(example: Path, old: str, new: str, key: str, words: str) -> None:
    text = example.read_text()
    assert old in text
    bad = text.replace(old, new, 1)
    example.write_text(bad)
    with pytest.raises(PolicyError) as info:
        load_policy(example)
    message = str(info.value)
    line = _line_of(bad, new.strip())
    assert f"{example}:{line}:" in message, message
    assert f"key '{key}'" in message
    assert words in message


def test_toml_syntax_error_names_line(example: Path) -> None:
    text = example.read_text().replace("strict = false", "strict = = false")
    example.write_text(text)
    with pytest.raises(PolicyError, match=rf"{example}:{_line_of(text, 'strict = =')}: key 'strict': not valid TOML"):
        load_policy(example)


def test_unknown_top_level_table_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("version = 1\n[device]\nrequired = true\n\n[allow_all]\nyes = true\n")
    with pytest.raises(PolicyError, match=r"p.toml:5: key 'allow_all': unknown key"):
        load_policy(path)


@pytest.mark.parametrize(
    "text",
    ["", "# only comments\n", "version = 1\n", "version = 1\nstrict = true\n[device]\nrequired = false\n"],
    ids=["empty", "comments", "version-only", "requires-nothing"],
)
def test_policy_that_requires_nothing_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=r"requires nothing|is empty"):
        load_policy(path)


def test_required_attestations_need_signers(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('version = 1\n[attestations]\nrequired = ["https://provcheck.dev/firmware-manifest/v1"]\n')
    with pytest.raises(PolicyError, match=r"p.toml:3: key 'attestations.required': needs trusted signers"):
        load_policy(path)


def test_missing_version_and_future_version(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[device]\nrequired = true\n")
    with pytest.raises(PolicyError, match="version"):
        load_policy(path)
    path.write_text("version = 2\n[device]\nrequired = true\n")
    with pytest.raises(PolicyError, match=r"p.toml:1: key 'version': is 2"):
        load_policy(path)


def test_all_of_is_the_strictest_reading_and_empty_fails(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no policy"):
        all_of([])
    key = tmp_path / "k.pub"
    key.write_text("x")
    a = parse_policy(
        'version = 1\n[signers]\nkeys = ["k.pub"]\n[attestations]\nrequired = ["https://a.example/x"]\n'
        'max_age_days = 30\n[[firmware.allow]]\ncheck = "firmware.export"\nname = "a"\nreason = "ok"\n'
        '[device.required_strength]\nserial = "measured"\n',
        tmp_path / "a.toml",
    )
    b = parse_policy(
        'version = 1\nstrict = true\n[device]\nrequired = true\ncomponent_serials = "require"\n'
        '[device.required_strength]\nserial = "signed"\n[suppliers]\nblocked = ["Evil"]\n',
        tmp_path / "b.toml",
    )
    both = all_of([a, b])
    assert both.strict
    assert both.device.required and both.device.component_serials == "require"
    assert both.device.required_strength["serial"] is Strength.SIGNED
    assert both.attestations.max_age_days == 30
    assert both.firmware.allow == ()  # b allows nothing, so the combination allows nothing
    assert len(both.suppliers) == 1 and len(both.signers) == 1
    assert both.digest not in (a.digest, b.digest)


def test_oversized_binary_and_directory_policies(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (2 << 20))
    with pytest.raises(PolicyError, match="too large"):
        load_policy(big)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PolicyError, match="UTF-8"):
        load_policy(binary)
    with pytest.raises(PolicyError, match="directory"):
        load_policy(tmp_path)
    with pytest.raises(PolicyError, match="no such"):
        load_policy(tmp_path / "absent.toml")


def test_cli_bad_policy_is_exit_2_with_line(example: Path, tmp_path: Path) -> None:
    example.write_text(example.read_text().replace("threshold = 1\n", "treshold = 1\n", 1))
    release = tmp_path / "release"
    release.mkdir()
    result = run_cli(["intake", "--release", release, "--policy", example])
    assert_clean_error(result, 2)
    assert "signers.treshold" in result.stderr


def test_tpm_ak_binding_defaults_to_none_and_reads_pinned_keys(example: Path) -> None:
    assert load_policy(example).tpm.ak_binding == "none"
    keyid = "AB" * 32
    text = example.read_text().replace('ak_binding = "none"', 'ak_binding = "pinned"')
    text = text.replace("pinned_ak_keyids = []", f'pinned_ak_keyids = ["{keyid}"]')
    example.write_text(text)
    policy = load_policy(example)
    assert policy.tpm.ak_binding == "pinned"
    assert policy.tpm.pinned_ak_keyids == (keyid.lower(),)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('ak_binding = "none"', 'ak_binding = "trust-me"', "none, pinned, ek, activated"),
        ('ak_binding = "none"', 'ak_binding = "pinned"', "needs at least one pinned AK key id"),
        ("pinned_ak_keyids = []", 'pinned_ak_keyids = ["not-hex"]', "64 hex digits"),
    ],
)
def test_tpm_ak_binding_errors_name_the_key(example: Path, old: str, new: str, words: str) -> None:
    example.write_text(example.read_text().replace(old, new, 1))
    with pytest.raises(PolicyError) as info:
        load_policy(example)
    assert "tpm." in str(info.value) and words in str(info.value)


def test_tpm_ak_binding_all_of_keeps_the_stronger_binding(example: Path, tmp_path: Path) -> None:
    from verifier.policy.combine import all_of

    weak = load_policy(example)
    strong_path = tmp_path / "strong.toml"
    strong_path.write_text(example.read_text().replace('ak_binding = "none"', 'ak_binding = "ek"'))
    strong = load_policy(strong_path)
    assert all_of([weak, strong]).tpm.ak_binding == "ek"
    assert all_of([strong, weak]).tpm.ak_binding == "ek"


@pytest.mark.parametrize(
    ("old", "new", "key", "nearest"),
    [
        (
            'fail = ["firmware.hidden-function"',
            'fail = ["firmware.hiden-*"',
            "firmware.fail",
            "firmware.hidden-function",
        ),
        ('warn = ["firmware.entropy"]', 'warn = ["firmware.entropie"]', "firmware.warn", "firmware.entropy"),
        ('check = "firmware.export"', 'check = "firmware.exprt"', "firmware.allow[0].check", "firmware.export"),
    ],
)
def test_policy_pattern_that_names_no_check_is_exit_2_naming_the_nearest(
    example: Path, tmp_path: Path, old: str, new: str, key: str, nearest: str
) -> None:
    """A typo in a check-id pattern matched nothing and was accepted silently: the rule it meant never applied."""
    assert old in example.read_text()
    example.write_text(example.read_text().replace(old, new, 1))
    release = tmp_path / "release"
    release.mkdir()
    result = run_cli(["intake", "--release", release, "--policy", example])
    assert_clean_error(result, 2)
    assert f"key '{key}'" in result.stderr
    assert f"did you mean '{nearest}'?" in result.stderr


def test_firmware_pattern_naming_only_other_checks_is_refused(example: Path) -> None:
    """[firmware] fail/warn/allow act on firmware findings only: "hw.*" there would never apply."""
    example.write_text(example.read_text().replace('warn = ["firmware.entropy"]', 'warn = ["hw.*"]', 1))
    with pytest.raises(PolicyError, match=r"key 'firmware.warn': 'hw.\*': names no firmware check"):
        load_policy(example)


def test_firmware_globs_that_match_catalogued_checks_load(example: Path) -> None:
    example.write_text(example.read_text().replace('warn = ["firmware.entropy"]', 'warn = ["firmware.authenticode*"]'))
    assert load_policy(example).firmware.warn == ("firmware.authenticode*",)


def test_bench_plan_errors_are_plan_errors_not_policy_errors(tmp_path: Path) -> None:
    """The TOML reader is shared, but a bad plan once raised PolicyError: the plan is not a policy."""
    from verifier.errors import PlanError
    from verifier.workflows.bench import load_plan

    plan = tmp_path / "plan.toml"
    for text, words in (
        ("version = 1\n[defaults]\ntimeout = = 3\n", "plan.toml:3: key 'timeout': not valid TOML"),
        ("version = 1\n[[device]]\nname = 'a'\nprot = 'x'\n", "plan.toml:4: key 'device[0].prot': unknown key"),
        ("version = 1\n", "lists no [[device]]"),
    ):
        plan.write_text(text)
        with pytest.raises(PlanError) as info:
            load_plan(plan)
        assert not isinstance(info.value, PolicyError) and words in str(info.value)
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(tmp_path / "absent.toml")
