"""DM protocol wire format (balloon.md §3.3)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.machine.hv_balloon import dm

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 2**64 - 1)
start40 = st.integers(0, 2**40 - 1)
count24 = st.integers(0, 2**24 - 1)
packed = st.builds(dm.pack_range, start40, count24)

messages = st.one_of(
    st.builds(dm.VersionRequest, trans_id=u32, version=u32, is_last_attempt=st.booleans()),
    st.builds(dm.VersionResponse, trans_id=u32, is_accepted=st.booleans()),
    st.builds(
        dm.CapsReport,
        trans_id=u32,
        balloon=st.booleans(),
        hot_add=st.booleans(),
        hot_add_alignment=st.integers(0, 15),
        hot_remove=st.booleans(),
        min_page_cnt=u64,
        max_page_number=u64,
    ),
    st.builds(
        dm.CapsResponse,
        trans_id=u32,
        is_accepted=st.booleans(),
        hot_remove=st.booleans(),
        suppress_pressure_reports=st.booleans(),
    ),
    st.builds(
        dm.StatusReport,
        trans_id=u32,
        num_avail=u64,
        num_committed=u64,
        page_file_size=u64,
        zero_free=u64,
        page_file_writes=u32,
        io_diff=u32,
    ),
    st.builds(dm.BalloonRequest, trans_id=u32, num_pages=u32),
    st.builds(
        dm.BalloonResponse,
        trans_id=u32,
        more_pages=st.booleans(),
        packed_ranges=st.lists(packed, max_size=20).map(tuple),
    ),
    st.builds(
        dm.UnballoonRequest,
        trans_id=u32,
        more_pages=st.booleans(),
        packed_ranges=st.lists(packed, min_size=1, max_size=4).map(tuple),
    ),
    st.builds(dm.UnballoonResponse, trans_id=u32),
    st.builds(
        dm.HotAddRequest,
        trans_id=u32,
        start=start40,
        count=count24,
        region_start=start40,
        region_count=count24,
    ),
    st.builds(dm.HotAddResponse, trans_id=u32, page_count=u32, result=u32),
)


def normal(msg: dm.DmMessage) -> dm.DmMessage:
    """Decoding fills in the balloon response's declared range count."""
    if isinstance(msg, dm.BalloonResponse) and msg.range_count is None:
        return dm.BalloonResponse(
            trans_id=msg.trans_id,
            more_pages=msg.more_pages,
            packed_ranges=msg.packed_ranges,
            range_count=len(msg.packed_ranges),
        )
    return msg


@settings(max_examples=300, derandomize=True)
@given(messages)
def test_round_trip(msg: dm.DmMessage) -> None:
    data = dm.encode(msg)
    header = dm.parse_header(data)
    assert header is not None
    assert header.size == len(data)
    assert header.trans_id == msg.trans_id
    assert not isinstance(msg, dm.UnknownMessage)
    assert len(data) >= dm.MIN_SIZE[msg.TYPE]
    assert dm.decode(data) == normal(msg)


def test_sizes_match_the_spec_table() -> None:
    assert len(dm.encode(dm.VersionRequest(version=dm.VERSION_WIN10))) == 16
    assert len(dm.encode(dm.VersionResponse(is_accepted=True))) == 16
    assert len(dm.encode(dm.CapsReport())) == 32
    assert len(dm.encode(dm.CapsResponse(is_accepted=True))) == 16
    assert len(dm.encode(dm.StatusReport(num_avail=1, num_committed=2))) == 48
    assert len(dm.encode(dm.BalloonRequest(num_pages=5))) == 16
    assert len(dm.encode(dm.BalloonResponse.of_ranges([(1, 2), (5, 6)]))) == 16 + 16
    assert len(dm.encode(dm.UnballoonRequest(packed_ranges=(dm.pack_range(1, 1),)))) == 24
    assert len(dm.encode(dm.UnballoonResponse())) == 8
    assert len(dm.encode(dm.HotAddRequest(start=1, count=2, region_start=1, region_count=2))) == 24
    assert len(dm.encode(dm.HotAddResponse(page_count=3))) == 16


def test_exact_bytes() -> None:
    assert dm.encode(dm.VersionRequest(trans_id=7, version=0x20000, is_last_attempt=True)) == (
        bytes.fromhex("0100 1000 07000000 00000200 01000000".replace(" ", ""))
    )
    caps = dm.CapsReport(
        balloon=True, hot_add=True, hot_add_alignment=7, min_page_cnt=9, max_page_number=10
    )
    assert dm.encode(caps)[8:16] == struct.pack("<Q", 0b0011111)
    resp = dm.encode(
        dm.CapsResponse(is_accepted=True, hot_remove=True, suppress_pressure_reports=True)
    )
    assert resp[8:] == struct.pack("<Q", 7)
    # A page range: start in the low 40 bits, count in the high 24 bits.
    assert dm.pack_range(8388608, 524288) == (524288 << 40) | 8388608
    assert dm.unpack_range(dm.pack_range(2**40 - 1, 2**24 - 1)) == (2**40 - 1, 2**24 - 1)
    balloon = dm.encode(dm.BalloonResponse.of_ranges([(3, 4)], more_pages=True))
    assert balloon[12:16] == struct.pack("<I", (1 << 1) | 1)


def test_versions() -> None:
    assert dm.make_version(2, 0) == dm.VERSION_WIN10
    assert dm.make_version(0, 3) == dm.VERSION_WIN7
    assert dm.is_supported_version(0x3)
    assert dm.is_supported_version(0x10000)
    assert dm.is_supported_version(0x20000)
    assert not dm.is_supported_version(0x2)
    assert not dm.is_supported_version(0x20001)
    assert not dm.is_supported_version(0x30000)


def test_short_and_unknown() -> None:
    assert dm.parse_header(b"\x01\x00\x10") is None
    with pytest.raises(dm.ShortMessageError):
        dm.decode(b"1234")
    with pytest.raises(dm.ShortMessageError, match=r"VERSION_REQUEST message too short \(12"):
        dm.decode(dm.encode(dm.VersionRequest(version=3))[:12])
    unknown = dm.decode(struct.pack("<HHI", 99, 12, 5) + b"abcd")
    assert unknown == dm.UnknownMessage(type=99, trans_id=5, body=b"abcd")
    info = dm.decode(struct.pack("<HHI", 12, 8, 0))
    assert info == dm.UnknownMessage(type=12, trans_id=0, body=b"")
    assert dm.encode(unknown) == struct.pack("<HHI", 99, 12, 5) + b"abcd"


def test_balloon_response_claiming_more_ranges_than_sent() -> None:
    claim = dm.BalloonResponse(packed_ranges=(dm.pack_range(10, 1),), range_count=3)
    data = dm.encode(claim)
    assert len(data) == 24
    back = dm.decode(data)
    assert isinstance(back, dm.BalloonResponse)
    assert back.range_count == 3
    assert list(back.ranges()) == [(10, 1)]


def test_batch_unballoon_encoding_matches_encode() -> None:
    ranges = [(100, 5), (2**40 - 1, 2**24 - 1), (7, 1)]
    for more in (True, False):
        got = dm.encode_unballoon_requests(9, ranges, more_after_last=more)
        want = [
            dm.encode(
                dm.UnballoonRequest(
                    trans_id=9,
                    more_pages=i < len(ranges) - 1 or more,
                    packed_ranges=(dm.pack_range(s, c),),
                )
            )
            for i, (s, c) in enumerate(ranges)
        ]
        assert got == want
    assert dm.encode_unballoon_requests(1, [], more_after_last=False) == []
