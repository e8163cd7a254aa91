"""Decoders for the data of EV_EFI_* events: variables, image loads with device paths, GPT, blobs.

Each decoder takes the event's data bytes and returns a small JSON-able dict,
or raises ``EventLogFormatError`` when the structure is inconsistent. They are
bounded by the event data they are given, which the log parser has already
bounded.
"""

from __future__ import annotations

import uuid
from typing import Any

from hw.tpm.binary import Reader
from hw.tpm.errors import EventLogFormatError

_MAX_DEVICE_PATH_NODES = 64
_MAX_GPT_PARTITIONS = 256

EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_IMAGE_SECURITY_DATABASE = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"


def _reader(data: bytes, what: str) -> Reader:
    return Reader(data, what=what, byteorder="little", error=EventLogFormatError)


def guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw))


def utf16(raw: bytes) -> str:
    return raw.decode("utf-16-le", errors="replace").split("\x00", 1)[0]


def decode_variable(data: bytes) -> dict[str, Any]:
    """UEFI_VARIABLE_DATA: GUID, name length (chars), data length, name (UTF-16), data."""
    r = _reader(data, "UEFI_VARIABLE_DATA")
    name_guid = guid(r.take(16, "VariableName GUID"))
    name_chars = r.u64("UnicodeNameLength")
    data_len = r.u64("VariableDataLength")
    if name_chars * 2 > r.remaining:
        raise r.fail(f"variable name of {name_chars} characters does not fit")
    name = utf16(r.take(name_chars * 2, "UnicodeName"))
    if data_len > r.remaining:
        raise r.fail(f"variable data of {data_len} bytes does not fit in {r.remaining}")
    value = r.take(data_len, "VariableData")
    return {"guid": name_guid, "name": name, "data": value}


def _device_path_node(kind: int, sub: int, body: bytes) -> str:
    r = _reader(body, "device path node")
    if kind == 1 and sub == 1 and len(body) >= 2:
        function, device = body[0], body[1]
        return f"Pci(0x{device:x},0x{function:x})"
    if kind == 2 and sub == 1 and len(body) >= 8:
        hid, uid = r.u32("HID"), r.u32("UID")
        return f"PciRoot(0x{uid:x})" if hid == 0x0A0341D0 else f"Acpi(0x{hid:08x},0x{uid:x})"
    if kind == 4 and sub == 1 and len(body) >= 38:
        number, start, size = r.u32("partition"), r.u64("start"), r.u64("size")
        signature = r.take(16, "signature")
        fmt, sig_type = r.u8("format"), r.u8("signature type")
        label = guid(signature) if sig_type == 2 else f"0x{int.from_bytes(signature[:4], 'little'):08x}"
        return f"HD({number},{'GPT' if fmt == 2 else 'MBR'},{label},0x{start:x},0x{size:x})"
    if kind == 4 and sub == 4:
        return utf16(body)
    if kind == 4 and sub == 6 and len(body) >= 16:
        return f"FvFile({guid(body[:16])})"
    if kind == 4 and sub == 7 and len(body) >= 16:
        return f"Fv({guid(body[:16])})"
    if kind in (1, 3, 4) and sub == 3 and len(body) >= 16:
        return f"VenHw({guid(body[:16])})" if kind == 1 else f"Vendor({guid(body[:16])})"
    if kind == 3 and sub == 0x17 and len(body) >= 4:
        return f"NVMe(0x{int.from_bytes(body[:4], 'little'):x})"
    if kind == 3 and sub == 0x12 and len(body) >= 2:
        return f"Sata(0x{int.from_bytes(body[:2], 'little'):x})"
    return f"Path({kind},{sub},{body.hex()})"


def decode_device_path(data: bytes) -> str:
    """EFI_DEVICE_PATH_PROTOCOL in UEFI text form: PciRoot(0x0)/Pci(0x2,0x0)/HD(...)/\\EFI\\BOOT\\BOOTX64.EFI."""
    r = _reader(data, "device path")
    parts: list[str] = []
    while r.remaining:
        if len(parts) >= _MAX_DEVICE_PATH_NODES:
            raise r.fail(f"device path has more than {_MAX_DEVICE_PATH_NODES} nodes")
        kind, sub, length = r.u8("node type"), r.u8("node subtype"), r.u16("node length")
        if length < 4:
            raise r.fail(f"device path node length {length} is less than its 4-byte header")
        body = r.take(length - 4, "device path node")
        if kind == 0x7F:
            if sub == 0xFF:
                break
            parts.append(",")  # end of one instance, start of the next
            continue
        parts.append(_device_path_node(kind, sub, body))
    return "/".join(parts).replace("/,/", ",")


def decode_image_load(data: bytes) -> dict[str, Any]:
    """UEFI_IMAGE_LOAD_EVENT: where the PE image was loaded and the device path it came from."""
    r = _reader(data, "UEFI_IMAGE_LOAD_EVENT")
    base, length, link = r.u64("ImageLocationInMemory"), r.u64("ImageLengthInMemory"), r.u64("ImageLinkTimeAddress")
    dp_len = r.u64("LengthOfDevicePath")
    if dp_len > r.remaining:
        raise r.fail(f"device path of {dp_len} bytes does not fit in {r.remaining}")
    path = decode_device_path(r.take(dp_len, "DevicePath"))
    return {"image_base": base, "image_length": length, "link_time_address": link, "device_path": path}


def decode_gpt(data: bytes) -> dict[str, Any]:
    """UEFI_GPT_DATA: the GPT header and the partition entries that are in use."""
    r = _reader(data, "UEFI_GPT_DATA")
    signature = r.take(8, "GPT signature")
    if signature != b"EFI PART":
        raise r.fail("GPT header signature is not 'EFI PART'")
    r.u32("Revision")
    r.u32("HeaderSize")
    r.u32("HeaderCRC32")
    r.u32("Reserved")
    r.u64("MyLBA")
    r.u64("AlternateLBA")
    r.u64("FirstUsableLBA")
    r.u64("LastUsableLBA")
    disk = guid(r.take(16, "DiskGUID"))
    r.u64("PartitionEntryLBA")
    r.u32("NumberOfPartitionEntries")
    entry_size = r.u32("SizeOfPartitionEntry")
    r.u32("PartitionEntryArrayCRC32")
    count = r.u64("NumberOfPartitions")
    if count > _MAX_GPT_PARTITIONS:
        raise r.fail(f"GPT event lists {count} partitions, more than {_MAX_GPT_PARTITIONS}")
    if entry_size < 128:
        raise r.fail(f"GPT partition entry size {entry_size} is less than 128")
    if count * entry_size > r.remaining:
        raise r.fail(f"{count} partition entries of {entry_size} bytes do not fit")
    parts = []
    for _ in range(count):
        e = _reader(r.take(entry_size, "partition entry"), "GPT partition entry")
        type_guid, unique = guid(e.take(16, "type")), guid(e.take(16, "unique"))
        first, last, attrs = e.u64("StartingLBA"), e.u64("EndingLBA"), e.u64("Attributes")
        name = utf16(e.take(72, "PartitionName"))
        parts.append({"type": type_guid, "guid": unique, "first_lba": first, "last_lba": last,
                      "attributes": attrs, "name": name})
    return {"disk_guid": disk, "partitions": parts}


def decode_firmware_blob(data: bytes, *, with_description: bool) -> dict[str, Any]:
    """UEFI_PLATFORM_FIRMWARE_BLOB (base, length) or BLOB2 (description, base, length)."""
    r = _reader(data, "UEFI_PLATFORM_FIRMWARE_BLOB")
    out: dict[str, Any] = {}
    if with_description:
        out["description"] = r.sized("BlobDescription", length_size=1).decode("ascii", "replace")
    out["base"] = r.u64("BlobBase")
    out["length"] = r.u64("BlobLength")
    return out


def decode_handoff_tables(data: bytes) -> dict[str, Any]:
    r = _reader(data, "UEFI_HANDOFF_TABLE_POINTERS")
    count = r.u64("NumberOfTables")
    if count * 24 > r.remaining:
        raise r.fail(f"{count} handoff tables do not fit")
    tables = []
    for _ in range(count):
        tables.append({"guid": guid(r.take(16, "VendorGuid")), "address": r.u64("VendorTable")})
    return {"tables": tables}
