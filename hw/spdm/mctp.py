"""MCTP over a serial line (DMTF DSP0253) carrying SPDM (MCTP message type 0x05), both directions.

Hand-written: no maintained Python MCTP serial binding exists outside test tooling (pymctp builds scapy packets
and serves the tests as a cross-check; it does no byte stuffing or reassembly). On the wire one MCTP packet is

    7E | revision 0x01 | byte count | MCTP header (4) + payload | FCS-16 (high byte first) | 7E

where the byte count covers header and payload, the FCS is CRC-16/MCRF4XX (the PPP polynomial 0x1021 reflected,
initial 0xFFFF, no final XOR, as libmctp and pymctp compute it) over revision, byte count and packet, and between
the flags 0x7E is sent as 7D 5E and 0x7D as 7D 5D. The MCTP header is version 1, destination and source EID (0, the
null EID, on a point-to-point line), then SOM, EOM, a 2-bit packet sequence, tag owner and a 3-bit tag. A message
longer than the 64-byte baseline transmission unit is split into packets; the first payload byte is the message
type. A damaged packet (bad FCS, bad count, lost sequence) drops the message it belonged to: that is a transport
fault for the requester to time out on, never a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

FLAG = 0x7E
REVISION = 0x01
HEADER_VERSION = 0x01
MESSAGE_TYPE_SPDM = 0x05
BASELINE_MTU = 64
#: The most bytes one unstuffed frame may hold: revision, count, 255 bytes of packet, FCS.
MAX_FRAME = 2 + 255 + 2
#: The largest reassembled MCTP message accepted.
MAX_MESSAGE = 0x10000 + 64


def _fcs_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        fcs = byte
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
        table.append(fcs)
    return tuple(table)


_FCS_TABLE = _fcs_table()


def fcs16(data: bytes, fcs: int = 0xFFFF) -> int:
    table = _FCS_TABLE
    for byte in data:
        fcs = (fcs >> 8) ^ table[(fcs ^ byte) & 0xFF]
    return fcs


def stuff(data: bytes) -> bytes:
    return data.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e")


@dataclass(frozen=True)
class Packet:
    destination: int
    source: int
    som: bool
    eom: bool
    sequence: int
    tag_owner: bool
    tag: int
    payload: bytes

    def header(self) -> bytes:
        flags = (self.som << 7) | (self.eom << 6) | ((self.sequence & 3) << 4) | (self.tag_owner << 3) | (self.tag & 7)
        return bytes([HEADER_VERSION, self.destination, self.source, flags])


def frame(packet: Packet) -> bytes:
    """One packet as it crosses the line, stuffed and flagged."""
    body = packet.header() + packet.payload
    if len(body) > 255:
        raise ValueError("an MCTP serial packet holds at most 255 bytes")
    inner = bytes([REVISION, len(body)]) + body
    fcs = fcs16(inner)
    return bytes([FLAG]) + stuff(inner + bytes([fcs >> 8, fcs & 0xFF])) + bytes([FLAG])


def packetize(
    message: bytes, *, destination: int = 0, source: int = 0, tag_owner: bool, tag: int = 0, mtu: int = BASELINE_MTU
) -> list[Packet]:
    """``message`` (message type byte first) split into packets of at most ``mtu`` payload bytes."""
    if not message:
        raise ValueError("an MCTP message has at least its type byte")
    pieces = [message[i : i + mtu] for i in range(0, len(message), mtu)]
    return [
        Packet(destination, source, i == 0, i == len(pieces) - 1, i & 3, tag_owner, tag, piece)
        for i, piece in enumerate(pieces)
    ]


def encode_message(message: bytes, **kwargs: int | bool) -> bytes:
    return b"".join(frame(p) for p in packetize(message, **kwargs))  # type: ignore[arg-type]


class FrameDecoder:
    """Bytes from the line in, packets out; damaged frames counted and dropped, memory bounded by ``MAX_FRAME``."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inside = False
        self._overflow = False
        self.damaged = 0

    def feed(self, data: bytes) -> list[Packet]:
        out: list[Packet] = []
        for i, part in enumerate(data.split(b"\x7e")):
            if i:  # a flag: it ends the frame being read and may start the next (back-to-back frames share it)
                if self._inside and self._buffer and not self._overflow:
                    packet = self._unstuffed(bytes(self._buffer))
                    if packet is not None:
                        out.append(packet)
                elif self._overflow:
                    self.damaged += 1
                self._buffer.clear()
                self._inside, self._overflow = True, False
            if not part or not self._inside or self._overflow:
                continue
            if len(self._buffer) + len(part) > 2 * MAX_FRAME:  # stuffed, every byte may take two
                self._buffer.clear()
                self._overflow = True
                continue
            self._buffer += part
        return out

    def _unstuffed(self, stuffed: bytes) -> Packet | None:
        pieces = stuffed.split(b"\x7d")
        inner = bytearray(pieces[0])
        for piece in pieces[1:]:
            if not piece:  # an escape at the end, or two in a row
                self.damaged += 1
                return None
            inner.append(piece[0] ^ 0x20)
            inner += piece[1:]
        if len(inner) > MAX_FRAME:
            self.damaged += 1
            return None
        return self._finish(bytes(inner))

    def _finish(self, inner: bytes) -> Packet | None:
        if len(inner) < 2 + 4 + 2 or inner[0] != REVISION or inner[1] != len(inner) - 4:
            self.damaged += 1
            return None
        if fcs16(inner[:-2]) != (inner[-2] << 8 | inner[-1]):
            self.damaged += 1
            return None
        head = inner[2:6]
        if head[0] & 0x0F != HEADER_VERSION:
            self.damaged += 1
            return None
        flags = head[3]
        return Packet(
            head[1], head[2], bool(flags & 0x80), bool(flags & 0x40), (flags >> 4) & 3, bool(flags & 0x08), flags & 7,
            inner[6:-2],
        )


class Reassembler:
    """Packets in, whole messages out: SOM starts one, sequence numbers follow on, EOM ends it."""

    def __init__(self, *, tag_owner: bool | None = None) -> None:
        self.tag_owner = tag_owner
        self._parts: bytearray | None = None
        self._next = 0
        self._tag = 0
        self.dropped = 0

    def add(self, packet: Packet) -> bytes | None:
        if self.tag_owner is not None and packet.tag_owner != self.tag_owner:
            return None
        if packet.som:
            if self._parts is not None:
                self.dropped += 1
            self._parts, self._next, self._tag = bytearray(), packet.sequence, packet.tag
        if self._parts is None:
            return None
        if packet.sequence != self._next or packet.tag != self._tag:
            self._parts = None
            self.dropped += 1
            return None
        self._parts += packet.payload
        self._next = (self._next + 1) & 3
        if len(self._parts) > MAX_MESSAGE:
            self._parts = None
            self.dropped += 1
            return None
        if packet.eom:
            message, self._parts = bytes(self._parts), None
            return message
        return None
