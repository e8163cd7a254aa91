"""Firmware benchmark: every figure is a ratio against a reference measured in the same run.

1. Full ``provcheck firmware scan`` of a large image (>= 50 MB: the vmlinux inside Debian's vmlinuz, or
   libLLVM) against sha256 of the same file, the physical lower bound for reading it.
2. Function discovery throughput (MB of code per second): provcheck's bulk branch decoding against a plain
   capstone linear sweep from Python collecting call targets, on the same code.
3. Inventory fields (sections, segments, symbols, imports, exports, entry point) read by LIEF, configured as
   provcheck configures it, against pyelftools (ELF) and pefile (PE).

   Also ``scan --manifest`` against the image's own manifest (byte-exact: every loaded byte hashed once more).

Run: python bench/firmware.py [--image PATH] [--sweep-mb N] [--scan-only]
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# bench/ itself must not be on sys.path: bench/serial.py would shadow pyserial for everything imported here.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench._timing import timed  # noqa: E402


def extract_vmlinux(out_dir: Path) -> Path | None:
    """The ELF inside /boot/vmlinuz-* (XZ or gzip payload), written to ``out_dir``."""
    import gzip
    import zlib

    for vmlinuz in sorted(Path("/boot").glob("vmlinuz-*"), reverse=True):
        data = vmlinuz.read_bytes()
        for magic, opener in ((b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b\x08", "gz")):
            at = data.find(magic)
            if at < 0:
                continue
            try:
                if opener == "xz":
                    payload = lzma.LZMADecompressor().decompress(data[at:])
                else:
                    payload = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[at:])
            except (lzma.LZMAError, zlib.error, gzip.BadGzipFile):
                continue
            if payload[:4] == b"\x7fELF":
                target = out_dir / "vmlinux"
                target.write_bytes(payload)
                return target
    return None


def large_image(out_dir: Path, explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    vmlinux = extract_vmlinux(out_dir)
    if vmlinux is not None and vmlinux.stat().st_size >= 50 * 1024 * 1024:
        return vmlinux
    candidates = sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libLLVM*.so*"), key=lambda p: -p.stat().st_size)
    for candidate in candidates:
        if candidate.is_file() and candidate.stat().st_size >= 50 * 1024 * 1024:
            return candidate
    raise SystemExit("no image of at least 50 MB found: pass --image (linux-image-amd64 provides /boot/vmlinuz)")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def bench_scan(image: Path) -> None:
    from verifier.workflows.firmware_scan import scan_firmware

    scan_firmware(image)  # warm-up: imports, page cache
    size_mb = image.stat().st_size / 1e6
    t_hash, _ = timed(lambda: sha256_file(image), repeat=3)
    t_scan, findings = timed(lambda: scan_firmware(image), repeat=3)
    print(f"[scan]      {image} ({size_mb:.1f} MB), {len(findings)} findings")
    print(f"            sha256 {t_hash:.3f} s ({size_mb / t_hash:.0f} MB/s); full scan {t_scan:.3f} s "
          f"({size_mb / t_scan:.0f} MB/s)")
    print(f"            ratio scan / sha256 = {t_scan / t_hash:.1f}x")
    # Against the image's own manifest: byte-exact, every loaded range hashed once more, piece by piece.
    from verifier.firmware.inventory import build_manifest

    manifest = build_manifest(image).to_predicate()

    def scan_with_manifest() -> list[Any]:
        return scan_firmware(image, manifest=manifest)

    t_manifest, findings = timed(scan_with_manifest, repeat=3)
    mode = next((str(f.evidence.get("mode")) for f in findings if f.check == "firmware.comparison-mode"), "?")
    print(f"            scan --manifest ({mode}) {t_manifest:.3f} s; ratio scan --manifest / sha256 = "
          f"{t_manifest / t_hash:.1f}x")


def code_regions(image: Path) -> tuple[str, list[Any]]:
    from verifier.firmware.inventory import analyse
    from verifier.firmware.loader import load_file

    analysis = analyse(load_file(image))
    return str(analysis.predicate.get("architecture")), list(analysis.regions)


def capstone_sweep(arch: str, data: bytes, address: int) -> set[int]:
    """The reference: a linear sweep from Python, collecting direct call targets."""
    import capstone

    modes = {"x86_64": (capstone.CS_ARCH_X86, capstone.CS_MODE_64),
             "aarch64": (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)}
    md = capstone.Cs(*modes[arch])
    md.skipdata = True
    targets: set[int] = set()
    for _, _, mnemonic, op_str in md.disasm_lite(data, address):
        if mnemonic in ("call", "bl") and op_str.startswith(("0x", "#0x")):
            try:
                targets.add(int(op_str.lstrip("#"), 16))
            except ValueError:
                continue
    return targets


def bench_discovery(image: Path, sweep_mb: float) -> None:
    from verifier.firmware import functions as fn

    arch, regions = code_regions(image)
    if arch not in ("x86_64", "aarch64") or not regions:
        print(f"[discovery] skipped: architecture {arch} has no capstone reference here")
        return
    region = max(regions, key=lambda r: len(r.data))
    sample = region.data[: int(sweep_mb * 1e6)]
    sample_region = fn.CodeRegion(region.name, region.address, sample)
    mb = len(sample) / 1e6
    t_cap, cap_targets = timed(lambda: capstone_sweep(arch, sample, region.address))
    t_ours, ours = timed(lambda: fn.call_targets([sample_region], arch), repeat=3)
    total_mb = sum(len(r.data) for r in regions) / 1e6
    t_all, _ = timed(lambda: fn.call_targets(regions, arch), repeat=3)
    in_sample = {t for t in cap_targets if sample_region.contains(t)}
    agree = len(ours & in_sample) / max(len(in_sample), 1)
    print(f"[discovery] {arch} {region.name}: {mb:.1f} MB sample")
    print(f"            capstone linear sweep {mb / t_cap:.2f} MB/s ({len(in_sample)} call targets)")
    print(f"            provcheck bulk decode {mb / t_ours:.1f} MB/s ({len(ours)} targets, "
          f"{agree:.0%} of capstone's found); all code {total_mb:.1f} MB at {total_mb / t_all:.1f} MB/s")
    print(f"            ratio provcheck / capstone = {t_cap / t_ours:.0f}x faster")


def lief_elf_fields(path: Path) -> int:
    import lief

    lief.logging.disable()
    config = lief.ELF.ParserConfig()
    config.parse_relocations = False
    config.parse_symbol_versions = False
    config.parse_notes = False
    binary = lief.ELF.parse(str(path), config)
    count = sum(1 for s in binary.sections if (s.name, s.virtual_address, s.size, s.flags))
    count += sum(1 for s in binary.segments if (s.type, s.virtual_address, s.flags))
    count += sum(1 for s in binary.dynamic_symbols if (s.name, s.value, s.size))
    count += sum(1 for s in binary.symtab_symbols if (s.name, s.value, s.size))
    return count + int(binary.entrypoint > 0)


def pyelftools_fields(path: Path) -> int:
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as handle:
        elf = ELFFile(handle)
        count = sum(1 for s in elf.iter_sections() if (s.name, s["sh_addr"], s["sh_size"], s["sh_flags"]))
        count += sum(1 for s in elf.iter_segments() if (s["p_type"], s["p_vaddr"], s["p_flags"]))
        for name in (".dynsym", ".symtab"):
            table = elf.get_section_by_name(name)
            if table is not None:
                count += sum(1 for s in table.iter_symbols() if (s.name, s["st_value"], s["st_size"]))
        return count + int(elf.header["e_entry"] > 0)


def lief_pe_fields(path: Path) -> int:
    import lief

    lief.logging.disable()
    config = lief.PE.ParserConfig()
    config.parse_reloc = False
    config.parse_rsrc = False
    config.parse_signature = False
    binary = lief.PE.parse(str(path), config)
    count = sum(1 for s in binary.sections if (s.name, s.virtual_address, s.size, s.characteristics))
    count += sum(1 for imp in binary.imports for e in imp.entries if (imp.name, e.name))
    if binary.has_exports:
        count += sum(1 for e in binary.get_export().entries if (e.name, e.address))
    return count + int(binary.optional_header.addressof_entrypoint > 0)


def pefile_fields(path: Path) -> int:
    import pefile

    pe = pefile.PE(str(path), fast_load=True)
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
                                           pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"]])
    count = sum(1 for s in pe.sections if (s.Name, s.VirtualAddress, s.Misc_VirtualSize, s.Characteristics))
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        count += sum(1 for imp in entry.imports if (entry.dll, imp.name))
    if hasattr(pe, "DIRECTORY_ENTRY_EXPORT"):
        count += sum(1 for e in pe.DIRECTORY_ENTRY_EXPORT.symbols if (e.name, e.address))
    return count + int(pe.OPTIONAL_HEADER.AddressOfEntryPoint > 0)


def bench_parsers(elf: Path, pe: Path | None) -> None:
    t_lief, n_lief = timed(lambda: lief_elf_fields(elf), repeat=3)
    t_elftools, n_elftools = timed(lambda: pyelftools_fields(elf), repeat=1)
    print(f"[parsers]   ELF {elf.name}: LIEF {t_lief:.3f} s ({n_lief} fields), pyelftools {t_elftools:.3f} s "
          f"({n_elftools} fields); ratio = {t_elftools / t_lief:.0f}x faster with LIEF")
    if pe is None:
        return
    t_lief, n_lief = timed(lambda: lief_pe_fields(pe), repeat=3)
    t_pefile, n_pefile = timed(lambda: pefile_fields(pe), repeat=3)
    print(f"[parsers]   PE {pe.name}: LIEF {t_lief:.4f} s ({n_lief} fields), pefile {t_pefile:.4f} s "
          f"({n_pefile} fields); ratio = {t_pefile / t_lief:.1f}x faster with LIEF")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, help="large image to scan (default: vmlinux from /boot/vmlinuz)")
    parser.add_argument("--sweep-mb", type=float, default=4.0, help="MB of code for the capstone reference")
    parser.add_argument("--scan-only", action="store_true", help="only the scan figures (1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="provcheck-bench-") as tmp:
        image = large_image(Path(tmp), args.image)
        bench_scan(image)
        if args.scan_only:
            return
        bench_discovery(image, args.sweep_mb)
        elf_candidates = [p for p in sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libLLVM*.so*"))
                          if p.is_file()] or [image]
        # a PE with many imports and exports (Debian gcc-mingw-w64), else GRUB
        pes = sorted(Path("/usr/lib/gcc/x86_64-w64-mingw32").glob("*/libstdc++-6.dll"))
        pes += [Path("/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")]
        bench_parsers(elf_candidates[0], next((p for p in pes if p.is_file()), None))


if __name__ == "__main__":
    main()
