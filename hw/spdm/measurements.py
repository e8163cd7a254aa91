"""DMTF measurement blocks (DSP0274 §10.11.1): index, specification, and the DMTF value's type, form and bytes.

Hand-written: no maintained Python SPDM requester exists. A block's sizes are checked against the record before
any value is taken; indices must not repeat (one index, one value: a second reading would be a parser differential).
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.spdm.messages import MEAS_SPEC_DMTF, Reader, SpdmFormatError

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
    r = Reader(record, "MeasurementRecord")
    blocks: list[MeasurementBlock] = []
    seen: set[int] = set()
    for i in range(count):
        start = r.at
        index = r.u8(f"block[{i}].Index")
        spec = r.u8(f"block[{i}].MeasurementSpecification")
        size = r.u16(f"block[{i}].MeasurementSize")
        body = r.take(size, f"block[{i}].Measurement")
        if index in seen:
            raise SpdmFormatError(f"measurement index {index} appears twice")
        if index == 0 or index == 0xFF:
            raise SpdmFormatError(f"measurement index {index} is reserved")
        seen.add(index)
        if spec != MEAS_SPEC_DMTF:
            raise SpdmFormatError(f"block {index}: measurement specification 0x{spec:02x} is not DMTF")
        b = Reader(body, f"block {index}")
        kind = b.u8("DMTFSpecMeasurementValueType")
        value_size = b.u16("DMTFSpecMeasurementValueSize")
        value = b.take(value_size, "DMTFSpecMeasurementValue")
        b.end()
        raw = bool(kind & 0x80)
        if not raw and digest_size is not None and value_size != digest_size:
            raise SpdmFormatError(f"block {index}: a {value_size}-byte digest, not {digest_size}")
        blocks.append(MeasurementBlock(index, spec, kind & 0x7F, raw, value, record[start : r.at]))
    r.end()
    return tuple(blocks)


def encode_block(index: int, value_type: int, value: bytes, *, raw: bool = False) -> bytes:
    kind = (value_type & 0x7F) | (0x80 if raw else 0)
    dmtf = bytes([kind]) + len(value).to_bytes(2, "little") + value
    return bytes([index, MEAS_SPEC_DMTF]) + len(dmtf).to_bytes(2, "little") + dmtf
