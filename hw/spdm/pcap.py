"""Recorded SPDM exchanges: classic pcap files of LINKTYPE_MCTP (291) records, read with every length bounded.

Hand-written: the format is 24 + 16 bytes of headers, and the libraries that read pcap (scapy, dpkt) bring a
dissector stack this reader does not need. Each record is a 4-byte MCTP transport header, the message type
(0x05 SPDM) and the SPDM message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hw.errors import DeviceProtocolError

LINKTYPE_MCTP = 291
MAX_RECORDS = 4096
MAX_RECORD = 0x10000 + 64
MAX_FILE = 64 * 1024 * 1024


class PcapError(DeviceProtocolError):
    """Not a pcap of MCTP records, or one whose lengths do not hold."""

    exit_code = 2


@dataclass(frozen=True)
class Record:
    mctp_header: bytes
    message_type: int
    message: bytes


def read_pcap(data: bytes) -> list[Record]:
    if len(data) > MAX_FILE:
        raise PcapError(f"pcap of {len(data)} bytes is larger than {MAX_FILE}")
    if len(data) < 24:
        raise PcapError("pcap: shorter than its 24-byte global header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise PcapError("pcap: unknown magic (pcapng is not read)")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype != LINKTYPE_MCTP:
        raise PcapError(f"pcap: link type {linktype}, not LINKTYPE_MCTP ({LINKTYPE_MCTP})")
    records: list[Record] = []
    offset = 24
    while offset < len(data):
        if len(records) >= MAX_RECORDS:
            raise PcapError(f"pcap: more than {MAX_RECORDS} records")
        if len(data) - offset < 16:
            raise PcapError(f"pcap: truncated record header at offset {offset}")
        _, _, included, _ = struct.unpack_from(endian + "IIII", data, offset)
        offset += 16
        if included > MAX_RECORD or included > len(data) - offset:
            raise PcapError(f"pcap: record at offset {offset - 16} claims {included} bytes")
        body = data[offset : offset + included]
        offset += included
        if len(body) < 5:
            raise PcapError(f"pcap: record at offset {offset - included - 16} is too short for MCTP")
        records.append(Record(body[:4], body[4] & 0x7F, body[5:]))
    return records
