"""DMTF measurement blocks (DSP0274 §10.11.1): index, specification, and the DMTF value's type, form and bytes.

Hand-written: no maintained Python SPDM requester exists. A block's sizes are checked against the record before
any value is taken; indices must not repeat (one index, one value: a second reading would be a parser differential).
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.spdm.messages import MEAS_SPEC_DMTF, SpdmFormatError

#: DMTFSpecMeasurementValueType bits [6:0].
VALUE_TYPES = {
    0x00: "immutable ROM",
    0x01: "mutable firmware",
    0x02: "hardware configuration",
    0x03: "firmware configuration",
    0x04: "freeform manifest",
    0x05: "debug and device mode",
    0x06: "firmware version",
    0x07: "firmware security version number",
    0x08: "hash-extended measurement",
    0x09: "informational",
    0x0A: "structured manifest",
}
MAX_BLOCKS = 255


@dataclass(frozen=True)
class MeasurementBlock:
    index: int
    spec: int
    value_type: int
    raw: bool  # bit 7: a raw bit stream, not a digest
    value: bytes
    #: The block's bytes as they were on the wire (the summary hash covers them).
    encoded: bytes

    @property
    def type_name(self) -> str:
        return VALUE_TYPES.get(self.value_type, f"type 0x{self.value_type:02x}")

    @property
    def form(self) -> str:
        return "raw" if self.raw else "digest"


def decode_blocks(record: bytes, count: int, *, digest_size: int | None = None) -> tuple[MeasurementBlock, ...]:
    """The ``count`` blocks of a MeasurementRecord; a digest block must be ``digest_size`` bytes when given."""
    if count > MAX_BLOCKS:
        raise SpdmFormatError(f"{count} measurement blocks, more than {MAX_BLOCKS}")
    blocks: list[MeasurementBlock] = []
    seen: set[int] = set()
    at, size_all = 0, len(record)
    for i in range(count):
        # Index, specification, MeasurementSize (u16), then the DMTF value: type, size (u16), bytes.
        if size_all - at < 4:
            raise SpdmFormatError(f"MeasurementRecord: block {i} header needs 4 bytes at offset {at}")
        index, spec, size = record[at], record[at + 1], record[at + 2] | record[at + 3] << 8
        body_at = at + 4
        if size > size_all - body_at:
            raise SpdmFormatError(f"MeasurementRecord: block {i} states {size} bytes, {size_all - body_at} remain")
        if index in seen:
            raise SpdmFormatError(f"measurement index {index} appears twice")
        if index == 0 or index == 0xFF:
            raise SpdmFormatError(f"measurement index {index} is reserved")
        seen.add(index)
        if spec != MEAS_SPEC_DMTF:
            raise SpdmFormatError(f"block {index}: measurement specification 0x{spec:02x} is not DMTF")
        if size < 3:
            raise SpdmFormatError(f"block {index}: {size} bytes cannot hold a DMTF measurement")
        kind, value_size = record[body_at], record[body_at + 1] | record[body_at + 2] << 8
        if value_size != size - 3:
            raise SpdmFormatError(f"block {index}: the DMTF value states {value_size} bytes, the block {size - 3}")
        raw = bool(kind & 0x80)
        if not raw and digest_size is not None and value_size != digest_size:
            raise SpdmFormatError(f"block {index}: a {value_size}-byte digest, not {digest_size}")
        end = body_at + size
        blocks.append(MeasurementBlock(index, spec, kind & 0x7F, raw, record[body_at + 3 : end], record[at:end]))
        at = end
    if at != size_all:
        raise SpdmFormatError(f"MeasurementRecord: {size_all - at} bytes after the last block")
    return tuple(blocks)


def encode_block(index: int, value_type: int, value: bytes, *, raw: bool = False) -> bytes:
    kind = (value_type & 0x7F) | (0x80 if raw else 0)
    dmtf = bytes([kind]) + len(value).to_bytes(2, "little") + value
    return bytes([index, MEAS_SPEC_DMTF]) + len(dmtf).to_bytes(2, "little") + dmtf
