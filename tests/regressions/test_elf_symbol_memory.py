"""ELF symbol tables cost ~20x their bytes once LIEF and the inventory have built them (issue 12).

Before the fix 3 million symbols took 1.9 GiB, and a hostile file does not even need the bytes: LIEF reads as many
dynamic symbols as a relocation's symbol index, the hash tables or ``.dynsym`` claim, until the end of the file,
and ``.symtab`` and ``DT_SYMTAB`` may describe the same bytes. Now the symbols are counted from the headers before
LIEF parses anything (``verifier/firmware/elf_counts.py``) and an image whose symbols would take more than
``4 x its size + 256 MiB`` is bad input: exit 2, one line naming ``max-symbol-memory``.

Every hostile image here is built by the test the way an attacker would, mostly zeros (a zero entry is a valid
symbol). Memory is shown bounded by the peak RSS of the CLI process (``ru_maxrss`` of the children of a fresh
wrapper process), never by a timer.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import Run, assert_clean_error
from verifier.firmware.elf_counts import count_elf_objects
from verifier.firmware.limits import DEFAULT_LIMITS, MIB, symbol_memory_budget, symbol_memory_cost

SEEDS = Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "firmware"
UBOOT = Path("/usr/lib/u-boot/qemu_arm64/uboot.elf")
BASE = 0x10000
ET_REL, ET_DYN = 1, 3
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_REL, SHT_DYNSYM = 1, 2, 3, 4, 9, 11
DT_HASH, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ, DT_STRSZ, DT_REL, DT_RELSZ = 4, 5, 6, 7, 8, 10, 17, 18
DT_GNU_HASH = 0x6FFFFEF5


@dataclass
class _Elf:
    """A hand-made ELF: one LOAD segment maps the whole file at BASE, so address = BASE + offset."""

    bits: int = 64
    e_type: int = ET_DYN
    body: bytearray = field(default_factory=lambda: bytearray(0x100))  # room for the headers
    sections: list[tuple[str, int, int, int, int, int, int, int]] = field(default_factory=list)
    dynamic_at: int | None = None
    dynamic_size: int = 0

    @property
    def symbol_size(self) -> int:
        return 24 if self.bits == 64 else 16

    def blob(self, data: bytes) -> int:
        while len(self.body) % 8:
            self.body.append(0)
        at = len(self.body)
        self.body += data
        return at

    def section(self, name: str, kind: int, offset: int, size: int, *, link: int = 0, info: int = 0,
                flags: int = 0, entsize: int | None = None) -> int:
        """Add a section header; its index (0 is the null section, then .text, then these)."""
        self.sections.append((name, kind, offset, size, link, info, flags,
                              self.symbol_size if entsize is None else entsize))
        return len(self.sections) + 1

    def dynamic(self, entries: list[tuple[int, int]]) -> None:
        fmt = "<qQ" if self.bits == 64 else "<iI"
        table = b"".join(struct.pack(fmt, tag, value) for tag, value in [*entries, (0, 0)])
        self.dynamic_at, self.dynamic_size = self.blob(table), len(table)

    def build(self) -> bytes:
        text = self.blob(b"\xc3" * 16)
        names = bytearray(b"\0.text\0.shstrtab\0")
        records = [(1, SHT_PROGBITS, 6, BASE + text, text, 16, 0, 0, 0)]
        for name, kind, offset, size, link, info, flags, entsize in self.sections:
            records.append((len(names), kind, flags, BASE + offset, offset, size, link, info, entsize))
            names += name.encode() + b"\0"
        names_at = self.blob(bytes(names))
        records.append((7, SHT_STRTAB, 0, 0, names_at, len(names), 0, 0, 0))
        header = 64 if self.bits == 64 else 40
        shoff = self.blob(bytes(header))
        fmt = "<IIQQQQIIQQ" if self.bits == 64 else "<IIIIIIIIII"
        for name, kind, flags, addr, offset, size, link, info, entsize in records:
            self.body += struct.pack(fmt, name, kind, flags, addr, offset, size, link, info, 8, entsize)
        shnum = len(records) + 1
        size = len(self.body)
        phdrs = [(1, 0, BASE, size, size, 5)]
        if self.dynamic_at is not None:
            phdrs.append((2, self.dynamic_at, BASE + self.dynamic_at, self.dynamic_size, self.dynamic_size, 6))
        machine = 62 if self.bits == 64 else 3
        ident = b"\x7fELF" + bytes([2 if self.bits == 64 else 1, 1, 1]) + bytes(9)
        if self.bits == 64:
            struct.pack_into("<16sHHIQQQIHHHHHH", self.body, 0, ident, self.e_type, machine, 1, BASE + text,
                             64, shoff, 0, 64, 56, len(phdrs), 64, shnum, shnum - 1)
            for i, (kind, offset, vaddr, filesz, memsz, flags) in enumerate(phdrs):
                struct.pack_into("<IIQQQQQQ", self.body, 64 + 56 * i, kind, flags, offset, vaddr, vaddr, filesz,
                                 memsz, 8)
        else:
            struct.pack_into("<16sHHIIIIIHHHHHH", self.body, 0, ident, self.e_type, machine, 1, BASE + text,
                             52, shoff, 0, 52, 32, len(phdrs), 40, shnum, shnum - 1)
            for i, (kind, offset, vaddr, filesz, memsz, flags) in enumerate(phdrs):
                struct.pack_into("<IIIIIIII", self.body, 52 + 32 * i, kind, offset, vaddr, vaddr, filesz, memsz,
                                 flags, 8)
        return bytes(self.body)


def _symtab_and_dt_symtab_over_the_same_bytes(count: int) -> bytes:
    """32-bit: a .symtab, a .dynsym and DT_SYMTAB (its count from DT_HASH's nchain, equal to .dynsym's, so LIEF
    believes it) all over one run of zeroed symbols: every 16 bytes become two symbols (~90x the file)."""
    elf = _Elf(bits=32)
    symbols = elf.blob(bytes(16 * count))
    strings = elf.blob(b"\0x\0")
    hashed = elf.blob(struct.pack("<IIII", 1, count, 0, 0))
    elf.dynamic([(DT_HASH, BASE + hashed), (DT_SYMTAB, BASE + symbols), (DT_STRTAB, BASE + strings),
                 (DT_STRSZ, 3)])
    strtab = elf.section(".strtab", SHT_STRTAB, strings, 3)
    elf.section(".symtab", SHT_SYMTAB, symbols, 16 * count, link=strtab)
    elf.section(".dynsym", SHT_DYNSYM, symbols, 16 * count, link=strtab)
    return elf.build()


def _relocation_claims_the_highest_symbol_index(padding: int) -> bytes:
    """32-bit, no symbol table at all: one DT_REL entry names symbol 2^24 - 1, so LIEF reads dynamic symbols from
    DT_SYMTAB to the end of the file (a zero-filled tail)."""
    elf = _Elf(bits=32)
    relocations = elf.blob(struct.pack("<II", BASE, (0xFFFFFF << 8) | 1))
    strings = elf.blob(b"\0")
    elf.dynamic([(DT_REL, BASE + relocations), (DT_RELSZ, 8), (DT_STRTAB, BASE + strings), (DT_STRSZ, 1),
                 (DT_SYMTAB, BASE + len(elf.body) + 0x100)])
    elf.blob(bytes(padding))
    return elf.build()


def _gnu_hash_chain_runs_long(count: int) -> bytes:
    """32-bit: a GNU hash table whose one bucket starts a chain of ``count`` even hash values, a .dynsym claiming
    the same count, and DT_SYMTAB over the chain itself and the zeros after it."""
    elf = _Elf(bits=32)
    chain = bytearray(16 * (count + 1))  # the symbols run on past the chain
    struct.pack_into("<I", chain, 4 * (count - 1), 1)  # the chain ends at entry count - 1
    hashed = elf.blob(struct.pack("<IIII", 1, 1, 1, 5) + bytes(4) + struct.pack("<I", 1) + bytes(chain))
    symbols = hashed + 24
    strings = elf.blob(b"\0")
    elf.dynamic([(DT_GNU_HASH, BASE + hashed), (DT_SYMTAB, BASE + symbols), (DT_STRTAB, BASE + strings),
                 (DT_STRSZ, 1)])
    elf.section(".dynsym", SHT_DYNSYM, symbols, 16 * (count + 1), link=0)  # equal to the hash count: believed
    return elf.build()


def _relocatable_with_aliased_symbol_tables(tables: int, symbols: int) -> bytes:
    """A relocatable object: ``tables`` SHT_SYMTAB headers over the same symbols, each linked by its own
    relocation section; the relocation digests re-read every linked table (the sum counts)."""
    elf = _Elf(bits=64, e_type=ET_REL)
    raw = elf.blob(bytes(24 * symbols))
    strings = elf.blob(b"\0")
    relocation = elf.blob(struct.pack("<QQq", 0, 1, 0))
    strtab = elf.section(".strtab", SHT_STRTAB, strings, 1)
    for i in range(tables):
        table = elf.section(f".symtab{i}", SHT_SYMTAB, raw, 24 * symbols, link=strtab)
        elf.section(f".rela{i}", SHT_RELA, relocation, 24, link=table, info=1)
    return elf.build()


def _without_class_and_byte_order(data: bytes) -> bytes:
    return data[:4] + b"\0\0" + data[6:]


def _run_measured(args: list[object]) -> tuple[Run, int]:
    """Run the CLI under a fresh wrapper process and return its result and peak RSS in bytes."""
    wrapper = ("import json, resource, subprocess, sys\n"
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
               "print(json.dumps([p.returncode, p.stdout[-2000:], p.stderr, rss]))\n")
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "verifier.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=900, check=True)
    code, stdout, stderr, rss = json.loads(done.stdout)
    return Run(code, stdout, stderr), int(rss)


@pytest.fixture(scope="module")
def baseline_rss(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak RSS of an inventory of a small clean ELF: the interpreter, LIEF and the rules, no symbols."""
    path = tmp_path_factory.mktemp("clean") / "small.elf"
    path.write_bytes(_Elf().build())
    result, rss = _run_measured(["firmware", "inventory", path])
    assert result.returncode == 0, result.stderr
    return rss


HOSTILE = {
    # 4.8 MB: 2 x 300,000 symbols counted (LIEF built both; ~420 MB before the fix)
    "symtab-and-dt-symtab-over-the-same-bytes": lambda: _symtab_and_dt_symtab_over_the_same_bytes(300_000),
    # 10 MB of zeros after one relocation: ~655,000 dynamic symbols
    "relocation-claims-the-highest-symbol-index": lambda: _relocation_claims_the_highest_symbol_index(10 * MIB),
    # 9.6 MB: a 600,000-entry GNU hash chain, read as as many symbols
    "gnu-hash-chain-runs-long": lambda: _gnu_hash_chain_runs_long(600_000),
    # the same with EI_CLASS and EI_DATA zeroed: LIEF guesses and builds them all the same
    "invalid-class-and-byte-order": lambda: _without_class_and_byte_order(
        _symtab_and_dt_symtab_over_the_same_bytes(300_000)),
    # 7.2 MB: 300,000 symbols LIEF builds, re-read through 3 aliased tables (more aliases hit max-name-bytes)
    "relocatable-with-aliased-symbol-tables": lambda: _relocatable_with_aliased_symbol_tables(3, 300_000),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["inventory", "scan"])
def test_hostile_symbol_tables_are_refused_within_memory_bound(
        name: str, command: str, tmp_path: Path, baseline_rss: int) -> None:
    data = HOSTILE[name]()
    counts = count_elf_objects(data)
    cost = symbol_memory_cost(counts.symbols, counts.relocation_symbols, counts.relocations)
    assert cost > symbol_memory_budget(DEFAULT_LIMITS, len(data)), counts
    path = tmp_path / f"{name}.elf"
    path.write_bytes(data)
    result, rss = _run_measured(["firmware", command, path])
    assert_clean_error(result, 2)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "max-symbol-memory" in result.stderr and f"{name}.elf" in result.stderr, result.stderr
    # Refused before LIEF parses: the process holds the file's bytes once or twice, never its symbols.
    assert rss < baseline_rss + 3 * len(data) + 48 * MIB, (rss, baseline_rss, len(data))


def test_symtab_size_past_end_of_file_is_clipped_not_allocated(tmp_path: Path, baseline_rss: int) -> None:
    """sh_size claims 2^40 bytes of symbols in a 1 KB file: counted as what the file holds, and inventoried."""
    elf = _Elf()
    strings = elf.blob(b"\0")
    symbols = elf.blob(bytes(24 * 4))
    strtab = elf.section(".strtab", SHT_STRTAB, strings, 1)
    elf.section(".symtab", SHT_SYMTAB, symbols, 1 << 40, link=strtab)
    data = elf.build()
    assert count_elf_objects(data).symtab_symbols <= len(data) // 24
    path = tmp_path / "symtab-claims-a-terabyte.elf"
    path.write_bytes(data)
    result, rss = _run_measured(["firmware", "inventory", path])
    assert result.returncode == 0, result.stderr
    assert rss < baseline_rss + 48 * MIB, (rss, baseline_rss)


@pytest.mark.parametrize("nchain", [1 << 31, 0xFFFFFFFF])
def test_dt_hash_nchain_claiming_billions_counts_what_the_file_holds(
        nchain: int, tmp_path: Path, baseline_rss: int) -> None:
    elf = _Elf(bits=32)
    symbols = elf.blob(bytes(16 * 8))
    strings = elf.blob(b"\0")
    hashed = elf.blob(struct.pack("<IIII", 1, nchain, 0, 0))
    elf.dynamic([(DT_HASH, BASE + hashed), (DT_SYMTAB, BASE + symbols), (DT_STRTAB, BASE + strings),
                 (DT_STRSZ, 1)])
    data = elf.build()
    counts = count_elf_objects(data)
    assert 0 < counts.dynamic_symbols <= len(data) // 16, counts
    path = tmp_path / "dt-hash-nchain.elf"
    path.write_bytes(data)
    result, rss = _run_measured(["firmware", "inventory", path])
    assert result.returncode == 0, result.stderr
    assert rss < baseline_rss + 48 * MIB, (rss, baseline_rss)


def test_gnu_hash_with_huge_buckets_counts_what_the_file_holds() -> None:
    elf = _Elf()
    table = struct.pack("<IIII", 0x7FFFFFFF, 1, 1, 6) + bytes(8) + struct.pack("<I", 0x7FFFFFF0) * 16
    hashed = elf.blob(table)
    symbols = elf.blob(bytes(24 * 4))
    elf.dynamic([(DT_GNU_HASH, BASE + hashed), (DT_SYMTAB, BASE + symbols), (DT_STRTAB, BASE + symbols),
                 (DT_STRSZ, 1)])
    data = elf.build()
    assert count_elf_objects(data).dynamic_symbols <= len(data) // 24


def test_huge_relocation_sizes_are_clipped_to_the_file() -> None:
    elf = _Elf()
    relocations = elf.blob(struct.pack("<QQq", BASE, (7 << 32) | 1, 0))
    symbols = elf.blob(bytes(24 * 8))
    elf.dynamic([(DT_RELA, BASE + relocations), (DT_RELASZ, 1 << 62), (DT_SYMTAB, BASE + symbols),
                 (DT_STRTAB, BASE + symbols), (DT_STRSZ, 1)])
    elf.section(".rela.dyn", SHT_RELA, relocations, 1 << 62, entsize=24)
    data = elf.build()
    counts = count_elf_objects(data)
    assert 8 <= counts.dynamic_symbols <= len(data) // 24, counts
    assert counts.relocations == 0  # not relocatable: LIEF is configured not to build relocations


@pytest.mark.parametrize("entsize", [0, 1, 7, 24, 1 << 40])
def test_sh_entsize_is_ignored_as_lief_ignores_it(entsize: int) -> None:
    import lief

    elf = _Elf()
    strings = elf.blob(b"\0")
    symbols = elf.blob(bytes(24 * 50))
    strtab = elf.section(".strtab", SHT_STRTAB, strings, 1)
    elf.section(".symtab", SHT_SYMTAB, symbols, 24 * 50, link=strtab, entsize=entsize)
    data = elf.build()
    binary = lief.ELF.parse(list(data))
    assert count_elf_objects(data).symtab_symbols == 50 == len(binary.symtab_symbols)


def test_many_symbol_tables_add_up_in_a_relocatable_object() -> None:
    one = count_elf_objects(_relocatable_with_aliased_symbol_tables(1, 1000))
    many = count_elf_objects(_relocatable_with_aliased_symbol_tables(30, 1000))
    assert many.relocation_symbols == 30 * one.relocation_symbols == 30_000


def _real_binaries(tmp_path: Path) -> list[Path]:
    out = [p for p in (UBOOT, SEEDS / "elf-x86_64-symbols", SEEDS / "elf-x86_64-stripped", Path("/usr/bin/busybox"))
           if p.is_file()]
    gcc = shutil.which("gcc")
    if gcc is not None:
        source = tmp_path / "many.c"
        source.write_text("".join(f"int f{i}(int x) {{ return x * {i}; }}\n" for i in range(2000))
                          + "int main(void) { return f1(0); }\n")
        subprocess.run([gcc, "-O0", "-o", tmp_path / "many", source], check=True)
        subprocess.run([gcc, "-c", "-o", tmp_path / "many.o", source], check=True)
        out += [tmp_path / "many", tmp_path / "many.o"]
    return out


def test_counts_bound_what_lief_builds(tmp_path: Path) -> None:
    """The pre-count is an upper bound of what LIEF (as the loader configures it) materialises, on real binaries
    and on every hostile shape at a size LIEF can afford here."""
    from verifier.firmware.executables import parse_executable

    samples = {p.name: p.read_bytes() for p in _real_binaries(tmp_path)}
    samples.update({
        "same-bytes": _symtab_and_dt_symtab_over_the_same_bytes(3000),
        "relocation-index": _relocation_claims_the_highest_symbol_index(64 * 1024),
        "gnu-chain": _gnu_hash_chain_runs_long(3000),
    })
    for name, data in samples.items():
        parsed = parse_executable(data)
        assert parsed is not None, name
        binary = parsed[1]
        counts = count_elf_objects(data)
        assert counts.symtab_symbols >= len(binary.symtab_symbols), name
        assert counts.dynamic_symbols >= len(binary.dynamic_symbols), name
        if len(binary.dynamic_symbols) or len(binary.symtab_symbols):
            # and close to it: a real binary is not over-counted into a refusal
            assert counts.symbols <= 2 * (len(binary.symtab_symbols) + len(binary.dynamic_symbols)) + 64, name


def test_real_binaries_still_inventory_with_their_symbols(tmp_path: Path) -> None:
    """The clean twin: u-boot and gcc-built binaries are far under budget and keep their functions."""
    for path in _real_binaries(tmp_path):
        data = path.read_bytes()
        counts = count_elf_objects(data)
        cost = symbol_memory_cost(counts.symbols, counts.relocation_symbols, counts.relocations)
        assert cost <= symbol_memory_budget(DEFAULT_LIMITS, len(data)), (path, counts)
        result, _ = _run_measured(["firmware", "inventory", path])
        assert result.returncode == 0, (path, result.stderr)
    if shutil.which("gcc") is not None:
        from verifier.firmware.inventory import build_manifest

        manifest = build_manifest(tmp_path / "many").to_predicate()
        assert not manifest.get("limits"), manifest.get("limits")
        names = {f.get("name") for f in manifest["functions"]}
        assert {"f0", "f1999", "main"} <= names


def test_embedded_images_share_one_budget() -> None:
    """Images in one file (carved, modules) share the file's budget: each under its own floor, together over it."""
    from verifier.errors import BadInputError
    from verifier.firmware.limits import Limits
    from verifier.firmware.loader import load_bytes

    one = _symtab_and_dt_symtab_over_the_same_bytes(3000)  # 6000 symbols, 4.2 MB of budget at 700 B
    counts = count_elf_objects(one)
    cost = symbol_memory_cost(counts.symbols, counts.relocation_symbols, counts.relocations)
    blob = b"\xff" * 64 + b"".join(one + b"\xff" * 64 for _ in range(8))
    # A floor that fits three of the eight: the fourth is refused, though it fits a floor of its own.
    limits = Limits(symbol_memory_ratio=0, symbol_memory_floor=3 * cost + cost // 2)
    with pytest.raises(BadInputError, match=r"max-symbol-memory.*MiB left of"):
        load_bytes("blob.bin", blob, limits)
    assert load_bytes("one.bin", b"\xff" * 64 + one, limits).children


def test_dynamic_tags_after_a_long_table_are_still_found() -> None:
    """DT_SYMTAB and DT_HASH after 200,000 DT_DEBUG entries: LIEF reads to DT_NULL, so does the count."""
    elf = _Elf(bits=32)
    symbols = elf.blob(bytes(16 * 5000))
    strings = elf.blob(b"\0")
    hashed = elf.blob(struct.pack("<IIII", 1, 5000, 0, 0))
    elf.dynamic([(21, 0)] * 200_000 + [(DT_HASH, BASE + hashed), (DT_SYMTAB, BASE + symbols),
                                       (DT_STRTAB, BASE + strings), (DT_STRSZ, 1)])
    elf.section(".dynsym", SHT_DYNSYM, symbols, 16 * 5000)
    data = elf.build()
    assert count_elf_objects(data).dynamic_symbols == 5000


@pytest.mark.parametrize("ident", [b"\0\0", b"\x03\x01", b"\x01\x00", b"\x02\x03", b"\x02\x01", b"\x02\x02"])
def test_invalid_class_or_byte_order_is_counted_as_lief_guesses(ident: bytes) -> None:
    import lief

    data = _symtab_and_dt_symtab_over_the_same_bytes(2000)
    data = data[:4] + ident + data[6:]
    binary = lief.ELF.parse(list(data))
    counts = count_elf_objects(data)
    built = (len(binary.symtab_symbols), len(binary.dynamic_symbols)) if binary is not None else (0, 0)
    assert counts.symtab_symbols >= built[0] and counts.dynamic_symbols >= built[1], (counts, built)


def test_section_names_are_counted_whatever_the_ident_says(tmp_path: Path) -> None:
    """max-name-bytes read the header by EI_CLASS alone: zeroing it skipped the count while LIEF, reading by
    e_machine, still copied every name to the end of the file. Now the image is read from its segments."""
    seed = Path(__file__).parent / "data" / "elf-section-names-run-to-end-of-file.bin"
    data = seed.read_bytes()
    path = tmp_path / "names-with-zeroed-ident.elf"
    path.write_bytes(_without_class_and_byte_order(data))
    result, _ = _run_measured(["firmware", "inventory", path])
    assert result.returncode == 0, result.stderr
    assert [e["limit"] for e in json.loads(result.stdout)["limits"]] == ["max-name-bytes"]
