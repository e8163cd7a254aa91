"""A bounded reader over bytes: every read checks the remaining length first.

TPM structures are big-endian, TCG event logs little-endian; one reader serves
both. Lengths read from the input are checked against what is left before any
slice is taken, so a hostile length field can never cause a large allocation.
"""

from __future__ import annotations

from hw.tpm.errors import TpmFormatError


class Reader:
    def __init__(self, data: bytes, *, what: str, byteorder: str = "big", error: type[TpmFormatError] = TpmFormatError):
        self._data = memoryview(data)
        self._pos = 0
        self._what = what
        self._order = byteorder
        self._error = error

    @property
    def offset(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def fail(self, message: str) -> TpmFormatError:
        return self._error(f"{self._what}: {message} (at byte {self._pos})")

    def take(self, n: int, field: str) -> bytes:
        if n < 0 or n > self.remaining:
            raise self.fail(f"{field} needs {n} bytes but only {self.remaining} remain (truncated?)")
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), self._order)  # type: ignore[arg-type]

    def u8(self, field: str) -> int:
        return self.uint(1, field)

    def u16(self, field: str) -> int:
        return self.uint(2, field)

    def u32(self, field: str) -> int:
        return self.uint(4, field)

    def u64(self, field: str) -> int:
        return self.uint(8, field)

    def sized(self, field: str, *, length_size: int = 2, limit: int | None = None) -> bytes:
        """A length-prefixed buffer (TPM2B_* when ``length_size`` is 2)."""
        n = self.uint(length_size, f"{field} size")
        if limit is not None and n > limit:
            raise self.fail(f"{field} declares {n} bytes, more than the {limit} allowed")
        return self.take(n, field)

    def rest(self) -> bytes:
        return self.take(self.remaining, "remainder")

    def expect_end(self) -> None:
        if self.remaining:
            raise self.fail(f"{self.remaining} unexpected trailing bytes")
