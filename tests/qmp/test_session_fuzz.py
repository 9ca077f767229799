"""Arbitrary input never breaks a session, and a resync byte always brings it back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.qmp.support import STATUS, Client, lines, pump

FRAGMENTS = st.sampled_from(
    [
        b'{"execute":"query-status"}', b'{"exec-oob":"query-yank"}', b'{"execute":',
        b'"id":', b"[", b"]", b"{", b"}", b'"', b"'", b"\\u", b"\xff", b"\x01", b"\n",
        b'{"execute":"qmp_capabilities"}', b'{"execute":"cont","id":[1e400]}', b"1", b"-",
    ]
)  # fmt: skip

inputs = st.lists(st.binary(max_size=40) | FRAGMENTS, max_size=10).map(b"".join)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(data=inputs, negotiated=st.booleans(), oob=st.booleans())
def test_random_input_then_resync(data: bytes, negotiated: bool, oob: bool) -> None:
    client = Client(negotiate=negotiated, oob=oob and negotiated)
    client.send(data)
    if not negotiated:
        client.send(b'\x01{"execute":"qmp_capabilities"}')
    reply = client.send(b'\x01{"execute":"query-status","id":"after"}')
    assert reply[-1] == f'{{"return": {STATUS}, "id": "after"}}'


@settings(max_examples=100, derandomize=True, deadline=None)
@given(data=inputs, cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=5))
def test_output_is_well_framed_whatever_the_chunking(data: bytes, cuts: list[int]) -> None:
    whole = Client(negotiate=True).send(data)
    client = Client(negotiate=True)
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    chunked: list[str] = []
    for piece in pieces:
        client.session.receive_data(piece)
        pump(client.session)
        chunked += lines(client.session.data_to_send())
    assert chunked == whole
