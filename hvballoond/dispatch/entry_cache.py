"""Encoded entries of the big list queries, reused while what they show is unchanged.

``query-memory-devices`` and ``query-memdev`` answer with one entry per device or backend,
and encoding those entries is most of what the commands cost. The machine gives every such
object a *content key*: a hashable value that changes whenever its entry would. A cache maps
``(type, content key)`` to the encoded entry, so it needs no invalidation: an object whose
key changed simply misses. Each query replaces the map with the entries it just used, so the
cache never holds more than the live objects. Under test (strict schema checking) every hit
is rebuilt and compared, so a key that misses a field fails the test that changed it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from hvballoond.dispatch.schema_check import strict_checking_enabled
from hvballoond.wire.encode import PreEncoded
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["EntryCache", "StaleEntryError"]

T = TypeVar("T")


class StaleEntryError(AssertionError):
    """A cached entry differs from a fresh one: the object's content key misses a field."""


class EntryCache:
    """Encoded entries of one list query (one cache per query and machine)."""

    def __init__(self, *, verify: bool | None = None) -> None:
        self._entries: dict[tuple[type, Hashable], PreEncoded] = {}
        self.verify = strict_checking_enabled() if verify is None else verify

    def encode_all(
        self,
        owners: Iterable[T],
        key: Callable[[T], Hashable],
        build: Callable[[T], JSONObject],
    ) -> list[JSONValue]:
        """The entries of ``owners``, in order, each read-only and carrying its text.

        Args:
            owners: The devices or backends the query lists.
            key: An owner's content key.
            build: Builds an owner's entry (members in schema order) on a miss.

        Returns:
            The reply's list.
        """
        previous = self._entries
        current: dict[tuple[type, Hashable], PreEncoded] = {}
        out: list[JSONValue] = []
        for owner in owners:
            slot = (type(owner), key(owner))
            entry = previous.get(slot)
            if entry is None:
                entry = PreEncoded(build(owner))
            elif self.verify:
                _check_fresh(entry, PreEncoded(build(owner)), owner, slot[1])
            current[slot] = entry
            out.append(entry)
        self._entries = current
        return out


def _check_fresh(cached: PreEncoded, fresh: PreEncoded, owner: object, key: Hashable) -> None:
    if fresh != cached or fresh.text != cached.text:
        raise StaleEntryError(
            f"{type(owner).__name__} content key {key!r} gave {cached.text}, "
            f"a fresh entry is {fresh.text}"
        )
