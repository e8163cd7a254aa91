"""Builders for the firmware tests: planted backdoors, tampered copies, hand-made volumes and bombs.

Everything here is made by the tests in a temporary directory; nothing is ever executed.
"""

from __future__ import annotations

import lzma
import os
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

SRC = Path(__file__).resolve().parent / "src"
LZMA_SECTION_GUID = uuid.UUID("ee4e5898-3914-4259-9d6e-dc7bd79403cf")
FFS2_GUID = uuid.UUID("8c8ce578-8a3d-4f1c-9935-896185c32dd3")


def gcc(source: str, out: Path, *extra: str) -> Path:
    subprocess.run(["gcc", "-O2", "-fno-inline-functions", "-o", str(out), str(SRC / source), *extra], check=True)
    return out


def mingw(source: str, out: Path) -> Path | None:
    if shutil.which("x86_64-w64-mingw32-gcc") is None:
        return None
    subprocess.run(["x86_64-w64-mingw32-gcc", "-O2", "-o", str(out), str(SRC / source)], check=True)
    return out


def strip(path: Path, out: Path) -> Path:
    subprocess.run(["strip", "-o", str(out), str(path)], check=True)
    return out


def symbol_address(path: Path, name: str) -> int:
    import lief

    binary = lief.parse(str(path))
    symbol = binary.get_symbol(name)
    assert symbol is not None, name
    return int(symbol.value)


def flip_byte(path: Path, out: Path, offset: int) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


def patch_function(unstripped: Path, stripped: Path, name: str, out: Path) -> int:
    """Flip one byte in the middle of ``name``'s body inside the stripped binary; returns its address."""
    import lief

    binary = lief.parse(str(unstripped))
    symbol = binary.get_symbol(name)
    assert symbol is not None and symbol.size > 4
    offset = binary.virtual_address_to_offset(symbol.value + symbol.size // 2)
    flip_byte(stripped, out, offset)
    return int(symbol.value)


def inject_rwx_segment(path: Path, out: Path) -> None:
    """Add a PT_LOAD segment, readable, writable and executable, with code that no section describes."""
    import lief

    binary = lief.parse(str(path))
    segment = lief.ELF.Segment()
    segment.type = lief.ELF.Segment.TYPE.LOAD
    segment.flags = lief.ELF.Segment.FLAGS.R | lief.ELF.Segment.FLAGS.W | lief.ELF.Segment.FLAGS.X
    # xor edi,edi; mov eax,60; syscall (exit(0)) behind a NOP sled: never run, only looked at.
    segment.content = list(b"\x90" * 32 + b"\x31\xff\xb8\x3c\x00\x00\x00\x0f\x05" + b"\xcc" * 23)
    segment.alignment = 0x1000
    binary.add(segment)
    binary.write(str(out))


def add_export(path: Path, out: Path, function: str, export_name: str) -> None:
    import lief

    binary = lief.parse(str(path))
    address = binary.get_symbol(function).value
    binary.add_exported_function(address, export_name)
    binary.write(str(out))


def append_payload(path: Path, out: Path) -> None:
    payload = b"PAYLOAD\0" + bytes((i * 37) & 0xFF for i in range(4096))
    out.write_bytes(path.read_bytes() + payload)


def firmware_volume(files: list[tuple[uuid.UUID, int, bytes]]) -> bytes:
    """A minimal FFSv2 firmware volume holding ``(guid, file type, sections)`` files."""
    body = b""
    header_length = 0x48
    for guid, file_type, sections in files:
        while (header_length + len(body)) % 8:
            body += b"\xff"
        size = 24 + len(sections)
        header = guid.bytes_le + struct.pack("<HBB", 0, file_type, 0) + size.to_bytes(3, "little") + b"\xf8"
        body += header + sections
    length = header_length + len(body)
    length = (length + 0xFFF) & ~0xFFF
    body = body.ljust(length - header_length, b"\xff")
    header = (bytes(16) + FFS2_GUID.bytes_le + struct.pack("<Q", length) + b"_FVH"
              + struct.pack("<IHHHBB", 0x0004FEFF, header_length, 0, 0, 0, 2)
              + struct.pack("<II", length // 0x1000, 0x1000) + struct.pack("<II", 0, 0))
    assert len(header) == header_length
    return header + body


def section(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    data = size.to_bytes(3, "little") + bytes([kind]) + payload
    return data + b"\0" * (-len(data) % 4)


def lzma_section(inner: bytes) -> bytes:
    compressed = lzma.compress(inner, format=lzma.FORMAT_ALONE)
    compressed = compressed[:5] + struct.pack("<Q", len(inner)) + compressed[13:]
    return section(0x02, LZMA_SECTION_GUID.bytes_le + struct.pack("<HH", 0x18, 1) + compressed)


def lzma_bomb_section(expanded: int) -> bytes:
    """A GUID-defined LZMA section of a few kilobytes that really expands to ``expanded`` zero bytes."""
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_ALONE, preset=0)
    chunk = bytes(16 << 20)
    parts = [compressor.compress(chunk) for _ in range(expanded // len(chunk))]
    parts.append(compressor.flush())
    stream = b"".join(parts)
    stream = stream[:5] + struct.pack("<Q", expanded) + stream[13:]
    return section(0x02, LZMA_SECTION_GUID.bytes_le + struct.pack("<HH", 0x18, 1) + stream)


def sparse_file(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def random_bytes(path: Path, size: int, seed: int = 7) -> Path:
    import random

    rng = random.Random(seed)
    path.write_bytes(bytes(rng.getrandbits(8) for _ in range(size)))
    return path


def microsoft_uefi_ca(vars_file: Path = Path("/usr/share/OVMF/OVMF_VARS.ms.fd")) -> bytes | None:
    """The 'Microsoft Corporation UEFI CA 2011' certificate, taken from the db of OVMF's Microsoft-enrolled
    variable store: an independent source of the anchor that shim's signature must chain to."""
    from cryptography import x509

    if not vars_file.is_file():
        return None
    data = vars_file.read_bytes()
    start = 0
    while True:
        at = data.find(b"\x30\x82", start)
        if at < 0:
            return None
        start = at + 1
        length = int.from_bytes(data[at + 2 : at + 4], "big") + 4
        try:
            cert = x509.load_der_x509_certificate(data[at : at + length])
        except ValueError:
            continue
        if "UEFI CA 2011" in cert.subject.rfc4514_string():
            return data[at : at + length]


def self_signed_ca(out_dir: Path, name: str) -> tuple[Path, Path]:
    """A throwaway CA (key, cert PEM) for signing test PEs with sbsign."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_path, cert_path = out_dir / f"{name}.key", out_dir / f"{name}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(key_path, 0o600)
    return key_path, cert_path


def efi_option_rom(driver: bytes, *, compress: bool, declared_size: int | None = None) -> bytes:
    """A PCI expansion ROM holding one EFI driver image, EFI-compressed when asked (as iPXE's efirom can).

    ``declared_size`` overrides the original size in the compressed stream's header: a decompression bomb.
    """
    from uefi_firmware import efi_compressor

    body = driver
    if compress:
        body = bytes(efi_compressor.EfiCompress(driver, len(driver)))
        if declared_size is not None:
            body = body[:4] + struct.pack("<I", declared_size) + body[8:]
    header_offset = 0x38
    total = (header_offset + len(body) + 511) & ~511
    header = (b"\x55\xaa" + struct.pack("<HIHHH8sH", total // 512, 0x0EF1, 11, 0x8664, int(compress), bytes(8),
                                        header_offset) + struct.pack("<H", 0x1C))
    pcir = (b"PCIR" + struct.pack("<HHHHB3sHHBBH", 0x8086, 0x100E, 0, 0x18, 3, b"\x00\x00\x02", total // 512,
                                  1, 3, 0x80, 0))
    rom = header + b"\0\0" + pcir  # PCIR at 0x1C
    rom += bytes(header_offset - len(rom)) + body
    return rom.ljust(total, b"\0")


def macho_executable(code: bytes) -> bytes:
    """A minimal x86-64 Mach-O executable: one __TEXT segment with a __text section and LC_MAIN."""
    text_offset = 0x200
    base = 0x100000000
    section = struct.pack("<16s16sQQIIIIIIII", b"__text", b"__TEXT", base + text_offset, len(code), text_offset,
                          4, 0, 0, 0x80000400, 0, 0, 0)
    segment = struct.pack("<II16sQQQQiiII", 0x19, 72 + len(section), b"__TEXT", base, 0x1000, 0, 0x1000, 5, 5,
                          1, 0) + section
    main = struct.pack("<IIQQ", 0x80000028, 24, text_offset, 0)
    commands = segment + main
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 2, 2, len(commands), 0, 0)
    image = header + commands
    return (image.ljust(text_offset, b"\0") + code).ljust(0x1000, b"\0")


# --- loaded-bytes tampering: each variant patches the shipped (stripped) bytes the way an attacker would ----------

#: exit status of the planted code, so that a test can tell it ran
PLANTED_EXIT = 42


def planted_stub() -> bytes:
    """x86-64 Linux code that writes "PWNED\\n" and exits with PLANTED_EXIT; position independent, 42 bytes."""
    return (b"\xb8\x01\x00\x00\x00"              # mov eax, 1 (write)
            b"\xbf\x01\x00\x00\x00"              # mov edi, 1
            b"\x48\x8d\x35\x13\x00\x00\x00"      # lea rsi, [rip + 0x13] -> the message
            b"\xba\x06\x00\x00\x00"              # mov edx, 6
            b"\x0f\x05"                          # syscall
            b"\xb8\x3c\x00\x00\x00"              # mov eax, 60 (exit)
            + bytes([0xBF, PLANTED_EXIT, 0, 0, 0])  # mov edi, 42
            + b"\x0f\x05"                        # syscall
            b"PWNED\n")


def gcc_no_pie(source: str, out: Path) -> Path:
    """A non-PIE, lazily bound build: .data pointers and .got.plt slots hold the addresses the loader uses as is."""
    return gcc(source, out, "-no-pie", "-Wl,-z,lazy")


def elf_symbols(path: Path) -> dict[str, tuple[int, int]]:
    import lief

    binary = lief.parse(str(path))
    return {str(s.name): (int(s.value), int(s.size)) for s in binary.symtab_symbols if s.name}


def elf_section(path: Path, name: str) -> tuple[int, int]:
    import lief

    section = lief.parse(str(path)).get_section(name)
    assert section is not None, name
    return int(section.virtual_address), int(section.size)


def got_slot(path: Path, function: str) -> int:
    import lief

    binary = lief.parse(str(path))
    for relocation in binary.pltgot_relocations:
        if relocation.has_symbol and relocation.symbol.name == function:
            return int(relocation.address)
    raise AssertionError(f"no PLT slot for {function}")


def irelative_addend(path: Path, resolver: int) -> int:
    """The address of the addend of the R_X86_64_IRELATIVE relocation that calls ``resolver``."""
    import lief

    binary = lief.parse(str(path))
    for section in binary.sections:
        if int(section.type) != 4:  # SHT_RELA
            continue
        raw = bytes(section.content)
        for at in range(0, len(raw) - 23, 24):
            _, info, addend = struct.unpack_from("<QQq", raw, at)
            if info & 0xFFFFFFFF == 37 and addend == resolver:
                return int(section.virtual_address) + at + 16
    raise AssertionError("no IRELATIVE relocation for the resolver")


def padding_before(path: Path, function: str, room: int) -> int:
    """A 16-aligned address in the alignment padding before ``function``, with at least ``room`` bytes free."""
    symbols = elf_symbols(path)
    start = symbols[function][0]
    end = max(a + s for a, s in symbols.values() if a < start and a + s <= start and s)
    address = (end + 15) & ~15
    assert start - address >= room, f"only {start - address} bytes of padding before {function}"
    return address


class ElfPatch:
    """Raw edits of an ELF64 little-endian file at virtual addresses, headers parsed by hand (no LIEF rewrite)."""

    def __init__(self, path: Path) -> None:
        self.data = bytearray(path.read_bytes())
        self.phoff, = struct.unpack_from("<Q", self.data, 0x20)
        self.phentsize, self.phnum = struct.unpack_from("<HH", self.data, 0x36)

    def segments(self) -> list[tuple[int, int, int, int, int]]:
        """(header offset, flags, file offset, address, file size) per PT_LOAD."""
        out = []
        for i in range(self.phnum):
            at = self.phoff + i * self.phentsize
            p_type, p_flags, p_offset, p_vaddr = struct.unpack_from("<IIQQ", self.data, at)
            (p_filesz,) = struct.unpack_from("<Q", self.data, at + 32)
            if p_type == 1:
                out.append((at, p_flags, p_offset, p_vaddr, p_filesz))
        return out

    def offset(self, address: int) -> int:
        for _, _, offset, vaddr, filesz in self.segments():
            if vaddr <= address < vaddr + filesz:
                return offset + address - vaddr
        raise AssertionError(f"{address:#x} is not in the file")

    def write(self, address: int, content: bytes) -> None:
        at = self.offset(address)
        self.data[at : at + len(content)] = content

    def pointer(self, address: int, value: int) -> None:
        self.write(address, struct.pack("<Q", value))

    def read_pointer(self, address: int) -> int:
        (value,) = struct.unpack_from("<Q", self.data, self.offset(address))
        return int(value)

    def make_executable(self, address: int) -> None:
        for header, flags, _, vaddr, filesz in self.segments():
            if vaddr <= address < vaddr + filesz:
                struct.pack_into("<I", self.data, header + 4, flags | 1)
                return
        raise AssertionError(f"{address:#x} is in no segment")

    def dynamic_entry(self, dynamic: int, tag: int) -> int:
        """The address of the value of the first ``tag`` entry in the dynamic table at ``dynamic``."""
        at = dynamic
        while True:
            (entry_tag,) = struct.unpack_from("<q", self.data, self.offset(at))
            if entry_tag == tag:
                return at + 8
            assert entry_tag != 0, f"no dynamic entry {tag}"
            at += 16

    def drop_section_headers(self) -> None:
        struct.pack_into("<Q", self.data, 0x28, 0)
        struct.pack_into("<HHH", self.data, 0x3A, 0, 0, 0)

    def clear_alloc(self, name: str) -> None:
        (shoff,) = struct.unpack_from("<Q", self.data, 0x28)
        entsize, count, strndx = struct.unpack_from("<HHH", self.data, 0x3A)
        (strings,) = struct.unpack_from("<Q", self.data, shoff + strndx * entsize + 24)
        for i in range(count):
            at = shoff + i * entsize
            (sh_name,) = struct.unpack_from("<I", self.data, at)
            end = self.data.index(b"\0", strings + sh_name)
            if bytes(self.data[strings + sh_name : end]).decode() == name:
                (flags,) = struct.unpack_from("<Q", self.data, at + 8)
                struct.pack_into("<Q", self.data, at + 8, flags & ~2)
                return
        raise AssertionError(f"no section {name}")

    def save(self, out: Path) -> Path:
        out.write_bytes(bytes(self.data))
        out.chmod(0o755)
        return out


def replace_bytes(path: Path, out: Path, old: bytes, new: bytes) -> Path:
    """The file with the first ``old`` replaced by ``new`` (padded with NULs to the same length)."""
    assert len(new) <= len(old)
    data = path.read_bytes()
    at = data.find(old)
    assert at >= 0, old
    out.write_bytes(data[:at] + new.ljust(len(old), b"\0") + data[at + len(old):])
    out.chmod(0o755)
    return out
