"""``attest verify`` and ``intake`` judge a release's signatures with one judge (verifier/checks/signers.py).

They once had a copy each (two ways to pick a Sigstore trust root, keys loaded through another workflow), free to
drift apart: the same release, keys and threshold must give the same signature findings and vouch for the same
statements from either command.
"""

from __future__ import annotations

from pathlib import Path

from tests.workflows.conftest import Workspace
from verifier.model import Finding
from verifier.policy.loading import load_policies
from verifier.workflows.attest_verify import VerifyRequest, run_verify
from verifier.workflows.intake_release import verify_release
from verifier.workflows.release import BUNDLE_NAME


def _signatures(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return sorted((f.subject, f.status.value, f.message) for f in findings if f.check == "attest.signature")


def _vouched_sources(findings: list[Finding]) -> list[str]:
    return sorted(f.subject for f in findings if f.check == "attest.vouch")


def test_attest_verify_and_intake_judge_one_release_alike(workspace: Workspace, tmp_path: Path) -> None:
    vendor, stranger = workspace.paths["vendor_pub"], workspace.paths["operator_pub"]
    for keys in ([vendor], [stranger]):
        listed = ", ".join(f'"{key}"' for key in keys)
        policy_file = tmp_path / "signers.toml"
        policy_file.write_text(f"version = 1\n[signers]\nkeys = [{listed}]\n[firmware]\nrequired = true\n")
        policy = load_policies([policy_file])
        attested = verify_release(workspace.release, policy, [])
        verified = run_verify(VerifyRequest(bundles=[workspace.release / BUNDLE_NAME], keys=keys))
        assert _signatures(attested.findings) == _signatures(verified)
        assert sorted(v.source for v in attested.vouched) == _vouched_sources(verified)
    assert attested.findings and not attested.vouched, "a stranger's key vouches for nothing"
