"""Encoded entries of the big list queries, reused while what they show is unchanged.

``query-memory-devices`` and ``query-memdev`` answer with one entry per device or backend,
and encoding those entries is most of what the commands cost. The machine gives every such
object a *content key*: a value that changes whenever its entry would. The cache keeps, per
object, the key its entry was built from; an object whose key changed (or a new object)
misses and is rebuilt, so nothing needs invalidating. Each query replaces the map with the
entries it just used, so the cache never holds more than the live objects. A query may also
pass a *list token* that changes whenever any listed object, or the list itself, may have
changed: while it stays the same the previous reply's list is reused without visiting the
objects. Under test (strict
schema checking) every hit, and every reuse of a whole list, is rebuilt and compared, so a key
or token that misses a change fails the test that made it.
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
    """Encoded entries of one list query (one cache per query and machine).

    Subclasses name one query's cache so that ``machine.component(Subclass)`` keeps one per
    machine (components are built as ``cls(machine)``; the machine itself is not needed).
    """

    def __init__(self, machine: object = None, *, verify: bool | None = None) -> None:
        # id(owner) -> (owner, its content key, its entry); the owner is kept so that an id
        # reused by a later object can never match.
        self._entries: dict[int, tuple[object, Hashable, PreEncoded]] = {}
        self._last: tuple[Hashable, list[JSONValue]] | None = None
        self.verify = strict_checking_enabled() if verify is None else verify

    def encode_all(
        self,
        owners: Callable[[], Iterable[T]],
        key: Callable[[T], Hashable],
        build: Callable[[T], JSONObject],
        *,
        token: Hashable = None,
    ) -> list[JSONValue]:
        """The entries of ``owners()``, in order, each read-only and carrying its text.

        Args:
            owners: Gives the devices or backends the query lists.
            key: An owner's content key.
            build: Builds an owner's entry (members in schema order) on a miss.
            token: The list token (None: none, visit every object).

        Returns:
            The reply's list (a new list object).
        """
        last = self._last
        if token is not None and last is not None and last[0] == token:
            if self.verify:
                fresh = self._encode(owners(), key, build)
                if [e.text for e in fresh] != [e.text for e in last[1]]:  # type: ignore[union-attr]
                    raise StaleEntryError(f"list token {token!r} reused a changed list")
            return list(last[1])
        out = self._encode(owners(), key, build)
        self._last = None if token is None else (token, out)
        return list(out)

    def _encode(
        self,
        owners: Iterable[T],
        key: Callable[[T], Hashable],
        build: Callable[[T], JSONObject],
    ) -> list[JSONValue]:
        previous = self._entries
        current: dict[int, tuple[object, Hashable, PreEncoded]] = {}
        out: list[JSONValue] = []
        for owner in owners:
            content = key(owner)
            ident = id(owner)
            cached = previous.get(ident)
            if cached is None or cached[0] is not owner or cached[1] != content:
                cached = (owner, content, PreEncoded(build(owner)))
            elif self.verify:
                _check_fresh(cached[2], PreEncoded(build(owner)), owner, content)
            current[ident] = cached
            out.append(cached[2])
        self._entries = current
        return out


def _check_fresh(cached: PreEncoded, fresh: PreEncoded, owner: object, key: Hashable) -> None:
    if fresh != cached or fresh.text != cached.text:
        raise StaleEntryError(
            f"{type(owner).__name__} content key {key!r} gave {cached.text}, "
            f"a fresh entry is {fresh.text}"
        )
