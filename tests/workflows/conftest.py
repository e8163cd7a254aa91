"""Shared set-up for the workflow tests: a vendor workspace with a signed release, and simulated devices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from attestations.keys import load_signer
from verifier.workflows.demo import DEMO_POLICY, _device_config, demo_firmware, prepare
from verifier.workflows.release import ReleaseRequest, sign_release


@dataclass(frozen=True)
class Workspace:
    root: Path
    paths: dict[str, Path]
    release: Path

    @property
    def policy(self) -> Path:
        return self.paths["policy"]

    @property
    def firmware(self) -> Path:
        return self.paths["firmware"]

    def write_policy(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Keys, the demo firmware (honest and with a hidden function), a device manifest, a policy and a release."""
    root = tmp_path_factory.mktemp("vendor")
    paths = prepare(root)
    release = root / "release"
    sign_release(
        ReleaseRequest(
            firmware=[paths["firmware"]], device_manifest=paths["device_manifest"], name="rtu9", version="1.0.0"
        ),
        [load_signer(paths["vendor_key"])],
        release,
    )
    return Workspace(root, paths, release)


@pytest.fixture
def simulator() -> Iterator[object]:
    """A factory for simulated attest devices running the demo firmware; every one is stopped afterwards."""
    from hw.sim import Simulator

    started: list[Simulator] = []

    def start(*tamper: str, profile: str = "attest", **options: object) -> Simulator:
        sim = Simulator(profile, config=_device_config(demo_firmware()), tamper=tamper, **options)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def policy_text(*replacements: tuple[str, str]) -> str:
    """The demo policy with some lines replaced (old text -> new text)."""
    text = DEMO_POLICY
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def load_json_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
