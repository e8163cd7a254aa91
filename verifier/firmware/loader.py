"""Turn a firmware file into a tree of images: executables LIEF can parse, and the containers around them.

Containers LIEF does not understand (UEFI firmware volumes, PCI option ROMs, Intel HEX / S-record files,
raw blobs with executables inside) are opened by ``containers`` and their members become child images, down to
``Limits.max_depth``; ``executables`` parses the executables. Every limit that is reached is recorded as a
``LimitEvent`` on the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import BadInputError
from verifier.firmware import containers
from verifier.firmware.executables import declared_section_bytes, parse_executable
from verifier.firmware.limits import (
    DEFAULT_LIMITS,
    DecompressionBudget,
    LimitEvent,
    Limits,
    SymbolMemoryBudget,
    section_budget,
    symbol_memory_budget,
)


@dataclass(frozen=True)
class Image:
    """One image: its bytes, the LIEF binary when it is an executable, and what it contains."""

    name: str
    kind: str
    data: bytes
    binary: Any = None
    children: tuple[Image, ...] = ()
    events: tuple[LimitEvent, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)

    def walk(self) -> list[Image]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass
class _Context:
    limits: Limits
    budget: DecompressionBudget
    symbol_memory: SymbolMemoryBudget
    events: list[LimitEvent] = field(default_factory=list)


def load_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> Image:
    """Load ``path``; raises ``BadInputError`` for what is not a firmware file at all.

    A file over ``max_file_size`` is not read: it comes back as kind ``too-large`` with a limit event,
    so that a scan can report it as a finding.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise BadInputError(f"{path} is not a regular file")
    if size == 0:
        raise BadInputError(f"{path} is empty (zero bytes): not a firmware image")
    if size > limits.max_file_size:
        event = LimitEvent(
            "max-file-size", str(path), f"{size} bytes is over the limit of {limits.max_file_size}; not analysed"
        )
        return Image(path.name, "too-large", b"", events=(event,), attributes={"size": size})
    data = path.read_bytes()
    ctx = _Context(limits, DecompressionBudget(limits.max_decompressed_total),
                   SymbolMemoryBudget(symbol_memory_budget(limits, len(data))))
    image = _load(path.name, data, ctx, depth=0, path=path)
    return Image(image.name, image.kind, image.data, image.binary, image.children,
                 tuple(dict.fromkeys(ctx.events)), image.attributes)


def load_bytes(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Image:
    ctx = _Context(limits, DecompressionBudget(limits.max_decompressed_total),
                   SymbolMemoryBudget(symbol_memory_budget(limits, len(data))))
    image = _load(name, data, ctx, depth=0)
    return Image(image.name, image.kind, image.data, image.binary, image.children,
                 tuple(dict.fromkeys(ctx.events)), image.attributes)


def _load(name: str, data: bytes, ctx: _Context, *, depth: int, path: Path | None = None,
          attributes: dict[str, Any] | None = None) -> Image:
    attrs = dict(attributes or {})
    executable = parse_executable(data, path, limits=ctx.limits, events=ctx.events, name=name,
                                  symbol_memory=ctx.symbol_memory)
    if executable is not None:
        kind, binary = executable
        declared = declared_section_bytes(kind, binary, len(data))
        budget = section_budget(ctx.limits, len(data))
        if declared > budget:
            ctx.events.append(LimitEvent(
                "max-section-bytes", name, f"section and segment headers cover {declared} bytes of a "
                f"{len(data)}-byte image; those past {budget} bytes are not hashed or searched for code"))
            attrs["section_budget"] = budget
        return Image(name, kind, data, binary, attributes=attrs)
    if data[:2] == b"VZ":
        return Image(name, "te", data, attributes=attrs)
    if attrs.pop("opaque", False):
        return Image(name, "raw", data, attributes=attrs)
    if depth >= ctx.limits.max_depth:
        ctx.events.append(LimitEvent("max-depth", name, f"nesting deeper than {ctx.limits.max_depth}; not opened"))
        return Image(name, "raw", data, attributes=attrs)

    rom = containers.option_rom_images(data, name, ctx.budget, ctx.events)
    if rom is not None:
        children = tuple(_load(child.name, child.data, ctx, depth=depth + 1, attributes=child.attributes)
                         for child in rom)
        return Image(name, "option-rom", data, children=children, attributes=attrs)
    volume_offset = containers.find_volume(data)
    if volume_offset is not None:
        modules = containers.uefi_modules(data, name, ctx.budget, ctx.events, ctx.limits)
        children = tuple(_load(m.name, m.data, ctx, depth=depth + 1, attributes=m.attributes) for m in modules)
        attrs["volume_offset"] = volume_offset
        return Image(name, "uefi-volume", data, children=children, attributes=attrs)
    hex_kind = containers.hex_format(data)
    if hex_kind is not None:
        segments = containers.hex_segments(data, hex_kind, name, ctx.limits, ctx.events)
        children = tuple(_load(s.name, s.data, ctx, depth=depth + 1, attributes=s.attributes) for s in segments)
        return Image(name, hex_kind, data, children=children, attributes=attrs)
    carved = containers.carve(data, name, ctx.limits, ctx.events)
    children = tuple(_load(c.name, c.data, ctx, depth=depth + 1, attributes=c.attributes) for c in carved)
    return Image(name, "raw", data, children=children, attributes=attrs)
