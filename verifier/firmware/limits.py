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


class DecompressionBudget:
    """Counts decompressed bytes across one load so that nested archives cannot add up to a bomb."""

    def __init__(self, total: int) -> None:
        self.remaining = total

    def allow(self, size: int) -> bool:
        if size < 0 or size > self.remaining:
            return False
        self.remaining -= size
        return True
