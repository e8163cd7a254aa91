"""Every loaded byte is what the vendor declared: planted code that no function discovery reaches, and data-only
changes that change behaviour, each made by patching the shipped (stripped) build, each RUN to show it takes effect,
each then failing the scan against the unstripped build's manifest with a finding that names the change."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.firmware import builders
from tests.firmware.builders import PLANTED_EXIT, ElfPatch
from tests.firmware.conftest import LoadedBuild, LoadedPeBuild
from tests.helpers import run_cli
from verifier.model import Finding, Status, judge
from verifier.workflows.firmware_scan import load_manifest, scan_firmware


def _failed(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check and f.status is Status.FAIL]


def _scan(image: Path, manifest: Path) -> list[Finding]:
    return scan_firmware(image, manifest=load_manifest(manifest))


def _run(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30, check=False)


def _ran_planted_code(binary: Path) -> None:
    result = _run(binary, "admin")
    assert result.returncode == PLANTED_EXIT and "PWNED" in result.stdout, (result.returncode, result.stdout)


def _mode(findings: list[Finding]) -> str:
    return str(next(f for f in findings if f.check == "firmware.comparison-mode").evidence["mode"])


def _stub_in_padding(build: LoadedBuild) -> tuple[ElfPatch, int]:
    address = builders.padding_before(build.clean, "lookup", len(builders.planted_stub()))
    patch = ElfPatch(build.stripped)
    patch.write(address, builders.planted_stub())
    return patch, address


def _assert_undeclared_code(findings: list[Finding], address: int) -> None:
    undeclared = _failed(findings, "firmware.undeclared-code")
    assert undeclared, [f for f in findings if f.status is not Status.PASS]
    regions = undeclared[0].evidence["regions"]
    assert any(int(r["address"], 16) <= address < int(r["address"], 16) + r["size"] for r in regions), regions
    assert regions[0]["between"][1] == "lookup"


def _not_discoverable(findings: list[Finding]) -> None:
    """Function discovery alone would have passed it: no call, symbol, unwind entry or entry table reaches it."""
    assert not _failed(findings, "firmware.hidden-function")


def test_clean_build_and_its_stripped_copy_pass_byte_exact(loaded_build: LoadedBuild) -> None:
    assert _run(loaded_build.stripped, "admin").stdout.splitlines()[-1] == "bye"
    for image in (loaded_build.clean, loaded_build.stripped):
        findings = _scan(image, loaded_build.manifest)
        assert judge(findings).value == "pass", [f for f in findings if f.status is not Status.PASS]
        assert _mode(findings) == "byte-exact"
        assert any(f.check == "firmware.loaded-bytes" and f.status is Status.PASS for f in findings)


def test_code_in_text_padding_reached_through_a_data_function_pointer(loaded_build: LoadedBuild,
                                                                       tmp_path: Path) -> None:
    patch, address = _stub_in_padding(loaded_build)
    hook = builders.elf_symbols(loaded_build.clean)["at_exit_hook"][0]
    patch.pointer(hook, address)
    planted = patch.save(tmp_path / "padding_code_via_data_pointer")
    _ran_planted_code(planted)
    findings = _scan(planted, loaded_build.manifest)
    _assert_undeclared_code(findings, address)
    _not_discoverable(findings)
    data = _failed(findings, "firmware.changed-data")
    assert data and data[0].evidence["regions"][0]["symbol"] == "at_exit_hook", data
    assert run_cli(["firmware", "scan", planted, "--manifest", loaded_build.manifest]).returncode == 1


def test_code_in_text_padding_reached_through_a_got_plt_slot(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    patch, address = _stub_in_padding(loaded_build)
    patch.pointer(builders.got_slot(loaded_build.clean, "puts"), address)
    planted = patch.save(tmp_path / "padding_code_via_got_plt")
    _ran_planted_code(planted)
    findings = _scan(planted, loaded_build.manifest)
    _assert_undeclared_code(findings, address)
    _not_discoverable(findings)
    control = _failed(findings, "firmware.changed-control-flow")
    assert control and control[0].evidence["changes"][0]["table"] == ".got.plt", control


def test_code_in_text_padding_reached_through_a_fini_array_entry(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    patch, address = _stub_in_padding(loaded_build)
    patch.pointer(builders.elf_section(loaded_build.clean, ".fini_array")[0], address)
    planted = patch.save(tmp_path / "padding_code_via_fini_array")
    _ran_planted_code(planted)
    findings = _scan(planted, loaded_build.manifest)
    _assert_undeclared_code(findings, address)
    control = _failed(findings, "firmware.changed-control-flow")
    assert control and control[0].evidence["changes"][0]["table"] == ".fini_array", control
    entries = _failed(findings, "firmware.constructor")
    assert entries and {"kind": "fini_array", "index": 0, "address": f"{address:#x}"} in \
        entries[0].evidence["constructors"]


def test_code_in_text_padding_reached_through_dt_fini(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    patch, address = _stub_in_padding(loaded_build)
    dynamic = builders.elf_section(loaded_build.clean, ".dynamic")[0]
    patch.pointer(patch.dynamic_entry(dynamic, 13), address)  # DT_FINI
    planted = patch.save(tmp_path / "padding_code_via_dt_fini")
    _ran_planted_code(planted)
    findings = _scan(planted, loaded_build.manifest)
    _assert_undeclared_code(findings, address)
    control = _failed(findings, "firmware.changed-control-flow")
    assert control and control[0].evidence["changes"][0]["table"] == ".dynamic", control
    entries = _failed(findings, "firmware.constructor")
    assert entries and any(c["kind"] == "dt_fini" for c in entries[0].evidence["constructors"])


def test_code_in_text_padding_reached_through_an_ifunc_relocation(loaded_build: LoadedBuild,
                                                                   tmp_path: Path) -> None:
    """The R_X86_64_IRELATIVE relocation's addend names the IFUNC resolver that ld.so calls at start-up."""
    patch, address = _stub_in_padding(loaded_build)
    resolver = builders.elf_symbols(loaded_build.clean)["resolve_checksum"][0]
    relocation = builders.irelative_addend(loaded_build.clean, resolver)
    patch.pointer(relocation, address)
    planted = patch.save(tmp_path / "padding_code_via_ifunc_resolver")
    _ran_planted_code(planted)
    findings = _scan(planted, loaded_build.manifest)
    _assert_undeclared_code(findings, address)
    control = _failed(findings, "firmware.changed-control-flow")
    assert control and control[0].evidence["changes"][0]["table"].startswith(".rela"), control
    entries = _failed(findings, "firmware.constructor")
    assert entries and {"kind": "ifunc", "index": 0, "address": f"{address:#x}"} in entries[0].evidence["constructors"]


def test_code_in_text_padding_not_reached_yet(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    """Dormant code: the binary still behaves as shipped (it ran), the planted bytes wait for a later patch."""
    patch, address = _stub_in_padding(loaded_build)
    planted = patch.save(tmp_path / "padding_code_unreached")
    result = _run(planted, "admin")
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "bye"
    _assert_undeclared_code(_scan(planted, loaded_build.manifest), address)


def test_section_headers_that_lie_do_not_hide_planted_code(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    """Bytes are judged by PT_LOAD, which the loader uses: .text marked not-allocated, or no section headers at all,
    changes nothing about what runs, nor about what the scan sees."""
    hook = builders.elf_symbols(loaded_build.clean)["at_exit_hook"][0]
    for lie in ("clear_alloc", "drop_section_headers"):
        patch, address = _stub_in_padding(loaded_build)
        patch.pointer(hook, address)
        if lie == "clear_alloc":
            patch.clear_alloc(".text")
        else:
            patch.drop_section_headers()
        planted = patch.save(tmp_path / f"padding_code_{lie}")
        _ran_planted_code(planted)
        findings = _scan(planted, loaded_build.manifest)
        _assert_undeclared_code(findings, address)


def test_rodata_segment_made_executable_with_code_in_rodata(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    symbols = builders.elf_symbols(loaded_build.clean)
    help_text = symbols["help_text"][0]
    patch = ElfPatch(loaded_build.stripped)
    patch.write(help_text, builders.planted_stub())
    patch.make_executable(help_text)  # R -> R-X, not RWX
    patch.pointer(symbols["at_exit_hook"][0], help_text)
    planted = patch.save(tmp_path / "rodata_made_rx_with_code")
    _ran_planted_code(planted)
    findings = _scan(planted, loaded_build.manifest)
    flags = _failed(findings, "firmware.segment-flags")
    assert flags and flags[0].evidence["changes"][0]["declared"] == "r--" \
        and flags[0].evidence["changes"][0]["actual"] == "r-x", flags
    assert not _failed(findings, "firmware.rwx"), "R-X is not RWX: the old check could not see this"
    data = _failed(findings, "firmware.changed-data")
    assert data and any(r.get("symbol") == "help_text" for r in data[0].evidence["regions"]), data


def test_swapped_handler_pointers_in_data(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    handlers = builders.elf_symbols(loaded_build.clean)["handlers"][0]
    patch = ElfPatch(loaded_build.stripped)
    deny, allow = patch.read_pointer(handlers), patch.read_pointer(handlers + 8)
    patch.pointer(handlers, allow)
    patch.pointer(handlers + 8, deny)
    planted = patch.save(tmp_path / "swapped_handlers")
    result = _run(planted, "guest")
    assert result.returncode == 0 and "allow guest" in result.stdout, "a guest is now let in"
    findings = _scan(planted, loaded_build.manifest)
    data = _failed(findings, "firmware.changed-data")
    assert data and data[0].evidence["regions"][0]["symbol"] == "handlers", data
    assert data[0].evidence["regions"][0]["section"] == ".data"
    assert not _failed(findings, "firmware.changed-function")


def test_rewritten_path_string(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    planted = builders.replace_bytes(loaded_build.stripped, tmp_path / "rewritten_config_path",
                                     b"/etc/vendor.conf", b"/tmp/vendor.conf")
    assert "config /tmp/vendor.conf" in _run(planted).stdout
    findings = _scan(planted, loaded_build.manifest)
    data = _failed(findings, "firmware.changed-data")
    assert data and data[0].evidence["regions"][0]["symbol"] == "config_path", data
    assert data[0].evidence["regions"][0]["section"] == ".rodata"


def test_grown_segment_carrying_code_past_its_declared_end(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    """p_filesz/p_memsz of the code segment grown over the page's padding, code placed there: no declared range
    covers those bytes, so the layout itself must fail."""
    import struct

    patch = ElfPatch(loaded_build.stripped)
    header, _, offset, vaddr, filesz = next(s for s in patch.segments() if s[1] & 1)
    address = (vaddr + filesz + 15) & ~15
    grown = address + len(builders.planted_stub()) - vaddr
    patch.data[offset + address - vaddr : offset + grown] = builders.planted_stub()
    struct.pack_into("<QQ", patch.data, header + 32, grown, grown)
    patch.pointer(builders.elf_symbols(loaded_build.clean)["at_exit_hook"][0], address)
    planted = patch.save(tmp_path / "grown_code_segment")
    _ran_planted_code(planted)
    findings = _scan(planted, loaded_build.manifest)
    layout = _failed(findings, "firmware.loaded-layout")
    assert layout and {c["change"] for c in layout[0].evidence["changes"]} == {"memory_size", "file_size"}, layout


def test_manifest_without_loaded_bytes_is_judged_function_level_and_says_so(loaded_build: LoadedBuild,
                                                                             tmp_path: Path) -> None:
    """A vendor that declares functions, not bytes (another build): the function checks still run, the report
    names the mode, and data-only changes are then out of reach, which is why inventory declares bytes."""
    predicate = json.loads(loaded_build.manifest.read_bytes())
    del predicate["loaded"]
    functions_only = tmp_path / "functions-only.json"
    functions_only.write_text(json.dumps(predicate))
    findings = _scan(loaded_build.stripped, functions_only)
    assert judge(findings).value == "pass" and _mode(findings) == "function-level"
    planted = tmp_path / "patched_lookup"
    builders.patch_function(loaded_build.clean, loaded_build.stripped, "lookup", planted)
    findings = _scan(planted, functions_only)
    assert _mode(findings) == "function-level" and _failed(findings, "firmware.changed-function")


# --- PE (mingw) ---------------------------------------------------------------------------------------------------

class _PePatch:
    def __init__(self, path: Path) -> None:
        import lief

        self.binary = lief.PE.parse(str(path))
        self.data = bytearray(path.read_bytes())
        self.base = int(self.binary.optional_header.imagebase)

    def write(self, address: int, content: bytes) -> None:
        at = int(self.binary.rva_to_offset(address - self.base))
        self.data[at : at + len(content)] = content

    def read_pointer(self, address: int) -> int:
        import struct

        (value,) = struct.unpack_from("<Q", self.data, int(self.binary.rva_to_offset(address - self.base)))
        return int(value)

    def section_of(self, address: int) -> object:
        return self.binary.section_from_rva(address - self.base)

    def save(self, out: Path) -> Path:
        out.write_bytes(bytes(self.data))
        return out


def _pe_symbols(path: Path) -> dict[str, int]:
    import lief

    binary = lief.PE.parse(str(path))
    base = int(binary.optional_header.imagebase)
    out = {}
    for symbol in binary.symbols:
        if 0 < symbol.section_idx <= len(binary.sections):
            section = binary.sections[symbol.section_idx - 1]
            out[str(symbol.name)] = base + int(section.virtual_address) + int(symbol.value)
    return out


def test_pe_clean_unstripped_manifest_stripped_image_passes(loaded_pe_build: LoadedPeBuild) -> None:
    """The false reject this fixes: mingw's discardable .debug_* sections are gone after strip; not tampering."""
    findings = _scan(loaded_pe_build.stripped, loaded_pe_build.manifest)
    assert judge(findings).value == "pass", [f for f in findings if f.status is not Status.PASS]
    assert _mode(findings) == "byte-exact"


def _pe_header_field(image: Path, out: Path, offset_from_coff: int, value: bytes) -> Path:
    import struct

    data = bytearray(image.read_bytes())
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    at = lfanew + 4 + offset_from_coff
    data[at : at + len(value)] = value
    out.write_bytes(bytes(data))
    return out


def test_pe_stripped_in_a_later_second_passes(loaded_pe_build: LoadedPeBuild, tmp_path: Path) -> None:
    """The false reject this fixes: binutils' strip writes the time it ran into the COFF TimeDateStamp, so a copy
    stripped a second (or a release) after the link differs there; CI saw it on a loaded machine. The stamp is set
    here as strip would a day later, rather than waiting."""
    later = _pe_header_field(loaded_pe_build.stripped, tmp_path / "stripped_a_day_later.exe", 4,
                             (1_800_000_000).to_bytes(4, "little"))
    findings = _scan(later, loaded_pe_build.manifest)
    assert judge(findings).value == "pass", [f for f in findings if f.status is not Status.PASS]
    assert _mode(findings) == "byte-exact"


def test_pe_header_byte_beside_the_timestamp_still_fails(loaded_pe_build: LoadedPeBuild, tmp_path: Path) -> None:
    """The mask covers the stamp only: the optional header's linker version, four bytes on, is still compared."""
    changed = _pe_header_field(loaded_pe_build.stripped, tmp_path / "linker_version_changed.exe", 20 + 2, b"\x63")
    findings = _scan(changed, loaded_pe_build.manifest)
    assert judge(findings).value == "fail"
    assert any(f.check == "firmware.loaded-bytes" and f.status is Status.FAIL for f in findings), findings


def test_pe_code_in_text_padding_reached_through_a_data_pointer(loaded_pe_build: LoadedPeBuild,
                                                                tmp_path: Path) -> None:
    """No wine here, so the PE is not run: the test shows instead that the planted bytes lie in the loaded,
    executable .text and that the .data pointer the program calls at exit now holds their address."""
    import struct

    symbols = _pe_symbols(loaded_pe_build.clean)
    patch = _PePatch(loaded_pe_build.stripped)
    address = (symbols["lookup"] - 0x40) & ~15
    assert symbols["lookup"] - address >= len(builders.planted_stub())
    at = int(patch.binary.rva_to_offset(address - patch.base))
    assert set(patch.data[at : symbols["lookup"] - address + at]) <= set(b"\x66\x2e\x0f\x1f\x84\x00\x90\xcc"), \
        "the planted bytes replace alignment padding (multi-byte NOPs), not code"
    patch.write(address, builders.planted_stub())
    patch.write(symbols["at_exit_hook"], struct.pack("<Q", address))
    planted = patch.save(tmp_path / "pe_padding_code_via_data_pointer.exe")
    check = _PePatch(planted)
    assert check.read_pointer(symbols["at_exit_hook"]) == address
    assert int(check.section_of(address).characteristics) & 0x20000000, "planted bytes are in executable code"
    findings = _scan(planted, loaded_pe_build.manifest)
    undeclared = _failed(findings, "firmware.undeclared-code")
    assert undeclared and undeclared[0].evidence["regions"][0]["section"] == ".text", findings
    data = _failed(findings, "firmware.changed-data")
    assert data and data[0].evidence["regions"][0]["section"] == ".data"


def test_pe_swapped_handler_pointers_in_data(loaded_pe_build: LoadedPeBuild, tmp_path: Path) -> None:
    """Not run (no wine): the two handler pointers the program dispatches through are swapped in .data."""
    import struct

    handlers = _pe_symbols(loaded_pe_build.clean)["handlers"]
    patch = _PePatch(loaded_pe_build.stripped)
    deny, allow = patch.read_pointer(handlers), patch.read_pointer(handlers + 8)
    assert deny != allow
    patch.write(handlers, struct.pack("<QQ", allow, deny))
    planted = patch.save(tmp_path / "pe_swapped_handlers.exe")
    findings = _scan(planted, loaded_pe_build.manifest)
    data = _failed(findings, "firmware.changed-data")
    assert data and data[0].evidence["regions"][0]["section"] == ".data", findings
    assert not _failed(findings, "firmware.changed-function")


def test_pe_entry_point_moved(loaded_pe_build: LoadedPeBuild, tmp_path: Path) -> None:
    import struct

    data = bytearray(loaded_pe_build.stripped.read_bytes())
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    at = lfanew + 4 + 20 + 16  # AddressOfEntryPoint: PE signature, COFF header, then 16 bytes into the optional one
    (entry,) = struct.unpack_from("<I", data, at)
    struct.pack_into("<I", data, at, entry + 0x10)
    planted = tmp_path / "pe_entry_moved.exe"
    planted.write_bytes(bytes(data))
    control = _failed(_scan(planted, loaded_pe_build.manifest), "firmware.changed-control-flow")
    assert control and [c["table"] for c in control[0].evidence["changes"]] == ["entry point"], control


def _pe_header_offsets(data: bytes) -> tuple[int, int, int]:
    """(COFF header, optional header, section table) file offsets."""
    import struct

    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    coff = lfanew + 4
    (optional_size,) = struct.unpack_from("<H", data, coff + 16)
    return coff, coff + 20, coff + 20 + optional_size


def _pe_section_header(data: bytes, name: bytes) -> int:
    _, _, table = _pe_header_offsets(data)
    for at in range(table, table + 40 * 32, 40):
        if data[at : at + 8].rstrip(b"\0") == name:
            return at
    raise AssertionError(name)


def test_pe_header_and_table_tampering(loaded_pe_build: LoadedPeBuild, tmp_path: Path) -> None:
    """Header edits an attacker would try: a base relocation entry changed (retargets a pointer at load time), .data's
    raw bytes taken from elsewhere in the file, SizeOfImage grown past the declared one. The CheckSum is not a loaded
    byte (Authenticode protects a signed image): changing it alone passes, by design."""
    import struct

    shipped = loaded_pe_build.stripped.read_bytes()
    _, optional, _ = _pe_header_offsets(shipped)
    variants: dict[str, tuple[bytearray, str]] = {}

    reloc = bytearray(shipped)
    at = struct.unpack_from("<I", reloc, _pe_section_header(reloc, b".reloc") + 20)[0] + 8
    struct.pack_into("<H", reloc, at, struct.unpack_from("<H", reloc, at)[0] ^ 0x0008)
    variants["reloc_entry_changed"] = (reloc, "firmware.changed-control-flow")

    moved = bytearray(shipped)
    data_header, rdata_header = _pe_section_header(moved, b".data"), _pe_section_header(moved, b".rdata")
    moved[data_header + 20 : data_header + 24] = moved[rdata_header + 20 : rdata_header + 24]
    variants["data_raw_pointer_moved"] = (moved, "firmware.changed-data")

    grown = bytearray(shipped)
    declared = json.loads(loaded_pe_build.manifest.read_bytes())["loaded"]["header"]["size_of_image"]
    struct.pack_into("<I", grown, optional + 56, declared + 0x10000)  # anything from the sections' end to declared
    variants["size_of_image_grown"] = (grown, "firmware.loaded-layout")  # is what strip leaves; beyond it is not

    for name, (data, check) in variants.items():
        planted = tmp_path / f"pe_{name}.exe"
        planted.write_bytes(bytes(data))
        assert _failed(_scan(planted, loaded_pe_build.manifest), check), name

    checksum = bytearray(shipped)
    struct.pack_into("<I", checksum, optional + 64, 0x1234)
    planted = tmp_path / "pe_checksum_only.exe"
    planted.write_bytes(bytes(checksum))
    assert judge(_scan(planted, loaded_pe_build.manifest)).value == "pass"


def test_overlapping_segment_replaces_the_code_page(loaded_build: LoadedBuild, tmp_path: Path) -> None:
    """The declared code segment's file bytes stay pristine; a PT_NOTE header turned into a later PT_LOAD maps a
    patched copy of the code page over it (MAP_FIXED: the later mapping wins). Judged at the declared addresses as
    the loader maps them, the planted code is seen."""
    import struct

    address = builders.padding_before(loaded_build.clean, "lookup", len(builders.planted_stub()))
    patch = ElfPatch(loaded_build.stripped)
    page = address & ~0xFFF
    original = bytes(patch.data)
    copy = bytearray(original[patch.offset(page) : patch.offset(page) + 0x1000].ljust(0x1000, b"\0"))
    copy[address - page : address - page + len(builders.planted_stub())] = builders.planted_stub()
    patch.pointer(builders.elf_symbols(loaded_build.clean)["at_exit_hook"][0], address)
    offset = (len(patch.data) + 0xFFF) & ~0xFFF
    patch.data = patch.data.ljust(offset, b"\0") + copy
    for i in range(patch.phnum):
        at = patch.phoff + i * patch.phentsize
        if struct.unpack_from("<I", patch.data, at)[0] == 4:  # PT_NOTE
            struct.pack_into("<IIQQQQQQ", patch.data, at, 1, 5, offset, page, page, 0x1000, 0x1000, 0x1000)
            break
    else:
        raise AssertionError("no PT_NOTE to repurpose")
    planted = patch.save(tmp_path / "overlapping_code_segment")
    assert patch.data[patch.offset(address) : patch.offset(address) + 4] != b"\xb8\x01\x00\x00"
    _ran_planted_code(planted)
    findings = _scan(planted, loaded_build.manifest)
    _assert_undeclared_code(findings, address)
    assert _failed(findings, "firmware.loaded-layout")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.integers(0, 16000), st.integers(0, 255)), min_size=1, max_size=8),
       length=st.integers(64, 16000), pe=st.booleans())
def test_mutated_images_never_crash_the_byte_comparison(loaded_build: LoadedBuild, loaded_pe_build: LoadedPeBuild,
                                                        cuts: list[tuple[int, int]], length: int, pe: bool,
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Headers the attacker wrote, read against a real manifest: a finding or bad input, never a crash."""
    from verifier.errors import BadInputError

    source = loaded_pe_build if pe else loaded_build
    data = bytearray(source.stripped.read_bytes())[:length]
    for offset, value in cuts:
        if offset < len(data):
            data[offset] = value
    mutated = tmp_path_factory.mktemp("mutated") / "image"
    mutated.write_bytes(bytes(data))
    try:
        findings = _scan(mutated, source.manifest)
    except BadInputError:
        return
    if judge(findings).value == "pass":
        # only when no loaded byte changed: every edit fell on masked or unloaded bytes of the shipped file
        loaded = _loaded_file_bytes(source.stripped)
        original = source.stripped.read_bytes()
        changed = {i for i in range(min(len(data), len(original))) if data[i] != original[i]}
        assert not changed & loaded and (len(data) >= len(original) or not set(range(len(data), len(original)))
                                         & loaded), sorted(changed & loaded)[:8]


def _loaded_file_bytes(path: Path) -> set[int]:
    from verifier.firmware.inventory import analyse
    from verifier.firmware.loaded_view import view_of
    from verifier.firmware.loader import load_file

    image = load_file(path)
    view = view_of(image, analyse(image).predicate)
    assert view is not None
    masked = {i for start, end in view.mask for i in range(start, end)}
    return {i for r in view.ranges for i in range(r.offset, r.offset + r.size)} - masked


def test_pe_debug_named_section_overlapping_text_is_not_skipped(loaded_pe_build: LoadedPeBuild,
                                                                tmp_path: Path) -> None:
    """Discardable .debug* sections do not count only where mingw puts them (after the others, overlapping none).
    Here one is added over .text: a UEFI loader copies sections in order, so its bytes would replace the code. Not
    run (no wine, no UEFI shell here): the scan must see the added section and the replaced bytes."""
    import struct

    data = bytearray(loaded_pe_build.stripped.read_bytes())
    coff, _, table = _pe_header_offsets(bytes(data))
    (count,) = struct.unpack_from("<H", data, coff + 2)
    text = _pe_section_header(bytes(data), b".text")
    text_rva = struct.unpack_from("<I", data, text + 12)[0]
    entry = table + 40 * count
    assert bytes(data[entry : entry + 40]) == bytes(40), "no room for another section header"
    raw = (len(data) + 0x1FF) & ~0x1FF
    payload = (b"\x90" * 0x100 + builders.planted_stub()).ljust(0x200, b"\xcc")
    struct.pack_into("<8sIIIIIIHHI", data, entry, b".debug_z", 0x200, text_rva + 0x100, 0x200, raw, 0, 0, 0, 0,
                     0x42000040)
    struct.pack_into("<H", data, coff + 2, count + 1)
    planted = tmp_path / "pe_debug_section_over_text.exe"
    planted.write_bytes(bytes(data.ljust(raw, b"\0")) + payload)
    findings = _scan(planted, loaded_pe_build.manifest)
    layout = _failed(findings, "firmware.loaded-layout")
    assert layout and any(c["where"] == "section .debug_z" and c["change"] == "added"
                          for c in layout[0].evidence["changes"]), findings
    assert _failed(findings, "firmware.loaded-bytes")


def test_hostile_loaded_declarations_are_a_verdict_or_bad_input_never_a_crash(loaded_build: LoadedBuild,
                                                                             tmp_path: Path) -> None:
    predicate = json.loads(loaded_build.manifest.read_bytes())
    edits = {
        "huge_range": lambda loaded: loaded["ranges"][0].update(size=1 << 40),
        "tiny_chunk": lambda loaded: loaded.update(chunk=0),
        "garbage_pieces": lambda loaded: loaded["ranges"][1].update(pieces="zz", sha256="00"),
        "address_not_hex": lambda loaded: loaded["ranges"][0].update(address="nope"),
        "layout_not_a_list": lambda loaded: loaded.update(layout=7),
    }
    for name, edit in edits.items():
        broken = json.loads(json.dumps(predicate))
        edit(broken["loaded"])
        manifest = tmp_path / f"{name}.json"
        manifest.write_text(json.dumps(broken))
        result = run_cli(["firmware", "scan", loaded_build.stripped, "--manifest", manifest])
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr, (name, result.stderr)


MALFORMED_LOADED = [("header", None), ("header", [1]), ("mask", "12"), ("mask", [[1]]), ("mask", 5),
                    ("ranges", "r"), ("ranges", None), ("piece_digest_hex", [8]), ("layout", [3])]


@pytest.mark.parametrize(("field", "value"), MALFORMED_LOADED, ids=[f"{f}-{i}" for i, (f, _) in
                                                                    enumerate(MALFORMED_LOADED)])
def test_malformed_loaded_declaration_stays_bad_input(loaded_build: LoadedBuild, field: str, value: object) -> None:
    """A hand-edited ``loaded`` field is bad input through the scan, as before the byte judge was typed."""
    from verifier.errors import BadInputError

    predicate = load_manifest(loaded_build.manifest)
    edited = {**predicate, "loaded": {**predicate["loaded"], field: value}}
    with pytest.raises(BadInputError, match="not a well-formed firmware manifest"):
        scan_firmware(loaded_build.stripped, manifest=edited)
