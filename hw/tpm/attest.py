"""TPMS_ATTEST for a quote (TPM 2.0 Part 2, 10.12): what the TPM signed."""

from __future__ import annotations

from dataclasses import dataclass

from hw.tpm.algorithms import HashAlgorithm, hash_by_id
from hw.tpm.binary import Reader

TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018
_MAX_BANKS = 16
_MAX_SELECT_BYTES = 32  # 256 PCRs; real TPMs have 24


@dataclass(frozen=True)
class PcrSelection:
    """One bank of a TPML_PCR_SELECTION, indexes ascending as the TPM hashes them."""

    hash: HashAlgorithm
    indexes: tuple[int, ...]


@dataclass(frozen=True)
class ClockInfo:
    clock: int
    reset_count: int
    restart_count: int
    safe: bool


@dataclass(frozen=True)
class QuoteAttest:
    magic: int
    type: int
    qualified_signer: bytes
    extra_data: bytes
    clock_info: ClockInfo
    firmware_version: int
    selections: tuple[PcrSelection, ...]
    pcr_digest: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "qualified_signer": self.qualified_signer.hex(),
            "extra_data": self.extra_data.hex(),
            "clock": self.clock_info.clock,
            "reset_count": self.clock_info.reset_count,
            "restart_count": self.clock_info.restart_count,
            "safe": self.clock_info.safe,
            "firmware_version": f"0x{self.firmware_version:016x}",
            "pcr_selection": {s.hash.name: list(s.indexes) for s in self.selections},
            "pcr_digest": self.pcr_digest.hex(),
        }


def parse_pcr_selection(reader: Reader) -> tuple[PcrSelection, ...]:
    count = reader.u32("TPML_PCR_SELECTION count")
    if count > _MAX_BANKS:
        raise reader.fail(f"PCR selection lists {count} banks, more than {_MAX_BANKS}")
    out: list[PcrSelection] = []
    for _ in range(count):
        alg = hash_by_id(reader.u16("PCR selection hash"))
        size = reader.u8("sizeofSelect")
        if size > _MAX_SELECT_BYTES:
            raise reader.fail(f"sizeofSelect {size} is larger than {_MAX_SELECT_BYTES}")
        bitmap = reader.take(size, "pcrSelect")
        indexes = tuple(i * 8 + bit for i, byte in enumerate(bitmap) for bit in range(8) if byte >> bit & 1)
        out.append(PcrSelection(alg, indexes))
    return tuple(out)


def parse_quote_attest(data: bytes) -> QuoteAttest:
    """Parse the message ``tpm2_quote -m`` writes (a marshalled TPMS_ATTEST)."""
    r = Reader(data, what="quote message (TPMS_ATTEST)")
    magic = r.u32("magic")
    if magic != TPM_GENERATED_VALUE:
        raise r.fail(f"magic is 0x{magic:08x}, not TPM_GENERATED_VALUE 0x{TPM_GENERATED_VALUE:08x}")
    kind = r.u16("type")
    if kind != TPM_ST_ATTEST_QUOTE:
        raise r.fail(f"attestation type 0x{kind:04x} is not a quote (0x{TPM_ST_ATTEST_QUOTE:04x})")
    signer = r.sized("qualifiedSigner", limit=2 + 64)
    extra = r.sized("extraData", limit=64)
    clock = ClockInfo(r.u64("clock"), r.u32("resetCount"), r.u32("restartCount"), r.u8("safe") == 1)
    firmware = r.u64("firmwareVersion")
    selections = parse_pcr_selection(r)
    digest = r.sized("pcrDigest", limit=64)
    r.expect_end()
    return QuoteAttest(magic, kind, signer, extra, clock, firmware, selections, digest)
