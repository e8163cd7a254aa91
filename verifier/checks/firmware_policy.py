"""The policy's ``[firmware]`` rules over firmware findings: raise, lower, or allow a named deviation.

Each change is recorded in the finding's evidence, so a report shows what the scan found and what the policy made of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from verifier.model import Finding, Status
from verifier.policy.model import Policy


def finding_names(finding: Finding) -> list[str] | None:
    """The names a firmware finding reports (functions, exports, constructors, rules...), for allowed deviations.

    ``None`` when the finding cannot name everything it is about: an item without a name, or a list cut short
    (``count`` above the items listed). Such a finding is never allowed as a whole, since an allowed name could
    otherwise carry along a change nobody named.
    """
    names: list[str] = []
    listed = 0
    for key, value in finding.evidence.items():
        if not isinstance(value, list) or key in _UNNAMED_EVIDENCE:
            continue
        for item in value:
            listed += 1
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, Mapping):
                name = next(
                    (item[k] for k in ("name", "rule", "guid", "address") if isinstance(item.get(k), str) and item[k]),
                    None,
                )
                if name is None:
                    return None
                names.append(name)
            else:
                return None
    count = finding.evidence.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and count > listed:
        return None
    return names


#: evidence lists that describe a finding rather than name what it is about
_UNNAMED_EVIDENCE = frozenset({"problems", "errors"})


def apply_firmware_policy(findings: Iterable[Finding], policy: Policy) -> list[Finding]:
    """Raise, lower or allow firmware findings as the policy says; the change is recorded in the evidence."""
    out = []
    for f in findings:
        if f.status in (Status.PASS, Status.SKIP, Status.ERROR):
            out.append(f)
            continue
        names = finding_names(f)
        disposition, deviations = policy.firmware_disposition(f.check, names, nameable=names is not None)
        if disposition == "allow":
            reasons = "; ".join(d.reason for d in deviations)
            out.append(
                replace(
                    f,
                    status=Status.PASS,
                    message=f"allowed by policy ({reasons}): {f.message}",
                    evidence={**f.evidence, "policy": "allowed deviation", "was": f.status.value},
                )
            )
        elif disposition == "fail" and f.status is Status.WARN:
            out.append(
                replace(f, status=Status.FAIL, evidence={**f.evidence, "policy": "raised to fail", "was": "warn"})
            )
        elif disposition == "warn" and f.status is Status.FAIL:
            out.append(
                replace(f, status=Status.WARN, evidence={**f.evidence, "policy": "lowered to warn", "was": "fail"})
            )
        else:
            out.append(f)
    return out
