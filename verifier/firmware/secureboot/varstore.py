"""EDK2 variable stores: the NVRAM firmware volume (``_FVH``) and the (authenticated) variable store inside it.

Hand-written: no maintained Python package parses EDK2 authenticated variable stores with bounded, offset-naming errors.

Layout (EDK2 MdeModulePkg/Include/Guid/VariableFormat.h): a firmware volume header, then a VARIABLE_STORE_HEADER
(signature GUID, size, format, state), then variables, each a header (60 bytes authenticated, 32 plain) starting
with StartId 0x55AA, the UTF-16 name, the data, the next header 4-byte aligned. The first header whose StartId is not
0x55AA ends the store. ``State`` bits are cleared as a variable is written and deleted: 0x3F is live, 0x3E (deletion
in progress) is live only when no 0x3F copy follows, 0x3C/0x3D are deleted, anything else is not a variable.
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.firmware.secureboot.errors import SecureBootFormatError
from verifier.firmware.secureboot.guids import guid_bytes, guid_text

AUTHENTICATED_STORE = "aaf32c78-947b-439a-a180-2e144ec37792"
PLAIN_STORE = "ddcf3616-3275-4164-98b6-fe85707ffe7d"
STORE_GUIDS = {AUTHENTICATED_STORE: True, PLAIN_STORE: False}
START_ID = 0x55AA
VAR_ADDED = 0x3F
VAR_IN_DELETED_TRANSITION = 0x3E
DELETED_STATES = frozenset({0x3C, 0x3D})
STORE_HEADER = 28
AUTH_HEADER = 60
PLAIN_HEADER = 32
FV_SIGNATURE = b"_FVH"
MAX_NAME = 1024  # bytes of UTF-16; EDK2's names are short, the spec sets no bound
MAX_VARIABLES = 16384
MAX_FV_CANDIDATES = 4096


@dataclass(frozen=True)
class StoredVariable:
    name: str
    guid: str
    attributes: int
    data: bytes
    offset: int  # of the variable header in the file
    data_offset: int
    state: int
    timestamp: str | None = None  # authenticated stores: EFI_TIME of the last signed write
    monotonic_count: int = 0
    pubkey_index: int = 0

    @property
    def live(self) -> bool:
        return self.state in (VAR_ADDED, VAR_IN_DELETED_TRANSITION)


@dataclass(frozen=True)
class VariableStore:
    offset: int  # of the VARIABLE_STORE_HEADER in the file
    size: int
    authenticated: bool
    fv_offset: int | None
    variables: tuple[StoredVariable, ...]  # live ones, in store order
    deleted: tuple[StoredVariable, ...]  # deleted, superseded or half-written ones


def efi_time(raw: bytes) -> str | None:
    """EFI_TIME as ISO 8601 UTC text; None when all zero. Out-of-range fields are shown as they are."""
    if not any(raw):
        return None
    year = int.from_bytes(raw[0:2], "little")
    month, day, hour, minute, second = raw[2], raw[3], raw[4], raw[5], raw[6]
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def find_stores(data: bytes, what: str) -> tuple[VariableStore, ...]:
    """Every variable store in ``data``: a bare store at offset 0, or one in each firmware volume that holds one."""
    if len(data) >= 16 and guid_text(data[:16]) in STORE_GUIDS:
        return (parse_store(data, 0, len(data), None, what),)
    stores: list[VariableStore] = []
    search = 40
    candidates = 0
    while True:
        hit = data.find(FV_SIGNATURE, search)
        if hit < 0:
            break
        search = hit + 1
        base = hit - 40
        if base % 16 or base < 0:
            continue
        candidates += 1
        if candidates > MAX_FV_CANDIDATES:
            raise SecureBootFormatError(what, hit, f"more than {MAX_FV_CANDIDATES} firmware volume signatures")
        store_at = _volume_store(data, base, what)
        if store_at is None:
            continue
        fv_length = int.from_bytes(data[base + 32 : base + 40], "little")
        stores.append(parse_store(data, store_at, base + fv_length, base, what))
        search = max(search, base + fv_length)
    return tuple(stores)


def _volume_store(data: bytes, base: int, what: str) -> int | None:
    """Offset of the variable store inside the firmware volume at ``base``, or None when it holds none."""
    if len(data) - base < 56:
        return None
    fv_length = int.from_bytes(data[base + 32 : base + 40], "little")
    header_length = int.from_bytes(data[base + 48 : base + 50], "little")
    store_at = base + header_length
    if len(data) - store_at < 16 or guid_text(data[store_at : store_at + 16]) not in STORE_GUIDS:
        return None
    if header_length < 56 or fv_length < header_length + STORE_HEADER or fv_length > len(data) - base:
        raise SecureBootFormatError(what, base + 32, f"firmware volume of {fv_length} bytes with a "
                                    f"{header_length}-byte header does not fit the {len(data) - base} bytes left")
    return store_at


def parse_store(data: bytes, at: int, limit: int, fv_offset: int | None, what: str) -> VariableStore:
    """The variable store whose header is at ``at``, bounded by ``limit`` (its volume's end, or the file's)."""
    if limit - at < STORE_HEADER:
        raise SecureBootFormatError(what, at, "variable store header is truncated")
    authenticated = STORE_GUIDS[guid_text(data[at : at + 16])]
    size = int.from_bytes(data[at + 16 : at + 20], "little")
    if size < STORE_HEADER or size > limit - at:
        raise SecureBootFormatError(what, at + 16, f"variable store size {size} does not fit the "
                                    f"{limit - at} bytes of its volume")
    end = at + size
    header_size = AUTH_HEADER if authenticated else PLAIN_HEADER
    pos = at + STORE_HEADER
    found: list[StoredVariable] = []
    while end - pos >= header_size and int.from_bytes(data[pos : pos + 2], "little") == START_ID:
        if len(found) >= MAX_VARIABLES:
            raise SecureBootFormatError(what, pos, f"more than {MAX_VARIABLES} variables")
        variable, pos = _variable(data, pos, end, authenticated, what)
        found.append(variable)
    live, gone = _sort(found)
    return VariableStore(at, size, authenticated, fv_offset, live, gone)


def _variable(data: bytes, pos: int, end: int, authenticated: bool, what: str) -> tuple[StoredVariable, int]:
    state = data[pos + 2]
    attributes = int.from_bytes(data[pos + 4 : pos + 8], "little")
    timestamp, count, key_index = None, 0, 0
    if authenticated:
        count = int.from_bytes(data[pos + 8 : pos + 16], "little")
        timestamp = efi_time(data[pos + 16 : pos + 32])
        key_index = int.from_bytes(data[pos + 32 : pos + 36], "little")
        sizes, header = pos + 36, AUTH_HEADER
    else:
        sizes, header = pos + 8, PLAIN_HEADER
    name_size = int.from_bytes(data[sizes : sizes + 4], "little")
    data_size = int.from_bytes(data[sizes + 4 : sizes + 8], "little")
    vendor = guid_text(data[sizes + 8 : sizes + 24])
    name_at = pos + header
    if name_size > MAX_NAME or name_size % 2 or name_size > end - name_at:
        raise SecureBootFormatError(what, sizes, f"NameSize {name_size} is odd, above {MAX_NAME} or past the store")
    data_at = name_at + name_size
    if data_size > end - data_at:
        raise SecureBootFormatError(what, sizes + 4, f"DataSize {data_size} runs past the store's end "
                                    f"({end - data_at} bytes left)")
    raw_name = data[name_at:data_at]
    try:
        name = raw_name.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise SecureBootFormatError(what, name_at, f"variable name is not UTF-16 ({exc.reason})") from exc
    if not name.endswith("\x00") or "\x00" in name[:-1]:
        raise SecureBootFormatError(what, name_at, "variable name is not one NUL-terminated UTF-16 string")
    following = data_at + data_size
    following += -following % 4
    variable = StoredVariable(name[:-1], vendor, attributes, bytes(data[data_at : data_at + data_size]), pos, data_at,
                              state, timestamp, count, key_index)
    return variable, following


def _sort(found: list[StoredVariable]) -> tuple[tuple[StoredVariable, ...], tuple[StoredVariable, ...]]:
    """Live variables (a 0x3E copy only when no 0x3F one exists, as EDK2 does) and all the others."""
    added = {(v.name, v.guid) for v in found if v.state == VAR_ADDED}
    live: list[StoredVariable] = []
    gone: list[StoredVariable] = []
    seen: set[tuple[str, str]] = set()
    for variable in found:
        key = (variable.name, variable.guid)
        keep = variable.state == VAR_ADDED or (variable.state == VAR_IN_DELETED_TRANSITION and key not in added)
        if keep and key not in seen:
            seen.add(key)
            live.append(variable)
        else:
            gone.append(variable)
    return tuple(live), tuple(gone)


def store_bytes(variables: list[tuple[str, str, int, bytes]], *, size: int = 0x40000 - 0x48,
                authenticated: bool = True, states: dict[int, int] | None = None, in_volume: bool = True,
                fv_size: int = 0x84000) -> bytes:
    """A variable store (in an NVRAM firmware volume) holding ``variables`` (name, GUID, attributes, data):
    the layout OVMF_VARS_4M.fd has. ``states`` overrides the State byte of the variable at that index.
    For tests, the fuzz seeds and the benchmark."""
    header_size = AUTH_HEADER if authenticated else PLAIN_HEADER
    body = bytearray()
    for index, (name, guid, attributes, value) in enumerate(variables):
        raw_name = (name + "\x00").encode("utf-16-le")
        state = (states or {}).get(index, VAR_ADDED)
        head = START_ID.to_bytes(2, "little") + bytes([state, 0]) + attributes.to_bytes(4, "little")
        if authenticated:
            head += bytes(8 + 16 + 4)
        head += len(raw_name).to_bytes(4, "little") + len(value).to_bytes(4, "little") + guid_bytes(guid)
        assert len(head) == header_size
        body += head + raw_name + value
        body += b"\xff" * (-len(body) % 4)
    store_guid = AUTHENTICATED_STORE if authenticated else PLAIN_STORE
    header = guid_bytes(store_guid) + size.to_bytes(4, "little") + bytes([0x5A, 0xFE]) + bytes(6)
    store = header + bytes(body)
    if len(store) > size:
        raise ValueError("variables do not fit the store")
    store += b"\xff" * (size - len(store))
    if not in_volume:
        return store
    fv_header = bytearray(0x48)
    fv_header[16:32] = guid_bytes("fff12b8d-7696-4c8b-a985-2747075b4f50")
    fv_header[32:40] = fv_size.to_bytes(8, "little")
    fv_header[40:44] = FV_SIGNATURE
    fv_header[44:48] = (0x4FEFF).to_bytes(4, "little")
    fv_header[48:50] = (0x48).to_bytes(2, "little")
    fv_header[55] = 2
    fv_header[56:64] = (fv_size // 0x1000).to_bytes(4, "little") + (0x1000).to_bytes(4, "little")
    checksum = -sum(int.from_bytes(fv_header[i : i + 2], "little") for i in range(0, 0x48, 2)) & 0xFFFF
    fv_header[50:52] = checksum.to_bytes(2, "little")
    volume = bytes(fv_header) + store
    return volume + b"\xff" * (fv_size - len(volume))
