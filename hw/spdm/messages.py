"""SPDM (DSP0274) messages: requests encoded, responses (and requests, for the simulator) decoded, strictly.

Hand-written: no maintained Python SPDM requester exists (pymctp's scapy layers serve as the tests' cross-check,
not as a bounded parser of what a hostile responder sends). Every length and count a peer states is checked
against the bytes actually present before anything is sliced or allocated; integers are little-endian.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from hw.errors import DeviceProtocolError

#: The largest SPDM message provcheck accepts from a peer (a CERTIFICATE portion is at most 64 KiB).
MAX_MESSAGE = 0x10000 + 64
NONCE_BYTES = 32
CONTEXT_BYTES = 8
#: Versions the requester speaks, as the SPDMVersion byte (major << 4 | minor).
VERSIONS = (0x11, 0x12, 0x13)


class Code(enum.IntEnum):
    GET_VERSION = 0x84
    VERSION = 0x04
    GET_CAPABILITIES = 0xE1
    CAPABILITIES = 0x61
    NEGOTIATE_ALGORITHMS = 0xE3
    ALGORITHMS = 0x63
    GET_DIGESTS = 0x81
    DIGESTS = 0x01
    GET_CERTIFICATE = 0x82
    CERTIFICATE = 0x02
    CHALLENGE = 0x83
    CHALLENGE_AUTH = 0x03
    GET_MEASUREMENTS = 0xE0
    MEASUREMENTS = 0x60
    ERROR = 0x7F


class SpdmFormatError(DeviceProtocolError):
    """A message that is not what DSP0274 says it is: wrong code, length, count or version."""


# Capability flags (CAPABILITIES.Flags).
CAP_CACHE = 1 << 0
CAP_CERT = 1 << 1
CAP_CHAL = 1 << 2
CAP_MEAS_NO_SIG = 1 << 3
CAP_MEAS_SIG = 1 << 4
CAP_MEAS_FRESH = 1 << 5
CAP_FLAG_NAMES = {
    0: "CACHE", 1: "CERT", 2: "CHAL", 3: "MEAS_NO_SIG", 4: "MEAS_SIG", 5: "MEAS_FRESH", 6: "ENCRYPT", 7: "MAC",
    8: "MUT_AUTH", 9: "KEY_EX", 10: "PSK", 11: "PSK_CTX", 12: "ENCAP", 13: "HBEAT", 14: "KEY_UPD",
    15: "HANDSHAKE_IN_CLEAR", 16: "PUB_KEY_ID", 17: "CHUNK", 18: "ALIAS_CERT", 19: "SET_CERT", 20: "CSR",
    21: "CERT_INSTALL_RESET", 22: "EP_INFO", 23: "EP_INFO_SIG", 24: "MEL", 25: "EVENT", 26: "MULTI_KEY",
    27: "GET_KEY_PAIR_INFO", 28: "SET_KEY_PAIR_INFO",
}

# BaseAsymAlgo bits, names and signature sizes.
ASYM_ALGORITHMS: dict[int, tuple[str, int]] = {
    1 << 0: ("RSASSA-2048", 256),
    1 << 1: ("RSAPSS-2048", 256),
    1 << 2: ("RSASSA-3072", 384),
    1 << 3: ("RSAPSS-3072", 384),
    1 << 4: ("ECDSA-P256", 64),
    1 << 5: ("RSASSA-4096", 512),
    1 << 6: ("RSAPSS-4096", 512),
    1 << 7: ("ECDSA-P384", 96),
    1 << 8: ("ECDSA-P521", 132),
}
# BaseHashAlgo bits, names and digest sizes.
HASH_ALGORITHMS: dict[int, tuple[str, int]] = {
    1 << 0: ("SHA-256", 32),
    1 << 1: ("SHA-384", 48),
    1 << 2: ("SHA-512", 64),
}
# MeasurementHashAlgo bits (bit 0: raw bit stream only).
MEASUREMENT_HASHES: dict[int, tuple[str, int]] = {
    1 << 0: ("raw", 0),
    1 << 1: ("SHA-256", 32),
    1 << 2: ("SHA-384", 48),
    1 << 3: ("SHA-512", 64),
}
MEAS_SPEC_DMTF = 0x01
#: What provcheck's requester offers.
REQUESTER_ASYM = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 7)
REQUESTER_HASH = (1 << 0) | (1 << 1) | (1 << 2)
#: The algorithm structures DMTF's own requester offers (DHE FFDHE2048/3072 and secp256r1/384r1, AEAD AES-256-GCM
#: and ChaCha20-Poly1305, requester RSASSA/RSA-PSS 2048/3072, the SPDM key schedule). provcheck opens no session,
#: but a responder able to (KEY_EX_CAP) may refuse a request that offers none.
REQUESTER_STRUCTS = bytes.fromhex("02201b00" "03200600" "04200f00" "05200100")


def version_text(version: int) -> str:
    return f"{version >> 4}.{version & 0x0F}"


def single_bit(value: int, table: dict[int, tuple[str, int]], what: str) -> tuple[str, int]:
    """The one algorithm a responder selected; anything but exactly one known bit is a malformed answer."""
    if value not in table:
        raise SpdmFormatError(f"{what} selects 0x{value:x}, not exactly one algorithm provcheck knows")
    return table[value]


class Reader:
    """A cursor over one message: every take is checked against what remains."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.at = 0
        self.what = what

    def take(self, n: int, field: str) -> bytes:
        if n < 0 or n > len(self.data) - self.at:
            raise SpdmFormatError(
                f"{self.what}: {field} needs {n} bytes at offset {self.at}, {len(self.data) - self.at} remain"
            )
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "little")

    def u24(self, field: str) -> int:
        return int.from_bytes(self.take(3, field), "little")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "little")

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.at, "rest")

    def end(self) -> None:
        if self.at != len(self.data):
            raise SpdmFormatError(f"{self.what}: {len(self.data) - self.at} bytes after the message")


@dataclass(frozen=True)
class Header:
    version: int
    code: int
    param1: int
    param2: int


def header(message: bytes, what: str = "SPDM message") -> Header:
    if len(message) < 4:
        raise SpdmFormatError(f"{what}: {len(message)} bytes, shorter than the 4-byte header")
    if len(message) > MAX_MESSAGE:
        raise SpdmFormatError(f"{what}: {len(message)} bytes, more than {MAX_MESSAGE}")
    return Header(message[0], message[1], message[2], message[3])


def expect(message: bytes, version: int | None, code: Code) -> tuple[Header, Reader]:
    """The header of a response expected to be ``code`` at ``version``; an ERROR response raises, naming its code."""
    head = header(message, code.name)
    if head.code == Code.ERROR:
        raise SpdmErrorResponse(head.param1, head.param2)
    if head.code != code:
        raise SpdmFormatError(f"expected {code.name} (0x{code:02x}), got code 0x{head.code:02x}")
    if version is not None and head.version != version:
        raise SpdmFormatError(
            f"{code.name}: SPDMVersion 0x{head.version:02x}, not the negotiated 0x{version:02x}"
        )
    reader = Reader(message, code.name)
    reader.take(4, "header")
    return head, reader


ERROR_NAMES = {
    0x01: "InvalidRequest", 0x03: "Busy", 0x04: "UnexpectedRequest", 0x05: "Unspecified", 0x06: "DecryptError",
    0x07: "UnsupportedRequest", 0x08: "RequestInFlight", 0x09: "InvalidResponseCode", 0x0A: "SessionLimitExceeded",
    0x0B: "SessionRequired", 0x0C: "ResetRequired", 0x0D: "ResponseTooLarge", 0x0E: "RequestTooLarge",
    0x0F: "LargeResponse", 0x10: "MessageLost", 0x41: "VersionMismatch", 0x42: "ResponseNotReady",
    0x43: "RequestResynch",
}


class SpdmErrorResponse(DeviceProtocolError):
    """The responder answered ERROR."""

    def __init__(self, error_code: int, error_data: int) -> None:
        name = ERROR_NAMES.get(error_code, f"0x{error_code:02x}")
        super().__init__(f"the responder answered ERROR {name} (data 0x{error_data:02x})")
        self.error_code = error_code
        self.error_data = error_data


# --- requests -------------------------------------------------------------------------------------------------


def get_version() -> bytes:
    return bytes([0x10, Code.GET_VERSION, 0, 0])


def get_capabilities(
    version: int, *, flags: int = 0, ct_exponent: int = 0, data_transfer_size: int = 0x1200, max_message: int = 0x1200
) -> bytes:
    head = bytes([version, Code.GET_CAPABILITIES, 0, 0])
    if version < 0x11:
        return head
    body = struct.pack("<BBHI", 0, ct_exponent, 0, flags)
    if version >= 0x12:
        body += struct.pack("<II", data_transfer_size, max_message)
    return head + body


def negotiate_algorithms(
    version: int,
    *,
    base_asym: int = REQUESTER_ASYM,
    base_hash: int = REQUESTER_HASH,
    other_params: int = 0x02,
    structs: bytes | None = None,
    struct_count: int = 4,
) -> bytes:
    if structs is None:
        structs = REQUESTER_STRUCTS if version >= 0x11 else b""
        struct_count = 4 if version >= 0x11 else 0
    length = 32 + len(structs)
    other = other_params if version >= 0x12 else 0
    return (
        bytes([version, Code.NEGOTIATE_ALGORITHMS, struct_count, 0])
        + struct.pack("<HBBII", length, MEAS_SPEC_DMTF, other, base_asym, base_hash)
        + bytes(12)
        + bytes([0, 0, 0, 0])
        + structs
    )


def get_digests(version: int) -> bytes:
    return bytes([version, Code.GET_DIGESTS, 0, 0])


def get_certificate(version: int, slot: int, offset: int, length: int) -> bytes:
    return bytes([version, Code.GET_CERTIFICATE, slot & 0x0F, 0]) + struct.pack("<HH", offset, length)


def challenge(version: int, slot: int, summary_type: int, nonce: bytes, context: bytes = bytes(CONTEXT_BYTES)) -> bytes:
    if len(nonce) != NONCE_BYTES:
        raise ValueError("a CHALLENGE nonce is 32 bytes")
    out = bytes([version, Code.CHALLENGE, slot, summary_type]) + nonce
    return out + context if version >= 0x13 else out


def get_measurements(
    version: int,
    *,
    operation: int = 0xFF,
    signature: bool = True,
    nonce: bytes = b"",
    slot: int = 0,
    context: bytes = bytes(CONTEXT_BYTES),
) -> bytes:
    out = bytes([version, Code.GET_MEASUREMENTS, 0x01 if signature else 0x00, operation])
    if not signature:
        return out + context if version >= 0x13 else out
    if len(nonce) != NONCE_BYTES:
        raise ValueError("a GET_MEASUREMENTS nonce is 32 bytes")
    out += nonce
    if version >= 0x11:
        out += bytes([slot & 0x0F])
    return out + context if version >= 0x13 else out


# --- responses ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    versions: tuple[int, ...]  # the SPDMVersion byte of each entry (major << 4 | minor)


def decode_version(message: bytes) -> Version:
    _, r = expect(message, 0x10, Code.VERSION)
    r.u8("reserved")
    count = r.u8("VersionNumberEntryCount")
    if count == 0:
        raise SpdmFormatError("VERSION lists no version")
    raw = r.take(2 * count, "VersionNumberEntry")
    r.end()
    entries = tuple(int.from_bytes(raw[i : i + 2], "little") >> 8 for i in range(0, len(raw), 2))
    return Version(entries)


@dataclass(frozen=True)
class Capabilities:
    version: int
    ct_exponent: int
    flags: int
    data_transfer_size: int
    max_message: int

    def flag_names(self) -> tuple[str, ...]:
        return tuple(name for bit, name in CAP_FLAG_NAMES.items() if self.flags & (1 << bit))


def decode_capabilities(message: bytes, version: int | None = None) -> Capabilities:
    head, r = expect(message, version, Code.CAPABILITIES)
    r.u8("reserved")
    ct = r.u8("CTExponent")
    r.u16("reserved")
    flags = r.u32("Flags")
    dts = mms = 0
    if head.version >= 0x12:
        dts, mms = r.u32("DataTransferSize"), r.u32("MaxSPDMmsgSize")
        if dts < 42 or mms < dts:
            raise SpdmFormatError(f"CAPABILITIES: DataTransferSize {dts} / MaxSPDMmsgSize {mms} are not valid")
    r.end()
    return Capabilities(head.version, ct, flags, dts, mms)


def decode_get_capabilities(message: bytes) -> Capabilities:
    head, r = expect(message, None, Code.GET_CAPABILITIES)
    if head.version < 0x11:
        r.end()
        return Capabilities(head.version, 0, 0, 0, 0)
    r.u8("reserved")
    ct = r.u8("CTExponent")
    r.u16("reserved")
    flags = r.u32("Flags")
    dts = mms = 0
    if head.version >= 0x12:
        dts, mms = r.u32("DataTransferSize"), r.u32("MaxSPDMmsgSize")
    r.end()
    return Capabilities(head.version, ct, flags, dts, mms)


@dataclass(frozen=True)
class AlgStruct:
    alg_type: int
    fixed_count: int
    supported: int


def _alg_structs(r: Reader, count: int, what: str) -> tuple[AlgStruct, ...]:
    if count > 16:
        raise SpdmFormatError(f"{what}: {count} algorithm structures, more than 16")
    out = []
    for i in range(count):
        alg_type = r.u8(f"AlgStruct[{i}].AlgType")
        alg_count = r.u8(f"AlgStruct[{i}].AlgCount")
        fixed, ext = alg_count >> 4, alg_count & 0x0F
        if fixed != 2:
            raise SpdmFormatError(f"{what}: AlgStruct[{i}] has {fixed}-byte fields, not 2")
        supported = r.u16(f"AlgStruct[{i}].AlgSupported")
        r.take(4 * ext, f"AlgStruct[{i}].AlgExternal")
        out.append(AlgStruct(alg_type, alg_count, supported))
    return tuple(out)


@dataclass(frozen=True)
class Algorithms:
    version: int
    measurement_spec: int
    other_params: int
    measurement_hash: int
    base_asym: int
    base_hash: int
    structs: tuple[AlgStruct, ...]

    @property
    def asym_name(self) -> str:
        return single_bit(self.base_asym, ASYM_ALGORITHMS, "BaseAsymSel")[0]

    @property
    def signature_size(self) -> int:
        return single_bit(self.base_asym, ASYM_ALGORITHMS, "BaseAsymSel")[1]

    @property
    def hash_name(self) -> str:
        return single_bit(self.base_hash, HASH_ALGORITHMS, "BaseHashSel")[0]

    @property
    def hash_size(self) -> int:
        return single_bit(self.base_hash, HASH_ALGORITHMS, "BaseHashSel")[1]

    @property
    def measurement_hash_name(self) -> str:
        return single_bit(self.measurement_hash, MEASUREMENT_HASHES, "MeasurementHashAlgo")[0]


def decode_algorithms(message: bytes, version: int | None = None) -> Algorithms:
    head, r = expect(message, version, Code.ALGORITHMS)
    length = r.u16("Length")
    if length != len(message):
        raise SpdmFormatError(f"ALGORITHMS: Length says {length} bytes, the message has {len(message)}")
    spec = r.u8("MeasurementSpecificationSel")
    other = r.u8("OtherParamsSelection")
    meas_hash = r.u32("MeasurementHashAlgo")
    asym = r.u32("BaseAsymSel")
    base_hash = r.u32("BaseHashSel")
    r.take(11, "reserved")
    r.u8("reserved/MELspecificationSel")
    ext_asym = r.u8("ExtAsymSelCount")
    ext_hash = r.u8("ExtHashSelCount")
    r.u16("reserved")
    if ext_asym > 1 or ext_hash > 1:
        raise SpdmFormatError("ALGORITHMS selects more than one extended algorithm")
    r.take(4 * (ext_asym + ext_hash), "extended algorithms")
    structs = _alg_structs(r, head.param1, "ALGORITHMS")
    r.end()
    result = Algorithms(head.version, spec, other, meas_hash, asym, base_hash, structs)
    # Exactly one of each: a responder selecting two (or none) has not negotiated.
    result.asym_name, result.hash_name  # noqa: B018
    if spec & MEAS_SPEC_DMTF:
        result.measurement_hash_name  # noqa: B018
    return result


@dataclass(frozen=True)
class NegotiateRequest:
    version: int
    measurement_spec: int
    other_params: int
    base_asym: int
    base_hash: int
    structs: tuple[AlgStruct, ...]


def decode_negotiate_algorithms(message: bytes) -> NegotiateRequest:
    head, r = expect(message, None, Code.NEGOTIATE_ALGORITHMS)
    length = r.u16("Length")
    if length != len(message):
        raise SpdmFormatError(f"NEGOTIATE_ALGORITHMS: Length says {length}, the message has {len(message)}")
    spec = r.u8("MeasurementSpecification")
    other = r.u8("OtherParamsSupport")
    asym = r.u32("BaseAsymAlgo")
    base_hash = r.u32("BaseHashAlgo")
    r.take(12, "reserved")
    ext_asym = r.u8("ExtAsymCount")
    ext_hash = r.u8("ExtHashCount")
    r.u16("reserved")
    r.take(4 * (ext_asym + ext_hash), "extended algorithms")
    structs = _alg_structs(r, head.param1, "NEGOTIATE_ALGORITHMS")
    r.end()
    return NegotiateRequest(head.version, spec, other, asym, base_hash, structs)


@dataclass(frozen=True)
class Digests:
    version: int
    supported_slots: int
    slot_mask: int
    digests: dict[int, bytes]  # slot -> digest of that slot's chain


def decode_digests(message: bytes, version: int, hash_size: int) -> Digests:
    head, r = expect(message, version, Code.DIGESTS)
    slots = [slot for slot in range(8) if head.param2 & (1 << slot)]
    digests = {slot: r.take(hash_size, f"Digest[{slot}]") for slot in slots}
    r.end()
    return Digests(head.version, head.param1, head.param2, digests)


@dataclass(frozen=True)
class Certificate:
    slot: int
    portion: bytes
    remainder: int


def decode_certificate(message: bytes, version: int) -> Certificate:
    head, r = expect(message, version, Code.CERTIFICATE)
    portion_length = r.u16("PortionLength")
    remainder = r.u16("RemainderLength")
    portion = r.take(portion_length, "CertChain portion")
    r.end()
    return Certificate(head.param1 & 0x0F, portion, remainder)


@dataclass(frozen=True)
class CertificateRequest:
    slot: int
    offset: int
    length: int


def decode_get_certificate(message: bytes) -> CertificateRequest:
    head, r = expect(message, None, Code.GET_CERTIFICATE)
    offset, length = r.u16("Offset"), r.u16("Length")
    r.end()
    return CertificateRequest(head.param1 & 0x0F, offset, length)


@dataclass(frozen=True)
class ChallengeRequest:
    version: int
    slot: int
    summary_type: int
    nonce: bytes
    context: bytes


def decode_challenge(message: bytes) -> ChallengeRequest:
    head, r = expect(message, None, Code.CHALLENGE)
    nonce = r.take(NONCE_BYTES, "Nonce")
    context = r.take(CONTEXT_BYTES, "RequesterContext") if head.version >= 0x13 else b""
    r.end()
    return ChallengeRequest(head.version, head.param1, head.param2, nonce, context)


@dataclass(frozen=True)
class ChallengeAuth:
    version: int
    slot: int
    slot_mask: int
    cert_chain_hash: bytes
    nonce: bytes
    summary_hash: bytes
    opaque: bytes
    context: bytes
    signature: bytes
    #: The message without its signature: what the transcript covers.
    unsigned: bytes


def decode_challenge_auth(
    message: bytes, version: int, *, hash_size: int, signature_size: int, summary: bool
) -> ChallengeAuth:
    head, r = expect(message, version, Code.CHALLENGE_AUTH)
    chain_hash = r.take(hash_size, "CertChainHash")
    nonce = r.take(NONCE_BYTES, "Nonce")
    summary_hash = r.take(hash_size, "MeasurementSummaryHash") if summary else b""
    opaque_length = r.u16("OpaqueDataLength")
    if opaque_length > 1024:
        raise SpdmFormatError(f"CHALLENGE_AUTH: OpaqueDataLength {opaque_length} exceeds 1024")
    opaque = r.take(opaque_length, "OpaqueData")
    context = r.take(CONTEXT_BYTES, "RequesterContext") if version >= 0x13 else b""
    unsigned = message[: r.at]
    signature = r.take(signature_size, "Signature")
    r.end()
    return ChallengeAuth(
        head.version, head.param1 & 0x0F, head.param2, chain_hash, nonce, summary_hash, opaque, context, signature,
        unsigned,
    )


@dataclass(frozen=True)
class MeasurementsRequest:
    version: int
    signature: bool
    operation: int
    nonce: bytes
    slot: int
    context: bytes


def decode_get_measurements(message: bytes) -> MeasurementsRequest:
    head, r = expect(message, None, Code.GET_MEASUREMENTS)
    signed = bool(head.param1 & 0x01)
    nonce, slot = b"", 0
    if signed:
        nonce = r.take(NONCE_BYTES, "Nonce")
        if head.version >= 0x11:
            slot = r.u8("SlotIDParam") & 0x0F
    context = r.take(CONTEXT_BYTES, "RequesterContext") if head.version >= 0x13 else b""
    r.end()
    return MeasurementsRequest(head.version, signed, head.param2, nonce, slot, context)


@dataclass(frozen=True)
class Measurements:
    version: int
    total_blocks: int  # param1: the count of indices, when operation 0 asked for it
    slot: int
    block_count: int
    record: bytes
    nonce: bytes
    opaque: bytes
    context: bytes
    signature: bytes
    unsigned: bytes


def decode_measurements(message: bytes, version: int, *, signature_size: int) -> Measurements:
    """MEASUREMENTS; ``signature_size`` 0 when no signature was asked for."""
    head, r = expect(message, version, Code.MEASUREMENTS)
    count = r.u8("NumberOfBlocks")
    record_length = r.u24("MeasurementRecordLength")
    record = r.take(record_length, "MeasurementRecord")
    nonce = r.take(NONCE_BYTES, "Nonce")
    opaque_length = r.u16("OpaqueDataLength")
    if opaque_length > 1024:
        raise SpdmFormatError(f"MEASUREMENTS: OpaqueDataLength {opaque_length} exceeds 1024")
    opaque = r.take(opaque_length, "OpaqueData")
    context = r.take(CONTEXT_BYTES, "RequesterContext") if version >= 0x13 else b""
    unsigned = message[: r.at]
    signature = r.take(signature_size, "Signature")
    r.end()
    return Measurements(
        head.version, head.param1, head.param2 & 0x0F, count, record, nonce, opaque, context, signature, unsigned
    )
