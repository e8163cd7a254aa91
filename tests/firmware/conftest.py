"""Fixtures for the firmware tests: the clean build, its manifest, and each planted variant, built once."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.firmware import builders


@dataclass(frozen=True)
class ElfBuild:
    clean: Path
    stripped: Path
    manifest: Path
    hidden_constructor: Path
    hidden_constructor_stripped: Path


def debian_file(path: str) -> Path:
    """A file from an installed Debian package; tests skip, naming the package, where it is absent."""
    target = Path(path)
    if not target.is_file():
        pytest.skip(f"{path} not installed (tests/run.sh installs the Debian package that ships it)")
    return target


@pytest.fixture(scope="session")
def elf_build(tmp_path_factory: pytest.TempPathFactory) -> ElfBuild:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    from verifier.firmware.inventory import build_manifest

    out = tmp_path_factory.mktemp("elf")
    clean = builders.gcc("clean.c", out / "clean")
    stripped = builders.strip(clean, out / "clean.stripped")
    manifest = out / "clean.manifest.json"
    manifest.write_bytes(build_manifest(clean).canonical_bytes())
    ctor = builders.gcc("hidden_constructor.c", out / "hidden_constructor", f"-I{builders.SRC}")
    return ElfBuild(clean, stripped, manifest, ctor, builders.strip(ctor, out / "hidden_constructor.stripped"))


@dataclass(frozen=True)
class PeBuild:
    clean: Path
    manifest: Path
    tls_callback: Path


@pytest.fixture(scope="session")
def pe_build(tmp_path_factory: pytest.TempPathFactory) -> PeBuild:
    from verifier.firmware.inventory import build_manifest

    out = tmp_path_factory.mktemp("pe")
    clean = builders.mingw("clean_pe.c", out / "clean.exe")
    tls = builders.mingw("tls_callback_pe.c", out / "tls_callback.exe")
    if clean is None or tls is None:
        pytest.skip("x86_64-w64-mingw32-gcc not installed (Debian gcc-mingw-w64-x86-64)")
    manifest = out / "clean.exe.manifest.json"
    manifest.write_bytes(build_manifest(clean).canonical_bytes())
    return PeBuild(clean, manifest, tls)


@dataclass(frozen=True)
class LoadedBuild:
    """tests/firmware/src/loaded_clean.c built non-PIE: the vendor's unstripped build, what ships, and its manifest."""

    clean: Path
    stripped: Path
    manifest: Path


@pytest.fixture(scope="session")
def loaded_build(tmp_path_factory: pytest.TempPathFactory) -> LoadedBuild:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    from verifier.firmware.inventory import build_manifest

    out = tmp_path_factory.mktemp("loaded")
    clean = builders.gcc_no_pie("loaded_clean.c", out / "loaded")
    manifest = out / "loaded.manifest.json"
    manifest.write_bytes(build_manifest(clean).canonical_bytes())
    return LoadedBuild(clean, builders.strip(clean, out / "loaded.stripped"), manifest)


@dataclass(frozen=True)
class LoadedPeBuild:
    clean: Path
    stripped: Path
    manifest: Path


@pytest.fixture(scope="session")
def loaded_pe_build(tmp_path_factory: pytest.TempPathFactory) -> LoadedPeBuild:
    import subprocess

    from verifier.firmware.inventory import build_manifest

    out = tmp_path_factory.mktemp("loaded-pe")
    clean = builders.mingw("loaded_clean.c", out / "loaded.exe")
    if clean is None:
        pytest.skip("x86_64-w64-mingw32-gcc not installed (Debian gcc-mingw-w64-x86-64)")
    stripped = out / "loaded.stripped.exe"
    subprocess.run(["x86_64-w64-mingw32-strip", "-o", str(stripped), str(clean)], check=True)
    manifest = out / "loaded.exe.manifest.json"
    manifest.write_bytes(build_manifest(clean).canonical_bytes())
    return LoadedPeBuild(clean, stripped, manifest)
