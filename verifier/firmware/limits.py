"""Resource limits for untrusted firmware, and the events raised when one is reached.

A limit that is reached never crashes the analysis: the loader records a ``LimitEvent`` and goes on
with what it has; the scanner turns each event into a ``firmware.limit`` finding.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_file_size: int = 1024 * MIB
    max_decompressed_total: int = 256 * MIB
    max_depth: int = 4
    max_carved: int = 64
    max_modules: int = 4096
    #: HEX / S-record segments opened as images; real files have a handful, a hostile one one per record
    max_hex_segments: int = 1024
    #: section and segment headers may describe this many times the image's bytes (plus 1 MiB) before the rest
    #: go unhashed: overlapping tables from a hostile header would otherwise make hashing quadratic
    max_section_overlap: int = 8
    #: memory the ELF symbols LIEF and the inventory would build may take, as a multiple of the image's bytes
    #: plus a floor (``symbol_memory_budget``); counted from the headers before parsing, over it is bad input
    symbol_memory_ratio: int = 4
    symbol_memory_floor: int = 256 * MIB


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class LimitEvent:
    """A limit reached while loading: which one, where, and what was left out as a result."""

    limit: str
    where: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"limit": self.limit, "where": self.where, "detail": self.detail}


#: every byte range read from a header costs at least this much of the budget, so that a table of many tiny
#: ranges is bounded as well as a table of a few huge overlapping ones
RANGE_CHARGE = 1024


def section_budget(limits: Limits, image_size: int) -> int:
    return limits.max_section_overlap * image_size + MIB


def range_charge(size: int) -> int:
    return max(size, RANGE_CHARGE)


#: peak memory one ELF symbol costs once LIEF has parsed it and the inventory has read it (measured: 3 million
#: symbols took 1.9 GiB, 1.5 million 0.9 GiB of RSS over the import baseline, ~640 bytes each; rounded up)
SYMBOL_COST = 700
#: a symbol ``loaded.py`` re-reads for a relocatable object's relocation digests (one short string; measured ~72)
RELOCATION_SYMBOL_COST = 128
#: one relocation of a relocatable object while ``loaded.py`` digests its section (a line of text, joined, encoded)
RELOCATION_COST = 300


def symbol_memory_cost(symbols: int, relocation_symbols: int, relocations: int) -> int:
    return symbols * SYMBOL_COST + relocation_symbols * RELOCATION_SYMBOL_COST + relocations * RELOCATION_COST


def symbol_memory_budget(limits: Limits, image_size: int) -> int:
    """Real binaries need well under 2x their size (node: 185k symbols in 99 MB, 1.3x; libjvm 1.7x; a .ko 1.9x);
    small objects are covered by the floor. A hostile file can reach ~90x (a 32-bit .symtab and DT_SYMTAB over
    the same bytes), ~90 GiB for an image at the 1 GiB size limit."""
    return limits.symbol_memory_ratio * image_size + limits.symbol_memory_floor


class SymbolMemoryBudget:
    """The symbol memory every ELF of one load may take together: 64 carved images or a volume of modules share
    one budget, so that they cannot add up to 64 floors."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.remaining = total

    def allow(self, cost: int) -> bool:
        if cost > self.remaining:
            return False
        self.remaining -= cost
        return True


class DecompressionBudget:
    """Counts decompressed bytes across one load so that nested archives cannot add up to a bomb."""

    def __init__(self, total: int) -> None:
        self.remaining = total

    def allow(self, size: int) -> bool:
        if size < 0 or size > self.remaining:
            return False
        self.remaining -= size
        return True
