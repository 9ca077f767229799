"""The encoded-entry cache of query-memory-devices and query-memdev."""

from __future__ import annotations

from collections.abc import Hashable

import pytest

from hvballoond.dispatch.entry_cache import EntryCache, StaleEntryError
from hvballoond.wire.encode import PreEncoded, encode_return
from hvballoond.wire.values import JSONObject, JSONValue


class Thing:
    """An object whose entry shows ``size`` and ``name``; ``key_has_name`` models a content
    key that forgot a member."""

    def __init__(self, name: str, size: int, *, key_has_name: bool = True) -> None:
        self.name, self.size, self.key_has_name = name, size, key_has_name
        self.builds = 0

    def key(self) -> Hashable:
        return (self.size, self.name) if self.key_has_name else (self.size,)

    def info(self) -> JSONObject:
        self.builds += 1
        return {"name": self.name, "size": self.size}


def encode_all(
    cache: EntryCache, things: list[Thing], token: Hashable = None
) -> list[JSONValue]:
    return cache.encode_all(lambda: things, Thing.key, Thing.info, token=token)


def test_unchanged_entries_are_reused_and_changed_ones_rebuilt() -> None:
    cache = EntryCache(verify=False)
    a, b = Thing("a", 1), Thing("b", 2)
    first = encode_all(cache, [a, b])
    assert first == [{"name": "a", "size": 1}, {"name": "b", "size": 2}]
    assert all(isinstance(entry, PreEncoded) for entry in first)
    b.size = 3
    second = encode_all(cache, [a, b])
    assert second[0] is first[0] and a.builds == 1
    assert second[1] == {"name": "b", "size": 3} and b.builds == 2
    assert encode_return(second, None) == b'{"return": [{"name": "a", "size": 1}, ' \
        b'{"name": "b", "size": 3}]}\r\n'


def test_the_cache_holds_only_the_entries_of_the_last_query() -> None:
    cache = EntryCache(verify=False)
    a, b = Thing("a", 1), Thing("b", 2)
    encode_all(cache, [a, b])
    encode_all(cache, [b])
    encode_all(cache, [a, b])
    assert a.builds == 2 and b.builds == 1
    assert len(cache._entries) == 2


def test_verification_catches_a_key_that_misses_a_member() -> None:
    thing = Thing("a", 1, key_has_name=False)
    cache = EntryCache(verify=True)
    encode_all(cache, [thing])
    thing.name = "renamed"
    with pytest.raises(StaleEntryError, match="content key"):
        encode_all(cache, [thing])
    # Without verification the stale entry would have been served: that is what the test
    # suite's strict mode exists to catch.
    quiet = EntryCache(verify=False)
    thing.name = "a"
    encode_all(quiet, [thing])
    thing.name = "renamed"
    assert encode_all(quiet, [thing]) == [{"name": "a", "size": 1}]


def test_an_unchanged_list_token_reuses_the_whole_list_without_visiting_objects() -> None:
    cache = EntryCache(verify=False)
    a, b = Thing("a", 1), Thing("b", 2)
    first = encode_all(cache, [a, b], token=1)
    visits: list[int] = []

    def owners() -> list[Thing]:
        visits.append(1)
        return [a, b]

    again = cache.encode_all(owners, Thing.key, Thing.info, token=1)
    assert again == first and again is not first and visits == []
    b.size = 5
    changed = encode_all(cache, [a, b], token=2)
    assert changed[1] == {"name": "b", "size": 5} and changed[0] is first[0]


def test_verification_catches_a_token_that_misses_a_change() -> None:
    cache = EntryCache(verify=True)
    a = Thing("a", 1)
    encode_all(cache, [a], token="same")
    a.size = 2
    with pytest.raises(StaleEntryError, match="list token"):
        encode_all(cache, [a], token="same")


def test_verification_is_on_under_test() -> None:
    assert EntryCache().verify is True  # tests/conftest.py sets HVB_SCHEMA_CHECK=strict
