"""Run every fuzz harness for a bounded number of executions.

    python fuzz/run.py                    # CI smoke: 10^4 executions per harness
    python fuzz/run.py --runs 1000000     # the long run whose figures README reports
    python fuzz/run.py --only dsse policy

Each harness starts from a private copy of its seed corpus: the small corpus kept
in ``fuzz/corpus/<name>``, plus real inputs found at run time (the public
vectors, Debian firmware, recorded transcripts). A harness whose vector seeds are
absent (a clone without ``../shared/vectors``) and that has a generator in
``fuzz/seedgen.py`` seeds from inputs made on the spot instead: Sigstore bundles
from a private log, in-toto layouts signed with a fresh key. libFuzzer enforces
``-timeout=1`` (1 s per input) and ``-rss_limit_mb=1024``; an input that breaks
a harness is saved under ``fuzz/crashes/`` and the run exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
VECTORS = Path(os.environ.get("PROVCHECK_VECTORS", REPO.parent / "shared" / "vectors"))


@dataclass(frozen=True)
class Harness:
    name: str
    #: glob patterns, relative to the root named by their prefix: "vectors:", "repo:" or an absolute path
    seeds: tuple[str, ...] = ()
    max_len: int = 64 * 1024
    per_input_timeout: int = 1
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    script_path: Path | None = None
    #: The harness writes seeds of its own (``fuzz_NAME.py --seeds DIR``), so a fresh clone has them.
    self_seeded: bool = False

    @property
    def script(self) -> Path:
        return self.script_path or FUZZ / f"fuzz_{self.name}.py"


HARNESSES: tuple[Harness, ...] = (
    Harness("dsse", ("vectors:**/*.jsonl", "vectors:in-toto/tests/demo_dsse_files/*.link",
                     "vectors:scai-demos/**/*.json")),
    Harness("sigstore_bundle", ("vectors:**/*.sigstore", "vectors:**/*.sigstore.json", "vectors:**/*.build.slsa",
                                "vectors:slsa-verifier/**/bcr/*.jsonl")),
    Harness("layout", ("vectors:in-toto/**/*.link", "vectors:in-toto/**/*.template")),
    Harness("policy", ("repo:docs/policy.example.toml",)),
    Harness("device_manifest", ("vectors:cyclonedx-bom-examples/**/*.json", "vectors:cyclonedx-spec/tools/**/*.json")),
    Harness("tpm", (), max_len=4096),
    # A real boot log is large; the synthetic seeds exercise every decoder and stay fast to mutate.
    Harness("eventlog", (), max_len=256 * 1024),
    # Inputs are mutated real binaries; LIEF's C++ parsers are part of what is under test.
    Harness("firmware", ("/usr/lib/ipxe/qemu/efi-e1000.rom", "/usr/lib/ipxe/qemu/pxe-e1000.rom"), max_len=512 * 1024),
    # The same seeds, judged against the manifest of a clean seed (see fuzz/fuzz_firmware_scan.py).
    Harness("firmware_scan", ("repo:fuzz/corpus/firmware/*", "/usr/lib/ipxe/qemu/efi-e1000.rom",
                              "/usr/lib/ipxe/qemu/pxe-e1000.rom"), max_len=512 * 1024),
    # Seeds recorded from the simulator: raw line bytes and scripted device answers.
    Harness("frames", (), max_len=16 * 1024),
    # Seeds recorded from the simulator: every command's output of a full U-Boot and Linux read.
    Harness("console", (), max_len=32 * 1024),
    # DMTF's recorded responder (when ../shared is there) and sessions with the simulated SPDM responder.
    Harness("spdm", ("vectors:spdm-emu/*.pcap",), max_len=16 * 1024, self_seeded=True),
    # CoRIM / CoMID / CoEV (signed and unsigned): veraison's test cases, or CoRIMs made by fuzz/seedgen.py.
    Harness("corim", ("vectors:corim/**/*.cbor",), max_len=16 * 1024),
    # Short-form reports: the published JWS and JSON, and every form in fuzz/corpus/review (tests/attestations/sfr.py).
    Harness("review", ("vectors:ocp-safe/**/*.jws", "vectors:ocp-safe/Reports/**/*.json"), max_len=16 * 1024),
    # Secure Boot: compact stores, lists and updates made by fuzz/seedgen.py, plus the vectors' lists, updates,
    # efivarfs dumps, certificates and event logs (their stores are mostly padding, too large to mutate).
    Harness("secureboot", ("vectors:uefi/**/*.esl", "vectors:uefi/**/*.auth", "vectors:uefi/**/*.bin",
                           "vectors:uefi/**/*.p7", "vectors:uefi/**/*.der", "vectors:uefi/made-here/efivarfs/*",
                           "vectors:uefi/tpm-eventlogs/*/*"), max_len=128 * 1024),
)


def _expand(pattern: str) -> Iterator[Path]:
    if pattern.startswith("vectors:"):
        root, glob = VECTORS, pattern.removeprefix("vectors:")
    elif pattern.startswith("repo:"):
        root, glob = REPO, pattern.removeprefix("repo:")
    else:
        root, glob = Path("/"), pattern.lstrip("/")
    if root.is_dir():
        yield from (p for p in root.glob(glob) if p.is_file())


def build_corpus(harness: Harness, into: Path) -> int:
    count = 0
    sources = [*(FUZZ / "corpus" / harness.name).glob("*")]
    from_vectors = 0
    for pattern in harness.seeds:
        found = list(_expand(pattern))
        from_vectors += len(found) if pattern.startswith("vectors:") else 0
        sources.extend(found)
    if harness.name in ALWAYS_GENERATED or (from_vectors == 0 and harness.name in GENERATED):
        made = into.parent / f"{into.name}-generated"
        subprocess.run([sys.executable, str(FUZZ / "seedgen.py"), harness.name, str(made)], check=True,
                       env=_harness_env(), capture_output=True, timeout=300)
        sources.extend(sorted(made.iterdir()))
    if harness.self_seeded:
        made = into.parent / f"{into.name}-self"
        subprocess.run([sys.executable, str(harness.script), "--seeds", str(made)], check=True,
                       env=_harness_env(), capture_output=True, timeout=300)
        sources.extend(sorted(made.iterdir()))
    for index, path in enumerate(sources):
        data = path.read_bytes()[: harness.max_len]
        (into / f"seed-{index:04d}-{path.name[:40]}").write_bytes(data)
        count += 1
    return count


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    runs: int
    seconds: float
    seeds: int
    crash: str


#: Harnesses that fuzz/seedgen.py can seed when the vectors are absent.
GENERATED = ("sigstore_bundle", "layout", "corim", "secureboot")
#: Harnesses whose generated seeds are used even with the vectors present (they reach what the vectors' files,
#: too large to mutate, do not).
ALWAYS_GENERATED = ("secureboot",)


def _harness_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUZZ), str(REPO), os.environ.get("PYTHONPATH", "")])}


_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def run_harness(harness: Harness, runs: int, crash_dir: Path) -> Outcome:
    crash_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"provcheck-fuzz-{harness.name}-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        seeds = build_corpus(harness, corpus)
        args = [
            sys.executable, str(harness.script), f"-runs={runs}", f"-timeout={harness.per_input_timeout}",
            "-rss_limit_mb=1024", f"-max_len={harness.max_len}", f"-artifact_prefix={crash_dir}/{harness.name}-",
            "-print_final_stats=1", *harness.extra_args, str(corpus),
        ]
        env = _harness_env()
        started = time.monotonic()
        # Generous: -runs bounds the work, this only catches a harness that wedges outside libFuzzer's own timeout.
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=max(600, runs // 10))
        seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    done = _DONE.search(output)
    crash = ""
    if proc.returncode != 0:
        found = re.findall(r"Test unit written to (\S+)", output)
        tail = "\n".join(output.strip().splitlines()[-25:])
        crash = (found[-1] if found else "") + "\n" + tail
    return Outcome(harness.name, proc.returncode == 0, int(done.group(1)) if done else 0, seconds, seeds, crash)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("PROVCHECK_FUZZ_RUNS", "10000")))
    parser.add_argument("--only", nargs="*", default=None, help="harness names")
    parser.add_argument("--crash-dir", type=Path, default=FUZZ / "crashes")
    args = parser.parse_args(argv)
    selected = [h for h in HARNESSES if args.only is None or h.name in args.only]
    failures = 0
    print(f"{'harness':18s} {'runs':>9s} {'seconds':>8s} {'exec/s':>8s} {'seeds':>6s}  result")
    for harness in selected:
        outcome = run_harness(harness, args.runs, args.crash_dir)
        rate = outcome.runs / outcome.seconds if outcome.seconds else 0.0
        result = "ok" if outcome.ok else "CRASH"
        print(f"{outcome.name:18s} {outcome.runs:9d} {outcome.seconds:8.1f} {rate:8.0f} {outcome.seeds:6d}  {result}")
        if not outcome.ok:
            failures += 1
            print(outcome.crash)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
