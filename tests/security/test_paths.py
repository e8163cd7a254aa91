"""Names taken from input files never escape the folder they are meant for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifier.workflows.bench import BenchDevice
from verifier.workflows.release import locate_release

HOSTILE_NAMES = ["../../outside.sigstore.json", "/etc/passwd", "..", "sub/../../x.json", "./../x.json"]


def test_release_index_entries_cannot_name_files_outside_the_release(tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    (release / "release.intoto.jsonl").write_text("{}\n")
    (tmp_path / "outside.sigstore.json").write_text("{}")
    (tmp_path / "x.json").write_text("{}")
    (release / "inside.sigstore.json").write_text("{}")
    (release / "index.json").write_text(json.dumps({"sigstore_bundles": [*HOSTILE_NAMES, "inside.sigstore.json"]}))
    files = locate_release(release)
    assert [p.name for p in files.sigstore_bundles] == ["inside.sigstore.json"]
    for path in files.sigstore_bundles:
        assert path.resolve().parent == release.resolve()


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "rack 1/slot 2", "\x00nul", "…unicode…"])
def test_bench_device_names_become_plain_folder_names(name: str) -> None:
    device = BenchDevice(name=name, port="loop://", release=Path("release"), policies=())
    folder = device.folder
    assert folder and "/" not in folder and "\x00" not in folder
    assert folder not in (".", "..")
