"""Helpers shared by the wire tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from hvballoond.wire.items import Item


class Streamer(Protocol):
    def feed(self, data: bytes) -> None: ...
    def next_item(self) -> Item | None: ...
    def reset(self) -> None: ...


def drain(streamer: Streamer, chunks: Iterable[bytes]) -> list[Item]:
    """Feed ``chunks`` one by one, pulling every item that becomes available."""
    items: list[Item] = []
    for chunk in chunks:
        streamer.feed(chunk)
        while (item := streamer.next_item()) is not None:
            items.append(item)
    return items


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]
