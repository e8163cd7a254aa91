"""SLSA build policy and the chain from source to build to release, through ``attest verify``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

SLSA_V1 = "https://slsa.dev/provenance/v1"
BUILDER = "https://ci.example.com/builders/firmware@v2.1"
SOURCE = "git+https://git.example.com/acme/rtu-firmware@refs/tags/v1.4.0"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance(builder: str, dependencies: list[dict[str, object]], source: str = SOURCE) -> dict[str, object]:
    return {
        "buildDefinition": {
            "buildType": "https://ci.example.com/buildtypes/make/v1",
            "externalParameters": {"source": {"uri": source}},
            "resolvedDependencies": dependencies,
        },
        "runDetails": {"builder": {"id": builder}},
    }


class Chain:
    """source.tar --(compile, by a subcontractor)--> app.elf --(package, by the vendor)--> firmware.img"""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.key = root / "vendor"
        self.sub_key = root / "subcontractor"
        for prefix in (self.key, self.sub_key):
            assert run_cli(["keys", "generate", "--out", prefix]).returncode == 0
        self.source = root / "source.tar"
        self.source.write_bytes(b"source tree" * 100)
        self.app = root / "app.elf"
        self.app.write_bytes(b"\x7fELF compiled app" * 100)
        self.image = root / "firmware.img"
        self.image.write_bytes(b"packed image" * 100)

    def attest(self, subject: Path, predicate: dict[str, object], key: Path, name: str) -> Path:
        predicate_file = self.root / f"{name}.predicate.json"
        predicate_file.write_text(json.dumps(predicate))
        out = self.root / f"{name}.intoto.jsonl"
        result = run_cli(["attest", "sign", subject, "--key", key.with_name(key.name + ".key"),
                          "--predicate-type", SLSA_V1, "--predicate", predicate_file, "-o", out])
        assert result.returncode == 0, result.stderr
        return out

    def build_step(self, app_digest: str | None = None) -> Path:
        deps = [{"uri": SOURCE, "name": "source.tar", "digest": {"sha256": sha256(self.source)}}]
        return self.attest(self.app, provenance("https://ci.subcontractor.example/compile@v1", deps),
                           self.sub_key, "compile")

    def release_step(self, app_digest: str | None = None) -> Path:
        deps = [{"uri": "file:app.elf", "name": "app.elf", "digest": {"sha256": app_digest or sha256(self.app)}}]
        return self.attest(self.image, provenance(BUILDER, deps), self.key, "package")

    def verify(self, *bundles: Path, extra: tuple[object, ...] = ()) -> tuple[int, dict[str, object]]:
        args: list[object] = ["attest", "verify", self.image, "--format", "json",
                              "--key", self.key.with_name("vendor.pub"),
                              "--key", self.sub_key.with_name("subcontractor.pub")]
        for bundle in bundles:
            args += ["--bundle", bundle]
        result = run_cli([*args, *extra])
        assert "Traceback" not in result.stderr
        return result.returncode, json.loads(result.stdout)


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return Chain(tmp_path)


def findings(report: dict[str, object], check: str) -> list[dict[str, object]]:
    items = report["findings"]
    assert isinstance(items, list)
    return [f for f in items if f["check"] == check]


def test_chain_links_source_build_release(chain: Chain) -> None:
    code, report = chain.verify(chain.build_step(), chain.release_step())
    assert code == 0, report
    [link] = findings(report, "attest.chain")
    assert link["status"] == "pass"
    assert "2 build steps linked" in str(link["message"])
    vouches = findings(report, "attest.vouch")
    assert len(vouches) == 2 and all("signed by" in str(v["message"]) for v in vouches)


def test_chain_breaks_when_the_intermediate_artifact_was_swapped(chain: Chain) -> None:
    build = chain.build_step()
    release = chain.release_step(app_digest="00" * 32)  # packaged something other than what was compiled
    code, report = chain.verify(build, release)
    assert code == 1
    messages = [str(f["message"]) for f in findings(report, "attest.chain") if f["status"] == "fail"]
    assert any("different digest" in m and "app.elf" in m for m in messages), messages


def test_chain_breaks_when_a_step_is_not_consumed(chain: Chain, tmp_path: Path) -> None:
    build = chain.build_step()
    stray = tmp_path / "stray.bin"
    stray.write_bytes(b"unrelated")
    other = chain.attest(stray, provenance(BUILDER, []), chain.key, "stray")
    code, report = chain.verify(build, chain.release_step(), other)
    assert code == 1
    assert any("no later step consumed" in str(f["message"]) for f in findings(report, "attest.chain"))


def test_builder_id_policy(chain: Chain) -> None:
    release = chain.release_step()
    code, report = chain.verify(release, extra=("--builder-id", "https://ci.example.com/builders/firmware"))
    assert code == 0, report
    code, report = chain.verify(release, extra=("--builder-id", "https://evil.example.com/builder"))
    assert code == 1
    assert [f["status"] for f in findings(report, "attest.builder-id")] == ["fail"]


def test_source_uri_policy_with_ref(chain: Chain) -> None:
    release = chain.release_step()
    ok = ("--source-uri", "git.example.com/acme/rtu-firmware@refs/tags/v1.4.0")
    assert chain.verify(release, extra=ok)[0] == 0
    code, report = chain.verify(release, extra=("--source-uri", "git.example.com/acme/rtu-firmware@refs/tags/v1.3.0"))
    assert code == 1
    # A bare name is not the tag: a branch may carry the same name. The failure says how to write it.
    code, report = chain.verify(release, extra=("--source-uri", "git.example.com/acme/rtu-firmware@v1.4.0"))
    assert code == 1
    [finding] = findings(report, "attest.source")
    assert finding["status"] == "fail" and "refs/tags/v1.4.0" in str(finding["message"])
    code, report = chain.verify(release, extra=("--source-uri", "git.example.com/mallory/rtu-firmware"))
    assert code == 1
    assert [f["status"] for f in findings(report, "attest.source")] == ["fail"]


def test_builder_policy_without_provenance_fails(chain: Chain) -> None:
    result = run_cli(["attest", "sign", chain.image, "--key", chain.key.with_name("vendor.key"),
                      "--predicate-type", "https://example.com/other/v1", "-o", chain.root / "other.jsonl"])
    assert result.returncode == 0
    code, report = chain.verify(chain.root / "other.jsonl", extra=("--builder-id", BUILDER))
    assert code == 1
    assert [f["status"] for f in findings(report, "attest.provenance")] == ["fail"]


def test_vsa_with_failed_result_fails(chain: Chain) -> None:
    predicate = chain.root / "vsa.json"
    predicate.write_text(json.dumps({"verifier": {"id": "https://verifier.example"}, "verificationResult": "FAILED",
                                     "resourceUri": "firmware.img", "verifiedLevels": []}))
    out = chain.root / "vsa.intoto.jsonl"
    assert run_cli(["attest", "sign", chain.image, "--key", chain.key.with_name("vendor.key"), "--predicate-type",
                    "https://slsa.dev/verification_summary/v1", "--predicate", predicate, "-o", out]).returncode == 0
    code, report = chain.verify(out)
    assert code == 1
    assert [f["status"] for f in findings(report, "attest.vsa")] == ["fail"]
