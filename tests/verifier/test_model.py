from __future__ import annotations

import pytest

from verifier.model import ExitCode, Finding, Report, Status, Strength, Verdict, judge


def f(status: Status, *, required: bool = True) -> Finding:
    return Finding("x.check", status, "message", required=required)


def test_all_pass_is_pass() -> None:
    assert judge([f(Status.PASS), f(Status.PASS)]) is Verdict.PASS


def test_any_fail_is_fail_even_next_to_errors() -> None:
    assert judge([f(Status.PASS), f(Status.ERROR), f(Status.FAIL)]) is Verdict.FAIL


def test_error_is_inconclusive() -> None:
    assert judge([f(Status.PASS), f(Status.ERROR)]) is Verdict.INCONCLUSIVE


def test_required_skip_is_inconclusive_optional_skip_is_not() -> None:
    assert judge([f(Status.PASS), f(Status.SKIP)]) is Verdict.INCONCLUSIVE
    assert judge([f(Status.PASS), f(Status.SKIP, required=False)]) is Verdict.PASS


def test_strict_turns_warn_and_skip_into_fail() -> None:
    assert judge([f(Status.PASS), f(Status.WARN)]) is Verdict.PASS
    assert judge([f(Status.PASS), f(Status.WARN)], strict=True) is Verdict.FAIL
    assert judge([f(Status.PASS), f(Status.SKIP, required=False)], strict=True) is Verdict.FAIL


def test_nothing_checked_never_passes() -> None:
    assert judge([]) is Verdict.INCONCLUSIVE
    assert judge([f(Status.WARN)]) is Verdict.INCONCLUSIVE


def test_report_exit_codes_and_reasons() -> None:
    failing = Report("t", (f(Status.PASS), Finding("a.b", Status.FAIL, "bad", "thing")))
    assert failing.exit_code is ExitCode.FAILED
    assert [r.check for r in failing.reasons()] == ["a.b"]
    assert Report("t", (f(Status.PASS),)).exit_code is ExitCode.VERIFIED
    assert Report("t", (f(Status.ERROR),)).exit_code is ExitCode.INCONCLUSIVE
    assert failing.to_json()["verdict"] == "fail"


def test_finding_is_frozen() -> None:
    finding = f(Status.PASS)
    with pytest.raises(AttributeError):
        finding.status = Status.FAIL  # type: ignore[misc]


def test_strength_order() -> None:
    assert Strength.SIGNED.at_least(Strength.MEASURED)
    assert not Strength.REPORTED.at_least(Strength.MEASURED)
