"""Hyper-V Dynamic Memory (DM) protocol messages and their wire format (balloon.md §3.3).

Every message is a little-endian, packed structure that starts with an 8-byte header
``{type u16, size u16, trans_id u32}``. The host and the simulated guest exchange the encoded
bytes (so short, garbled and unknown messages can be simulated exactly); :func:`encode` and
:func:`decode` convert between those bytes and the frozen dataclasses below. Layouts follow
``include/hw/hyperv/dynmem-proto.h``.

The receiver reads a message's type from its header *before* deciding whether the message is
long enough (QEMU checks the state first and the length second), hence the split into
:func:`parse_header`, :data:`MIN_SIZE` and :func:`decode`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

__all__ = [
    "HEADER_SIZE",
    "MIN_SIZE",
    "VERSION_WIN7",
    "VERSION_WIN8",
    "VERSION_WIN10",
    "BalloonRequest",
    "BalloonResponse",
    "CapsReport",
    "CapsResponse",
    "DmMessage",
    "Header",
    "HotAddRequest",
    "HotAddResponse",
    "MessageType",
    "ShortMessageError",
    "StatusReport",
    "UnballoonRequest",
    "UnballoonResponse",
    "UnknownMessage",
    "VersionRequest",
    "VersionResponse",
    "decode",
    "encode",
    "encode_unballoon_requests",
    "is_supported_version",
    "make_version",
    "pack_range",
    "parse_header",
    "unpack_range",
]

HEADER_SIZE: Final = 8

# Protocol versions: major in the high 16 bits, minor in the low 16 bits.
VERSION_WIN7: Final = 0x00000003  # 0.3
VERSION_WIN8: Final = 0x00010000  # 1.0
VERSION_WIN10: Final = 0x00020000  # 2.0

_START_BITS: Final = 40
_START_MASK: Final = (1 << _START_BITS) - 1
_COUNT_MASK: Final = (1 << 24) - 1
_U32: Final = (1 << 32) - 1


class MessageType(IntEnum):
    """``enum dm_message_type``."""

    ERROR = 0
    VERSION_REQUEST = 1
    VERSION_RESPONSE = 2
    CAPABILITIES_REPORT = 3
    CAPABILITIES_RESPONSE = 4
    STATUS_REPORT = 5
    BALLOON_REQUEST = 6
    BALLOON_RESPONSE = 7
    UNBALLOON_REQUEST = 8
    UNBALLOON_RESPONSE = 9
    MEM_HOT_ADD_REQUEST = 10
    MEM_HOT_ADD_RESPONSE = 11
    INFO_MESSAGE = 12
    MEM_HOT_REMOVE_REQUEST = 13
    MEM_HOT_REMOVE_RESPONSE = 14


#: Smallest valid length (header included) of each message type this module encodes.
MIN_SIZE: Final[dict[MessageType, int]] = {
    MessageType.VERSION_REQUEST: 16,
    MessageType.VERSION_RESPONSE: 16,
    MessageType.CAPABILITIES_REPORT: 32,
    MessageType.CAPABILITIES_RESPONSE: 16,
    MessageType.STATUS_REPORT: 48,
    MessageType.BALLOON_REQUEST: 16,
    MessageType.BALLOON_RESPONSE: 16,
    MessageType.UNBALLOON_REQUEST: 24,
    MessageType.UNBALLOON_RESPONSE: 8,
    MessageType.MEM_HOT_ADD_REQUEST: 24,
    MessageType.MEM_HOT_ADD_RESPONSE: 16,
}


def make_version(major: int, minor: int) -> int:
    """``DYNMEM_MAKE_VERSION``."""
    return ((major & 0xFFFF) << 16) | (minor & 0xFFFF)


def is_supported_version(version: int) -> bool:
    """The host accepts any version from 0.3 (Win7) to 2.0 (Win10) [hv-balloon.c]."""
    return VERSION_WIN7 <= version <= VERSION_WIN10


def pack_range(start: int, count: int) -> int:
    """``union dm_mem_page_range``: start PFN in the low 40 bits, page count in the high 24.

    Values are truncated to their bit fields, as the C bit-field assignment does.
    """
    return ((count & _COUNT_MASK) << _START_BITS) | (start & _START_MASK)


def unpack_range(value: int) -> tuple[int, int]:
    """Split a packed page range into ``(start, count)``."""
    return value & _START_MASK, value >> _START_BITS


@dataclass(frozen=True, slots=True)
class Header:
    """``struct dm_header``; ``size`` is what the sender wrote, not the received length."""

    type: int
    size: int
    trans_id: int


_HEADER: Final = struct.Struct("<HHI")


def parse_header(data: bytes) -> Header | None:
    """The header of ``data``, or None when ``data`` is shorter than a header."""
    if len(data) < HEADER_SIZE:
        return None
    return Header(*_HEADER.unpack_from(data))


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionRequest:
    """DM_VERSION_REQUEST (guest to host): the protocol version the guest proposes."""

    TYPE: ClassVar[MessageType] = MessageType.VERSION_REQUEST
    trans_id: int = 0
    version: int
    is_last_attempt: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionResponse:
    """DM_VERSION_RESPONSE (host to guest)."""

    TYPE: ClassVar[MessageType] = MessageType.VERSION_RESPONSE
    trans_id: int = 0
    is_accepted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CapsReport:
    """DM_CAPABILITIES_REPORT (guest to host).

    ``hot_add_alignment`` n means hot-added memory must be aligned to 2^n MiB.
    """

    TYPE: ClassVar[MessageType] = MessageType.CAPABILITIES_REPORT
    trans_id: int = 0
    balloon: bool = True
    hot_add: bool = True
    hot_add_alignment: int = 7
    hot_remove: bool = False
    min_page_cnt: int = 0
    max_page_number: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CapsResponse:
    """DM_CAPABILITIES_RESPONSE (host to guest)."""

    TYPE: ClassVar[MessageType] = MessageType.CAPABILITIES_RESPONSE
    trans_id: int = 0
    is_accepted: bool
    hot_remove: bool = False
    suppress_pressure_reports: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """DM_STATUS_REPORT (guest to host); all sizes in pages. Not part of any transaction."""

    TYPE: ClassVar[MessageType] = MessageType.STATUS_REPORT
    trans_id: int = 0
    num_avail: int
    num_committed: int
    page_file_size: int = 0
    zero_free: int = 0
    page_file_writes: int = 0
    io_diff: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BalloonRequest:
    """DM_BALLOON_REQUEST (host to guest): give back ``num_pages`` pages."""

    TYPE: ClassVar[MessageType] = MessageType.BALLOON_REQUEST
    trans_id: int = 0
    num_pages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BalloonResponse:
    """DM_BALLOON_RESPONSE (guest to host): pages the guest gave back.

    ``packed_ranges`` holds the ranges in wire form (:func:`pack_range`) so that large
    responses cost no per-range objects. ``range_count`` is the count field as sent; it
    defaults to the number of ranges, and a hostile guest may claim more ranges than it sends.
    """

    TYPE: ClassVar[MessageType] = MessageType.BALLOON_RESPONSE
    trans_id: int = 0
    more_pages: bool = False
    packed_ranges: tuple[int, ...] = ()
    range_count: int | None = None

    @classmethod
    def of_ranges(
        cls, ranges: Sequence[tuple[int, int]], *, more_pages: bool = False, trans_id: int = 0
    ) -> BalloonResponse:
        """A response carrying ``(start, count)`` ranges."""
        packed = tuple(pack_range(s, c) for s, c in ranges)
        return cls(trans_id=trans_id, more_pages=more_pages, packed_ranges=packed)

    @property
    def declared_count(self) -> int:
        """The range count field as it goes on the wire."""
        return len(self.packed_ranges) if self.range_count is None else self.range_count

    def ranges(self) -> Iterator[tuple[int, int]]:
        """The carried ranges as ``(start, count)`` pairs."""
        return (unpack_range(v) for v in self.packed_ranges)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnballoonRequest:
    """DM_UNBALLOON_REQUEST (host to guest): take these pages back (QEMU sends one range)."""

    TYPE: ClassVar[MessageType] = MessageType.UNBALLOON_REQUEST
    trans_id: int = 0
    more_pages: bool = False
    packed_ranges: tuple[int, ...] = ()

    def ranges(self) -> Iterator[tuple[int, int]]:
        """The carried ranges as ``(start, count)`` pairs."""
        return (unpack_range(v) for v in self.packed_ranges)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnballoonResponse:
    """DM_UNBALLOON_RESPONSE (guest to host): the unballoon transaction is done."""

    TYPE: ClassVar[MessageType] = MessageType.UNBALLOON_RESPONSE
    trans_id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HotAddRequest:
    """DM_MEM_HOT_ADD_REQUEST (host to guest); QEMU sets ``region`` equal to ``range``."""

    TYPE: ClassVar[MessageType] = MessageType.MEM_HOT_ADD_REQUEST
    trans_id: int = 0
    start: int
    count: int
    region_start: int
    region_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HotAddResponse:
    """DM_MEM_HOT_ADD_RESPONSE (guest to host): ``result`` 1 means success."""

    TYPE: ClassVar[MessageType] = MessageType.MEM_HOT_ADD_RESPONSE
    trans_id: int = 0
    page_count: int
    result: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage:
    """Any other type (or a raw body): decoded as header plus opaque bytes."""

    type: int
    trans_id: int = 0
    body: bytes = b""


DmMessage = (
    VersionRequest
    | VersionResponse
    | CapsReport
    | CapsResponse
    | StatusReport
    | BalloonRequest
    | BalloonResponse
    | UnballoonRequest
    | UnballoonResponse
    | HotAddRequest
    | HotAddResponse
    | UnknownMessage
)

# ------------------------------------------------------------------------- encoding

_U32_PAIR: Final = struct.Struct("<II")
_U64: Final = struct.Struct("<Q")
_U64X3: Final = struct.Struct("<QQQ")
_STATUS: Final = struct.Struct("<QQQQII")
_U64_PAIR: Final = struct.Struct("<QQ")


def _frame(mtype: int, trans_id: int, body: bytes) -> bytes:
    size = HEADER_SIZE + len(body)
    # The size field is 16 bits wide; a larger message keeps its low bits, as in C.
    return _HEADER.pack(mtype & 0xFFFF, size & 0xFFFF, trans_id & _U32) + body


def _ranges_bytes(packed: tuple[int, ...]) -> bytes:
    return struct.pack(f"<{len(packed)}Q", *packed)


def encode(msg: DmMessage) -> bytes:
    """The wire bytes of ``msg`` (the header's size is the encoded length)."""
    match msg:
        case VersionRequest():
            body = _U32_PAIR.pack(msg.version & _U32, int(msg.is_last_attempt))
        case VersionResponse():
            body = _U64.pack(int(msg.is_accepted))
        case CapsReport():
            caps = (
                int(msg.balloon)
                | int(msg.hot_add) << 1
                | (msg.hot_add_alignment & 0xF) << 2
                | int(msg.hot_remove) << 6
            )
            body = _U64X3.pack(caps, msg.min_page_cnt, msg.max_page_number)
        case CapsResponse():
            flags = (
                int(msg.is_accepted)
                | int(msg.hot_remove) << 1
                | int(msg.suppress_pressure_reports) << 2
            )
            body = _U64.pack(flags)
        case StatusReport():
            body = _STATUS.pack(
                msg.num_avail,
                msg.num_committed,
                msg.page_file_size,
                msg.zero_free,
                msg.page_file_writes,
                msg.io_diff,
            )
        case BalloonRequest():
            body = _U32_PAIR.pack(msg.num_pages & _U32, 0)
        case BalloonResponse():
            bits = int(msg.more_pages) | (msg.declared_count & 0x7FFFFFFF) << 1
            body = _U32_PAIR.pack(0, bits) + _ranges_bytes(msg.packed_ranges)
        case UnballoonRequest():
            body = _U32_PAIR.pack(int(msg.more_pages), len(msg.packed_ranges))
            body += _ranges_bytes(msg.packed_ranges)
        case UnballoonResponse():
            body = b""
        case HotAddRequest():
            body = _U64_PAIR.pack(
                pack_range(msg.start, msg.count), pack_range(msg.region_start, msg.region_count)
            )
        case HotAddResponse():
            body = _U32_PAIR.pack(msg.page_count & _U32, msg.result & _U32)
        case UnknownMessage():
            return _frame(msg.type, msg.trans_id, msg.body)
    return _frame(msg.TYPE, msg.trans_id, body)


_UNBALLOON_ONE: Final = struct.Struct("<HHIIIQ")


def encode_unballoon_requests(
    trans_id: int, ranges: Sequence[tuple[int, int]], *, more_after_last: bool
) -> list[bytes]:
    """One-range DM_UNBALLOON_REQUESTs (as QEMU sends them) for ``ranges``, in one go.

    Every request but the last says ``more_pages``; the last one says ``more_after_last``.
    Deflating a fragmented balloon sends one request per range, hence this shortcut around
    :func:`encode`.
    """
    pack = _UNBALLOON_ONE.pack
    mtype, tid = int(MessageType.UNBALLOON_REQUEST), trans_id & _U32
    out = [
        pack(mtype, 24, tid, 1, 1, ((count & _COUNT_MASK) << _START_BITS) | (start & _START_MASK))
        for start, count in ranges
    ]
    if out and not more_after_last:
        start, count = ranges[-1]
        out[-1] = pack(mtype, 24, tid, 0, 1, pack_range(start, count))
    return out


class ShortMessageError(ValueError):
    """The bytes are shorter than the minimum size of their message type."""


def decode(data: bytes) -> DmMessage:
    """Parse one message.

    Types without a layout here come back as :class:`UnknownMessage`. A balloon response
    keeps only the ranges that fit in ``data`` (its ``range_count`` says how many it claims).

    Raises:
        ShortMessageError: ``data`` is shorter than a header, or than :data:`MIN_SIZE` of its
            type.
    """
    header = parse_header(data)
    if header is None:
        raise ShortMessageError(f"{len(data)} bytes is shorter than a DM header")
    try:
        mtype = MessageType(header.type)
    except ValueError:
        return UnknownMessage(type=header.type, trans_id=header.trans_id, body=data[HEADER_SIZE:])
    need = MIN_SIZE.get(mtype)
    if need is None:
        return UnknownMessage(type=header.type, trans_id=header.trans_id, body=data[HEADER_SIZE:])
    if len(data) < need:
        raise ShortMessageError(f"{mtype.name} message too short ({len(data)} vs {need})")
    tid = header.trans_id
    match mtype:
        case MessageType.VERSION_REQUEST:
            version, flags = _U32_PAIR.unpack_from(data, 8)
            return VersionRequest(trans_id=tid, version=version, is_last_attempt=bool(flags & 1))
        case MessageType.VERSION_RESPONSE:
            (flags,) = _U64.unpack_from(data, 8)
            return VersionResponse(trans_id=tid, is_accepted=bool(flags & 1))
        case MessageType.CAPABILITIES_REPORT:
            caps, min_pages, max_page = _U64X3.unpack_from(data, 8)
            return CapsReport(
                trans_id=tid,
                balloon=bool(caps & 1),
                hot_add=bool(caps & 2),
                hot_add_alignment=(caps >> 2) & 0xF,
                hot_remove=bool(caps & 0x40),
                min_page_cnt=min_pages,
                max_page_number=max_page,
            )
        case MessageType.CAPABILITIES_RESPONSE:
            (flags,) = _U64.unpack_from(data, 8)
            return CapsResponse(
                trans_id=tid,
                is_accepted=bool(flags & 1),
                hot_remove=bool(flags & 2),
                suppress_pressure_reports=bool(flags & 4),
            )
        case MessageType.STATUS_REPORT:
            avail, committed, pfsize, zero_free, writes, io_diff = _STATUS.unpack_from(data, 8)
            return StatusReport(
                trans_id=tid,
                num_avail=avail,
                num_committed=committed,
                page_file_size=pfsize,
                zero_free=zero_free,
                page_file_writes=writes,
                io_diff=io_diff,
            )
        case MessageType.BALLOON_REQUEST:
            num_pages, _ = _U32_PAIR.unpack_from(data, 8)
            return BalloonRequest(trans_id=tid, num_pages=num_pages)
        case MessageType.BALLOON_RESPONSE:
            _, bits = _U32_PAIR.unpack_from(data, 8)
            declared = bits >> 1
            fit = min(declared, (len(data) - 16) // 8)
            return BalloonResponse(
                trans_id=tid,
                more_pages=bool(bits & 1),
                packed_ranges=struct.unpack_from(f"<{fit}Q", data, 16),
                range_count=declared,
            )
        case MessageType.UNBALLOON_REQUEST:
            flags, count = _U32_PAIR.unpack_from(data, 8)
            fit = min(count, (len(data) - 16) // 8)
            return UnballoonRequest(
                trans_id=tid,
                more_pages=bool(flags & 1),
                packed_ranges=struct.unpack_from(f"<{fit}Q", data, 16),
            )
        case MessageType.UNBALLOON_RESPONSE:
            return UnballoonResponse(trans_id=tid)
        case MessageType.MEM_HOT_ADD_REQUEST:
            rng, region = _U64_PAIR.unpack_from(data, 8)
            start, count = unpack_range(rng)
            region_start, region_count = unpack_range(region)
            return HotAddRequest(
                trans_id=tid,
                start=start,
                count=count,
                region_start=region_start,
                region_count=region_count,
            )
        case MessageType.MEM_HOT_ADD_RESPONSE:
            page_count, result = _U32_PAIR.unpack_from(data, 8)
            return HotAddResponse(trans_id=tid, page_count=page_count, result=result)
    return UnknownMessage(type=header.type, trans_id=tid, body=data[HEADER_SIZE:])
