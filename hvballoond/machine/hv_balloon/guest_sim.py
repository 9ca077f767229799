"""A scripted Hyper-V Dynamic Memory guest (balloon.md §5, rows 1-13).

hvballoond has no real guest OS. :class:`SimulatedDmGuest` plays the guest side of the DM
protocol over a :class:`~.channel.DmChannel`: it connects after a delay, negotiates a
version and reports its capabilities, gives pages back when asked (from the top of boot RAM
down by default), takes them back, accepts hot-added memory, and sends status reports. Every
behaviour is set by a frozen :class:`GuestPolicy`; misbehaviour for tests (hostile page
reports, raw protocol abuse, stalls) is either a policy knob or an explicit call
(:meth:`SimulatedDmGuest.inject`, :meth:`SimulatedDmGuest.request_open`).

The guest keeps its own deadlines on the VM's virtual clock (nanoseconds, passed in), so its
delays stop while the VM is paused. Randomness comes only from the ``random.Random`` it is
given.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from typing import Final

import structlog

from hvballoond.machine.hv_balloon import dm
from hvballoond.machine.hv_balloon.channel import ControlRequest, DmChannel
from hvballoond.machine.hv_balloon.page_ranges import PageRangeTree

__all__ = [
    "GuestLayout",
    "GuestPhase",
    "GuestPolicy",
    "HostileReports",
    "HotAddReply",
    "PageOrder",
    "SimulatedDmGuest",
    "guest_policy_from_options",
]

log = structlog.get_logger(__name__)

NS_PER_S: Final = 1_000_000_000
#: The most pages one protocol range can carry (24-bit count).
MAX_RANGE_PAGES: Final = (1 << 24) - 1


class HotAddReply(StrEnum):
    """How the guest answers DM_MEM_HOT_ADD_REQUEST (row 5)."""

    FULL = "full"  # accept every page
    PARTIAL = "partial"  # accept ``hot_add_pages`` pages of each request
    REJECT = "reject"  # result 0
    OVER = "over"  # claim ``hot_add_pages`` more pages than were asked for


class PageOrder(StrEnum):
    """Which pages the guest gives back first (row 6)."""

    TOP_DOWN = "top-down"  # from the top of boot RAM down, then hot-added memory
    HOT_ADDED_FIRST = "hot-added-first"  # hot-added memory first (top down), then boot RAM
    FRAGMENTED = "fragmented"  # every other block of ``fragment_pages`` first (worst case)
    RANDOM = "random"  # blocks of ``fragment_pages`` at random places (the guest's Random)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostileReports:
    """Page reports a broken or malicious guest adds to its balloon responses (row 11).

    Attributes:
        beyond_ram_pages: also report this many pages just past the top of all memory.
        rom_pages: also report this many pages of the BIOS ROM below 4 GiB.
        duplicate: report every range twice.
        extra_pages: give back this many pages more than requested.
        memdev_pages: also report this many pages at the start of the hot-add area
            (before it was hot-added, that memory is not the guest's to give).
    """

    beyond_ram_pages: int = 0
    rom_pages: int = 0
    duplicate: bool = False
    extra_pages: int = 0
    memdev_pages: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class GuestPolicy:
    """Everything the simulated guest does, with balloon.md §5's defaults.

    Times are virtual nanoseconds. ``None`` for ``connect_delay_ns`` means "never connect";
    for ``status_interval_ns``, "never report"; for ``stall_after``, "never stall".
    """

    connect_delay_ns: int | None = 2 * NS_PER_S
    versions: tuple[int, ...] = (dm.VERSION_WIN10,)
    balloon: bool = True
    hot_add: bool = True
    hot_add_alignment: int = 7
    hot_remove: bool = False
    min_page_cnt: int = 0
    max_page_number: int = 0
    hot_add_reply: HotAddReply = HotAddReply.FULL
    hot_add_pages: int = 0
    hot_add_delay_ns: int = 0
    balloon_chunk_ranges: int = 1024
    balloon_chunk_pages: int | None = None
    balloon_delay_ns: int = 0
    page_order: PageOrder = PageOrder.TOP_DOWN
    fragment_pages: int = 512
    unballoon_delay_ns: int = 0
    status_interval_ns: int | None = NS_PER_S
    status_avail_pages: int | None = None
    status_committed_pages: int | None = None
    status_committed_percent: int = 25
    honour_suppress: bool = True
    reboot_after_ns: int | None = None
    stall_after: int | None = None
    hostile: HostileReports = field(default_factory=HostileReports)


@dataclass(frozen=True, slots=True)
class GuestLayout:
    """What the guest knows about its memory at boot.

    Attributes:
        boot_ram: usable boot RAM as ``(start_pfn, count)`` ranges.
        rom: ROM areas (only used for hostile reports).
        memdev: the hv-balloon hot-add area, if any (only used for hostile reports).
    """

    boot_ram: tuple[tuple[int, int], ...]
    rom: tuple[tuple[int, int], ...] = ()
    memdev: tuple[int, int] | None = None

    @property
    def top_pfn(self) -> int:
        """The first page above all memory the guest knows of."""
        ends = [s + c for s, c in (*self.boot_ram, *self.rom)]
        if self.memdev is not None:
            ends.append(self.memdev[0] + self.memdev[1])
        return max(ends, default=0)


class GuestPhase(Enum):
    """Where the guest is in connecting to the host."""

    DISCONNECTED = "disconnected"  # waiting for its connect timer (or never connects)
    OPENING = "opening"  # asked to open the channel
    VERSION = "version"  # sent a version request
    CAPS = "caps"  # sent its capabilities
    READY = "ready"  # protocol running
    GAVE_UP = "gave-up"  # every version was refused, or the open was refused


class SimulatedDmGuest:
    """The guest end of the DM channel.

    Args:
        channel: the channel to the host.
        policy: what to do.
        layout: the guest's boot memory.
        rng: the only source of randomness.
        vnow_ns: boot time on the virtual clock (the connect timer starts here).
    """

    def __init__(
        self,
        *,
        channel: DmChannel,
        policy: GuestPolicy,
        layout: GuestLayout,
        rng: random.Random,
        vnow_ns: int,
    ) -> None:
        self.channel = channel
        self.policy = policy
        self.layout = layout
        self.rng = rng
        self.phase = GuestPhase.DISCONNECTED
        self.usable_boot = PageRangeTree()
        self.usable_added = PageRangeTree()
        self.hot_added = PageRangeTree()  # everything hot-added since boot
        self.ballooned = PageRangeTree()  # pages given to the host
        self.messages_read = 0
        self.suppress_status = False
        self.reset_requested = False
        self._version_index = 0
        self._trans_id = 0
        self._connect_at: int | None = None
        self._status_at: int | None = None
        self._reboot_at: int | None = None
        self._outbox: deque[tuple[int, bytes]] = deque()
        self._frag_cursor: dict[int, int] = {}
        self._boot(vnow_ns)

    # -- machine-facing ----------------------------------------------------------------------

    @property
    def visible_pages(self) -> int:
        """Pages the guest can use now: its RAM plus hot-added memory minus the balloon."""
        return self.usable_boot.page_count + self.usable_added.page_count

    @property
    def stalled(self) -> bool:
        """True once the guest stopped reading host messages (policy ``stall_after``)."""
        limit = self.policy.stall_after
        return limit is not None and self.messages_read >= limit

    def reboot(self, vnow_ns: int) -> None:
        """The VM was reset: start over from boot RAM and connect again (row 9)."""
        log.info("guest.dm.rebooted")
        self._boot(vnow_ns)

    def reload_vmbus(self, vnow_ns: int) -> None:
        """Unload and reload VMBus without a reset (row 10): hot-added memory stays."""
        log.info("guest.dm.vmbus_reloaded")
        self.channel.request(ControlRequest.VMBUS_RESET)
        self._reclaim_ballooned()
        self._disconnect(vnow_ns)

    def inject(self, data: bytes) -> None:
        """Send raw bytes to the host (protocol-abuse tests, row 12)."""
        self.channel.send_to_host(data)

    def request_open(self) -> None:
        """Ask to open the channel whatever the phase (open-in-wrong-state tests)."""
        self.channel.request(ControlRequest.OPEN)

    def close(self) -> None:
        """Close the DM channel (the guest driver unloads)."""
        self.channel.request(ControlRequest.CLOSE)
        self.phase = GuestPhase.GAVE_UP

    def take_reset_request(self) -> bool:
        """True once after the guest decided to reboot itself (policy ``reboot_after_ns``)."""
        wanted, self.reset_requested = self.reset_requested, False
        return wanted

    # -- GuestEndpoint -----------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        """The earliest timed action, in virtual ns."""
        times = [t for t in (self._connect_at, self._reboot_at) if t is not None]
        if not self.stalled:  # a stalled guest does nothing more on its own
            if self._status_at is not None:
                times.append(self._status_at)
            if self._outbox:
                times.append(self._outbox[0][0])
        return min(times, default=None)

    def on_open_result(self, accepted: bool, vnow_ns: int) -> None:
        """The host answered an open request."""
        if self.phase is not GuestPhase.OPENING:
            return  # an injected extra open: nothing to do
        if not accepted:
            self.phase = GuestPhase.GAVE_UP
            return
        self._version_index = 0
        self._send_version()

    def step(self, vnow_ns: int) -> bool:
        """Fire due timers, flush due replies and read host messages."""
        did = False
        if self._connect_at is not None and vnow_ns >= self._connect_at:
            self._connect_at = None
            self.phase = GuestPhase.OPENING
            self.channel.request(ControlRequest.OPEN)
            did = True
        if self._reboot_at is not None and vnow_ns >= self._reboot_at:
            self._reboot_at = None
            self.reset_requested = True
            did = True
        if self.stalled:
            return did
        if self._status_at is not None and vnow_ns >= self._status_at:
            self._send_status(vnow_ns)
            did = True
        while self._outbox and self._outbox[0][0] <= vnow_ns:
            self.channel.send_to_host(self._outbox.popleft()[1])
            did = True
        while not self.stalled and (data := self.channel.receive_from_host()) is not None:
            self.messages_read += 1
            self._handle(data, vnow_ns)
            did = True
        return did

    # -- internals -------------------------------------------------------------------------

    def _boot(self, vnow_ns: int) -> None:
        self.usable_boot = PageRangeTree(self.layout.boot_ram)
        self.usable_added = PageRangeTree()
        self.hot_added = PageRangeTree()
        self.ballooned = PageRangeTree()
        self.messages_read = 0
        self.reset_requested = False
        self._frag_cursor = {}
        reboot = self.policy.reboot_after_ns
        self._reboot_at = None if reboot is None else vnow_ns + reboot
        self._disconnect(vnow_ns)

    def _disconnect(self, vnow_ns: int) -> None:
        self.phase = GuestPhase.DISCONNECTED
        self.suppress_status = False
        self._status_at = None
        self._outbox.clear()
        delay = self.policy.connect_delay_ns
        self._connect_at = None if delay is None else vnow_ns + delay

    def _reclaim_ballooned(self) -> None:
        ballooned = list(self.ballooned)
        self.ballooned.clear()
        self._give_back_to_guest((r.start, r.count) for r in ballooned)

    def _give_back_to_guest(self, ranges: Iterable[tuple[int, int]]) -> None:
        boot: list[tuple[int, int]] = []
        added: list[tuple[int, int]] = []
        for start, count in ranges:
            for piece in self._split_added(start, count):
                (added if piece[2] else boot).append((piece[0], piece[1]))
        self.usable_boot.insert_many(boot)
        self.usable_added.insert_many(added)

    def _split_added(self, start: int, count: int) -> list[tuple[int, int, bool]]:
        """Cut a range into pieces inside (True) and outside (False) hot-added memory."""
        pieces: list[tuple[int, int, bool]] = []
        pos, end = start, start + count
        for area in self.hot_added:  # a handful of areas at most
            lo, hi = max(pos, area.start), min(end, area.end)
            if lo >= hi:
                continue
            if lo > pos:
                pieces.append((pos, lo - pos, False))
            pieces.append((lo, hi - lo, True))
            pos = hi
        if pos < end:
            pieces.append((pos, end - pos, False))
        return pieces

    def _next_trans_id(self) -> int:
        self._trans_id = (self._trans_id + 1) & 0xFFFF_FFFF
        return self._trans_id

    def _send_now(self, msg: dm.DmMessage) -> None:
        self.channel.send_to_host(dm.encode(msg))

    def _send_later(self, msg: dm.DmMessage, delay_ns: int, vnow_ns: int) -> None:
        data = dm.encode(msg)
        if delay_ns <= 0 and not self._outbox:
            self.channel.send_to_host(data)
        else:
            self._outbox.append((vnow_ns + delay_ns, data))

    def _send_version(self) -> None:
        versions = self.policy.versions
        if self._version_index >= len(versions):
            self.phase = GuestPhase.GAVE_UP
            return
        self.phase = GuestPhase.VERSION
        self._send_now(
            dm.VersionRequest(
                trans_id=self._next_trans_id(),
                version=versions[self._version_index],
                is_last_attempt=self._version_index == len(versions) - 1,
            )
        )

    def _send_caps(self) -> None:
        p = self.policy
        self.phase = GuestPhase.CAPS
        self._send_now(
            dm.CapsReport(
                trans_id=self._next_trans_id(),
                balloon=p.balloon,
                hot_add=p.hot_add,
                hot_add_alignment=p.hot_add_alignment,
                hot_remove=p.hot_remove,
                min_page_cnt=p.min_page_cnt,
                max_page_number=p.max_page_number,
            )
        )

    def _send_status(self, vnow_ns: int) -> None:
        p = self.policy
        interval = p.status_interval_ns
        self._status_at = None if interval is None else vnow_ns + interval
        if self.suppress_status and p.honour_suppress:
            return
        visible = self.visible_pages
        committed = p.status_committed_pages
        if committed is None:
            committed = visible * p.status_committed_percent // 100
        avail = p.status_avail_pages
        if avail is None:
            avail = max(visible - committed, 0)
        self._send_now(
            dm.StatusReport(
                trans_id=self._next_trans_id(), num_avail=avail, num_committed=committed
            )
        )

    def _handle(self, data: bytes, vnow_ns: int) -> None:
        try:
            msg = dm.decode(data)
        except dm.ShortMessageError:
            return
        match msg:
            case dm.VersionResponse() if self.phase is GuestPhase.VERSION:
                if msg.is_accepted:
                    self._send_caps()
                else:
                    self._version_index += 1
                    self._send_version()
            case dm.CapsResponse() if self.phase is GuestPhase.CAPS:
                self.phase = GuestPhase.READY
                self.suppress_status = msg.suppress_pressure_reports
                if self.policy.status_interval_ns is not None:
                    self._status_at = vnow_ns + self.policy.status_interval_ns
            case dm.BalloonRequest() if self.phase is GuestPhase.READY:
                self._on_balloon(msg.num_pages, vnow_ns)
            case dm.UnballoonRequest() if self.phase is GuestPhase.READY:
                self._on_unballoon(msg, vnow_ns)
            case dm.HotAddRequest() if self.phase is GuestPhase.READY:
                self._on_hot_add(msg, vnow_ns)
            case _:
                log.debug("guest.dm.ignored", message=type(msg).__name__)

    # -- balloon (row 6) ---------------------------------------------------------------------

    def _on_balloon(self, num_pages: int, vnow_ns: int) -> None:
        p = self.policy
        hostile = p.hostile
        spare = max(self.visible_pages - p.min_page_cnt, 0)
        if not spare:
            # At its minimum the guest says so with an empty response, hostile or not (else
            # host and guest would ping-pong forever over pages that change nothing).
            self._send_balloon_responses([], vnow_ns)
            return
        ranges = self._take_pages(min(num_pages + hostile.extra_pages, spare))
        self.ballooned.insert_many(ranges)
        ranges += self._hostile_ranges()
        if hostile.duplicate:
            ranges += ranges
        self._send_balloon_responses(ranges, vnow_ns)
        log.debug("guest.dm.ballooned", requested=num_pages, ranges=len(ranges))

    def _take_pages(self, pages: int) -> list[tuple[int, int]]:
        order = self.policy.page_order
        if order is PageOrder.HOT_ADDED_FIRST:
            trees = (self.usable_added, self.usable_boot)
        else:
            trees = (self.usable_boot, self.usable_added)
        taken: list[tuple[int, int]] = []
        if order is PageOrder.FRAGMENTED:
            for tree in trees:
                pages -= self._take_fragmented(tree, pages, taken)
        elif order is PageOrder.RANDOM:
            for tree in trees:
                pages -= self._take_random(tree, pages, taken)
        for tree in trees:
            while pages > 0:
                popped = tree.pop(min(pages, MAX_RANGE_PAGES))
                if popped is None:
                    break
                taken.append((popped.start, popped.count))
                pages -= popped.count
        return taken

    def _take_fragmented(
        self, tree: PageRangeTree, pages: int, taken: list[tuple[int, int]]
    ) -> int:
        """Take every other block of ``fragment_pages`` from the top of ``tree`` down.

        A cursor per tree remembers how far down the first pass got, so that each request
        continues where the previous one stopped; once it reaches the bottom, the blocks left
        over are taken top down like everything else.
        """
        block = max(self.policy.fragment_pages, 1)
        cursor = self._frag_cursor.get(id(tree), 1 << 64)
        chosen: list[tuple[int, int]] = []
        got = 0
        while got < pages:
            piece = tree.last_below(cursor)
            if piece is None:
                cursor = -1
                break
            hi = piece.end
            while hi > piece.start and got < pages:
                index = (hi - 1) // block
                lo = max(index * block, piece.start)
                if index % 2 == 0:
                    take = min(hi - lo, pages - got)
                    chosen.append((hi - take, take))
                    got += take
                    hi -= take
                else:
                    hi = lo
            cursor = hi
        self._frag_cursor[id(tree)] = cursor
        tree.remove_many(chosen)
        taken.extend(chosen)
        return got

    def _take_random(self, tree: PageRangeTree, pages: int, taken: list[tuple[int, int]]) -> int:
        """Take blocks of up to ``fragment_pages`` from random places in ``tree``."""
        block = max(self.policy.fragment_pages, 1)
        got = 0
        while got < pages and (bounds := tree.bounds()) is not None:
            piece = tree.last_below(self.rng.randrange(bounds[0], bounds[1]) + 1)
            if piece is None:
                piece = tree.last_below(bounds[1])
                assert piece is not None
            count = min(block, piece.count, pages - got)
            start = piece.end - count
            tree.remove_many([(start, count)])
            taken.append((start, count))
            got += count
        return got

    def _hostile_ranges(self) -> list[tuple[int, int]]:
        hostile = self.policy.hostile
        out: list[tuple[int, int]] = []
        if hostile.beyond_ram_pages:
            out.append((self.layout.top_pfn, hostile.beyond_ram_pages))
        if hostile.rom_pages and self.layout.rom:
            start, count = self.layout.rom[-1]
            out.append((start, min(count, hostile.rom_pages)))
        if hostile.memdev_pages and self.layout.memdev is not None:
            start, count = self.layout.memdev
            out.append((start, min(count, hostile.memdev_pages)))
        return out

    def _send_balloon_responses(self, ranges: list[tuple[int, int]], vnow_ns: int) -> None:
        p = self.policy
        per_response = max(p.balloon_chunk_ranges, 1)
        page_cap = p.balloon_chunk_pages
        chunks: list[list[tuple[int, int]]] = [[]]
        pages_in_chunk = 0
        for start, count in ranges:
            while count > 0:
                if len(chunks[-1]) >= per_response or (
                    page_cap is not None and pages_in_chunk >= page_cap
                ):
                    chunks.append([])
                    pages_in_chunk = 0
                piece = count if page_cap is None else min(count, page_cap - pages_in_chunk)
                chunks[-1].append((start + count - piece, piece))
                pages_in_chunk += piece
                count -= piece
        trans_id = self._next_trans_id()
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            self._send_later(
                dm.BalloonResponse.of_ranges(chunk, more_pages=more, trans_id=trans_id),
                p.balloon_delay_ns,
                vnow_ns,
            )

    # -- unballoon (row 7) and hot-add (row 5) -------------------------------------------------

    def _on_unballoon(self, msg: dm.UnballoonRequest, vnow_ns: int) -> None:
        returned = self.ballooned.remove_many(msg.ranges())
        self._give_back_to_guest((r.start, r.count) for r in returned)
        if not msg.more_pages:
            self._send_later(
                dm.UnballoonResponse(trans_id=msg.trans_id),
                self.policy.unballoon_delay_ns,
                vnow_ns,
            )

    def _on_hot_add(self, msg: dm.HotAddRequest, vnow_ns: int) -> None:
        p = self.policy
        start, count = msg.start, msg.count
        accept = count
        if p.max_page_number:
            accept = min(accept, max(p.max_page_number - start, 0))
        result = 1
        claimed = accept
        match p.hot_add_reply:
            case HotAddReply.FULL:
                pass
            case HotAddReply.PARTIAL:
                accept = claimed = min(accept, p.hot_add_pages)
            case HotAddReply.REJECT:
                accept = claimed = 0
                result = 0
            case HotAddReply.OVER:
                claimed = accept + p.hot_add_pages
        if accept:
            self.hot_added.insert(start, accept)
            self.usable_added.insert(start, accept)
        log.debug("guest.dm.hot_add.answered", start_pfn=start, count=count, accepted=accept)
        self._send_later(
            dm.HotAddResponse(trans_id=msg.trans_id, page_count=claimed, result=result),
            p.hot_add_delay_ns,
            vnow_ns,
        )


def guest_policy_from_options(
    *,
    connect_delay_s: float | None = None,
    hot_add: str | None = None,
    balloon_chunk: int | None = None,
    base: GuestPolicy | None = None,
) -> GuestPolicy:
    """A policy from ``hvb-guest`` options (schema/simulation.json HvbGuestProperties).

    Args:
        connect_delay_s: seconds from boot to connecting; negative: never connect.
        hot_add: ``full``, ``partial:N`` (pages per request), ``reject``, ``over:N`` (claim N
            pages more) or ``delay:S`` (accept everything after S seconds).
        balloon_chunk: the most ranges in one balloon response.
        base: the policy to start from (default: :class:`GuestPolicy`'s defaults).

    Raises:
        ValueError: a malformed ``hot_add`` or a negative chunk.
    """
    policy = base if base is not None else GuestPolicy()
    changes: dict[str, object] = {}
    if connect_delay_s is not None:
        changes["connect_delay_ns"] = (
            None if connect_delay_s < 0 else int(connect_delay_s * NS_PER_S)
        )
    if hot_add is not None:
        kind, _, arg = hot_add.partition(":")
        try:
            if kind == "full" and not arg:
                changes["hot_add_reply"] = HotAddReply.FULL
            elif kind == "reject" and not arg:
                changes["hot_add_reply"] = HotAddReply.REJECT
            elif kind in ("partial", "over") and int(arg) >= 0:
                changes["hot_add_reply"] = HotAddReply(kind)
                changes["hot_add_pages"] = int(arg)
            elif kind == "delay" and float(arg) >= 0:
                changes["hot_add_reply"] = HotAddReply.FULL
                changes["hot_add_delay_ns"] = int(float(arg) * NS_PER_S)
            else:
                raise ValueError(hot_add)
        except ValueError:
            raise ValueError(f"invalid hot-add reply {hot_add!r}") from None
    if balloon_chunk is not None:
        if balloon_chunk < 1:
            raise ValueError(f"invalid balloon chunk {balloon_chunk}")
        changes["balloon_chunk_ranges"] = balloon_chunk
    return replace(policy, **changes)  # type: ignore[arg-type]  # checked field by field
