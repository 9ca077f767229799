"""The host side of the Hyper-V Dynamic Memory protocol: QEMU's hv-balloon as a state machine.

balloon.md §3 in Python, following ``hw/hyperv/hv-balloon.c``:

* :class:`HostState` has QEMU's state numbers (they appear in warning texts);
  :meth:`HvBalloonHost._enter` is the only writer of the state.
* :meth:`HvBalloonHost._event_loop` is QEMU's loop (§3.4): run the current state's action,
  read guest messages until one changes the state, repeat while anything happened.
* The user sets the *logical VM size* (:meth:`set_target`); in IDLE the host inflates
  (§3.7) or deflates and then hot-adds from its memory backend (§3.8).
* Returned pages are classified with the machine's RAM map and kept in page-range trees
  (§3.9, §3.10); ``actual`` comes from the counters (§3.2).

Guest misbehaviour is never an exception: it is logged with QEMU's ``warn_report`` text
(logger event ``hv_balloon.warn_report``, key ``text``) and otherwise ignored (§3.13).
Time is the guest's virtual clock in nanoseconds, passed in by the caller.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from operator import add
from typing import Final, Protocol

import structlog

from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import HvBalloonStatusReported, MachineEvent
from hvballoond.machine.hv_balloon import dm
from hvballoond.machine.hv_balloon.channel import DmChannel
from hvballoond.machine.hv_balloon.our_range import MemslotMapper, OurRange
from hvballoond.machine.hv_balloon.page_ranges import PageRangeTree
from hvballoond.machine.units import PAGE_SIZE, U64_MAX, MiB, align_down

__all__ = [
    "BALLOON_CHUNK_PAGES",
    "HOT_ADD_CHUNK_PAGES",
    "POST_INIT_WAIT_NS",
    "Caps",
    "Classifier",
    "HostState",
    "HvBalloonHost",
    "MemdevArea",
    "PageKind",
    "RamMap",
]

log = structlog.get_logger(__name__)

PAGE_SHIFT: Final = 12
#: Post-boot delay before the first DM request (50 s of virtual time, §3.4).
POST_INIT_WAIT_NS: Final = 50 * 1_000_000_000
#: Most pages asked for in one DM_BALLOON_REQUEST: what Windows returns at most (§3.7).
BALLOON_CHUNK_PAGES: Final = 585728
#: 2 GiB in pages: the unballoon chunk and the default hot-add chunk (§3.8).
HOT_ADD_CHUNK_PAGES: Final = (2048 * MiB) // PAGE_SIZE
# A guest reporting a long stretch of absent pages would get one warning per page from
# QEMU; the log gets the first ones of each response and a count of the rest.
_PAGE_WARNING_LIMIT: Final = 32
_START_MASK: Final = (1 << 40) - 1
# A DM_UNBALLOON_REQUEST with its single range.
_UNBALLOON_SIZE: Final = 24


class HostState(IntEnum):
    """hv-balloon.c ``State``; the numbers show in ``unexpected ... in %d state``."""

    WAIT_RESET = 1
    POST_RESET_CLOSED = 2
    VERSION = 3
    CAPS = 4
    POST_INIT_WAIT = 5
    IDLE = 6
    BALLOON_POSTING = 7
    BALLOON_RB_WAIT = 8
    BALLOON_REPLY_WAIT = 9
    UNBALLOON_POSTING = 10
    UNBALLOON_RB_WAIT = 11
    UNBALLOON_REPLY_WAIT = 12
    HOT_ADD_SETUP = 13
    HOT_ADD_RB_WAIT = 14
    HOT_ADD_POSTING = 15
    HOT_ADD_REPLY_WAIT = 16


# Guest message type -> the only state in which it is handled (§3.13 "wrong state").
# DM_STATUS_REPORT is handled in every state in which messages are read at all.
EXPECTED_IN: Final[dict[dm.MessageType, HostState]] = {
    dm.MessageType.VERSION_REQUEST: HostState.VERSION,
    dm.MessageType.CAPABILITIES_REPORT: HostState.CAPS,
    dm.MessageType.BALLOON_RESPONSE: HostState.BALLOON_REPLY_WAIT,
    dm.MessageType.UNBALLOON_RESPONSE: HostState.UNBALLOON_REPLY_WAIT,
    dm.MessageType.MEM_HOT_ADD_RESPONSE: HostState.HOT_ADD_REPLY_WAIT,
}

# The names QEMU prints for each message (note DM_HOT_ADD_RESPONSE, without MEM_).
_WARN_NAME: Final[dict[dm.MessageType, str]] = {
    dm.MessageType.VERSION_REQUEST: "DM_VERSION_REQUEST",
    dm.MessageType.CAPABILITIES_REPORT: "DM_CAPABILITIES_REPORT",
    dm.MessageType.STATUS_REPORT: "DM_STATUS_REPORT",
    dm.MessageType.BALLOON_RESPONSE: "DM_BALLOON_RESPONSE",
    dm.MessageType.UNBALLOON_RESPONSE: "DM_UNBALLOON_RESPONSE",
    dm.MessageType.MEM_HOT_ADD_RESPONSE: "DM_HOT_ADD_RESPONSE",
}

# The guest -> host messages the host handles, by type number; anything else is "unknown".
_HANDLED: Final[dict[int, dm.MessageType]] = {
    int(t): t for t in (*EXPECTED_IN, dm.MessageType.STATUS_REPORT)
}

# Messages are only read once the guest has opened the channel.
_NOT_READING: Final = frozenset({HostState.WAIT_RESET, HostState.POST_RESET_CLOSED})


class PageKind(Enum):
    """What lies at a guest page, as far as returned pages are concerned (§3.9)."""

    RAM = "ram"  # ordinary RAM: the page is freed on the host ("both")
    NOT_RAM = "not-ram"  # ROM, ROMD or MMIO
    SUBPAGE = "subpage"  # a section smaller than a page
    NOT_FOUND = "not-found"  # nothing is mapped there


Classifier = Callable[[int], tuple[PageKind, int, int]]


class RamMap(Protocol):
    """The guest-physical map the host classifies returned pages with."""

    def classifier(self) -> Classifier:
        """A function valid until the map changes (the host takes one per guest response).

        It gives the kind of page ``pfn`` and the ``[start, end)`` pages of the span of that
        kind containing it (for NOT_FOUND, the gap up to the next mapped section).
        """
        ...


@dataclass(frozen=True, slots=True)
class MemdevArea:
    """Where the device's memory backend sits, for the our range (§3.8)."""

    start_pfn: int
    count: int
    mapper: MemslotMapper | None = None


@dataclass(frozen=True, slots=True)
class Caps:
    """The capabilities the guest reported (``union dm_caps``, plus its page limits)."""

    balloon: bool = False
    hot_add: bool = False
    hot_add_alignment: int = 0
    hot_remove: bool = False
    min_page_cnt: int = 0
    max_page_number: int = 0

    @property
    def alignment_pages(self) -> int:
        """``2^hot_add_alignment`` MiB in pages."""
        return (1 << self.hot_add_alignment) * (MiB // PAGE_SIZE)


def _warn(text: str, **kw: object) -> None:
    # QEMU warn_report(); the text is QEMU's, the keys are extras for our log readers.
    log.warning("hv_balloon.warn_report", text=text, **kw)


def _error(text: str) -> None:
    # QEMU error_report() (guest-caused conditions only; never our own bugs).
    log.warning("hv_balloon.error_report", text=text)


def _to_int64(value: int) -> int:
    value &= U64_MAX
    return value - (1 << 64) if value >= 1 << 63 else value


class _PageWarnings:
    """QEMU's per-page warnings for returned pages that are not ordinary RAM, with a cap."""

    __slots__ = ("budget", "suppressed")

    def __init__(self) -> None:
        self.budget = _PAGE_WARNING_LIMIT
        self.suppressed = 0

    def add(self, kind: PageKind, pfn: int, run_end: int) -> None:
        # One warning per absent page, one per section otherwise.
        pages = range(pfn, run_end) if kind is PageKind.NOT_FOUND else range(pfn, pfn + 1)
        for page in pages:
            if not self.budget:
                self.suppressed += run_end - page if kind is PageKind.NOT_FOUND else 1
                return
            self.budget -= 1
            match kind:
                case PageKind.NOT_FOUND:
                    _warn(f"guest reported removed page {page} not found in RAM")
                case PageKind.SUBPAGE:
                    _warn(f"guest reported removed page {page} in a section smaller than page size")
                case _:
                    _warn(
                        f"guest reported removed page {page} in a section that is not an "
                        "ordinary RAM"
                    )

    def finish(self) -> None:
        if self.suppressed:
            log.warning("hv_balloon.warn_report.suppressed", count=self.suppressed)


class HvBalloonHost:
    """The DM protocol host of one hv-balloon device.

    Args:
        channel: the channel to the guest.
        ram_map: classifies returned pages.
        boot_ram_bytes: ``ram_size`` plus the realized plain pc-dimms, read when needed
            (DIMMs come and go).
        memdev: the backend to hot-add from, None without ``memdev``.
        status_report: the ``status-report`` property.
        post_init_wait_ns: the post-caps delay (50 s; tests may shorten it).
        v3_status_spelling: report status with the v3 member name ``commited``.
    """

    def __init__(
        self,
        *,
        channel: DmChannel,
        ram_map: RamMap,
        boot_ram_bytes: Callable[[], int],
        memdev: MemdevArea | None = None,
        status_report: bool = False,
        post_init_wait_ns: int = POST_INIT_WAIT_NS,
        v3_status_spelling: bool = False,
    ) -> None:
        self.channel = channel
        self._ram_map = ram_map
        self._boot_ram_bytes = boot_ram_bytes
        self.memdev = memdev
        self.status_report_enabled = status_report
        self.post_init_wait_ns = post_init_wait_ns
        self.v3_status_spelling = v3_status_spelling

        self.state = HostState.WAIT_RESET
        #: Bumped at every state change and every message read (the link's progress test).
        self.progress = 0
        self.version = 0
        self.caps = Caps()
        self.trans_id = 0
        self.post_init_deadline_ns: int | None = None

        self.status_received = False
        self.status_committed = 0
        self.status_available = 0

        self.target = 0
        self.target_changed = False
        # Parameters of the operation in progress (QEMU keeps them in one union).
        self.balloon_diff = 0
        self.unballoon_diff = 0
        self.hot_add_diff = 0
        self._ha_range: OurRange | None = None
        self._ha_start = 0
        self._ha_count = 0
        self._ha_current = 0

        #: The hot-add area of ``memdev``, created at the first hot-add after a system reset.
        self.our_range: OurRange | None = None
        #: v3 design: one hot-add area per backend added with hv-balloon-add-memory.
        self.v3_ranges: list[OurRange] = []
        self._v3_pending: deque[OurRange] = deque()

        self.removed_guest = PageRangeTree()
        self.removed_both = PageRangeTree()
        self.removed_guest_ctr = 0
        self.removed_both_ctr = 0

        self._events: list[MachineEvent] = []

    # ================================================================ totals (§3.2)

    def _our_ranges(self) -> list[OurRange]:
        ranges = [] if self.our_range is None else [self.our_range]
        return ranges + self.v3_ranges

    def total_ram_pages(self) -> int:
        """``T``: boot pages plus every hot-added page (saturating at 2^64 - 1)."""
        total = self._boot_ram_bytes() >> PAGE_SHIFT
        for our in self._our_ranges():
            total += our.added
        return min(total, U64_MAX)

    def total_removed_pages(self, total: int | None = None) -> int:
        """``R``: pages removed by either side, capped at ``T``."""
        total = self.total_ram_pages() if total is None else total
        return min(self.removed_guest_ctr + self.removed_both_ctr, total)

    def current_pages(self) -> int:
        """``T - R``: the size target decisions compare with."""
        total = self.total_ram_pages()
        return total - self.total_removed_pages(total)

    def actual_bytes(self) -> int:
        """``query-balloon`` ``actual``: ``(T - Rb) * 4096`` with C's int64 wrap-around."""
        return _to_int64(((self.total_ram_pages() - self.removed_both_ctr) & U64_MAX) << 12)

    # ================================================================ entry points

    def set_target(self, value_bytes: int, vnow_ns: int) -> list[MachineEvent]:
        """The balloon handler's ``to_target`` (§3.5): a new logical VM size."""
        pages = (value_bytes & U64_MAX) >> PAGE_SHIFT
        if not pages:
            return []  # below one page: ignored, nothing stored
        # Always flagged, even when unchanged: re-issuing a target retries it.
        self.target = pages
        self.target_changed = True
        return self._run(vnow_ns)

    def notify(self, vnow_ns: int) -> list[MachineEvent]:
        """Guest messages arrived (VMBus ``chan_notify_cb``)."""
        return self._run(vnow_ns)

    def open_channel(self, vnow_ns: int) -> list[MachineEvent]:
        """The guest opens the DM channel; sets ``channel.is_open`` when accepted."""
        if self.state is not HostState.POST_RESET_CLOSED:
            _warn(f"guest trying to open a DM channel in invalid {self.state.value} state")
            return []
        self.channel.is_open = True
        self._enter(HostState.VERSION, vnow_ns)
        return self._run(vnow_ns)

    def close_channel(self, vnow_ns: int) -> list[MachineEvent]:
        """The DM channel closes (guest request, or the first half of a device reset)."""
        if not self.channel.is_open:
            return []
        self.channel.is_open = False
        self.channel.drop_all()
        self.status_received = False  # never report stale data
        self._enter(HostState.WAIT_RESET, vnow_ns)
        return self._run(vnow_ns)

    def device_reset(self, vnow_ns: int) -> list[MachineEvent]:
        """VMBus device reset (system reset, or the guest unloading VMBus) (§3.11).

        Forgets returned pages and counters; hot-added memory stays (Windows keeps using it
        until a full restart).
        """
        events = self.close_channel(vnow_ns)
        if self.state is HostState.POST_RESET_CLOSED:
            return events
        for our in self._our_ranges():
            our.clear_removed_trees()
        self.removed_guest.clear()
        self.removed_both.clear()
        self.trans_id = 0
        self.removed_guest_ctr = 0
        self.removed_both_ctr = 0
        self._enter(HostState.POST_RESET_CLOSED, vnow_ns)
        return events + self._run(vnow_ns)

    def system_reset(self) -> list[OurRange]:
        """The system-reset half of a reboot: drop every hot-add area (§3.11).

        Returns:
            The v3 per-backend areas that were dropped, in the order they were added.
        """
        if self.our_range is not None:
            self.our_range.free()
            self.our_range = None
        dropped = self.v3_ranges
        for our in dropped:
            our.free()
        self.v3_ranges = []
        self._v3_pending.clear()
        return dropped

    def next_deadline(self) -> int | None:
        """When the post-init timer fires (virtual ns), or None."""
        return self.post_init_deadline_ns

    def advance(self, vnow_ns: int) -> list[MachineEvent]:
        """Fire the post-init timer if it is due."""
        deadline = self.post_init_deadline_ns
        if deadline is None or vnow_ns < deadline:
            return []
        self.post_init_deadline_ns = None
        if self.state is not HostState.POST_INIT_WAIT:
            return []
        self._enter(HostState.IDLE, vnow_ns)
        return self._run(vnow_ns)

    def status(self) -> tuple[int, int]:
        """``query-hv-balloon-status-report``: (committed, available) in bytes.

        Raises:
            MachineError: reporting is off, or no report arrived since the channel opened.
        """
        if not self.status_report_enabled:
            raise MachineError("guest memory status reporting not enabled")
        if not self.status_received:
            raise MachineError("no guest memory status report received yet")
        return self.status_committed, self.status_available

    # -- v3 design (balloon.md §4) ---------------------------------------------------------

    @property
    def guest_attached(self) -> bool:
        """The guest has finished version and capability negotiation."""
        return self.state >= HostState.POST_INIT_WAIT

    def returned_before(self, start_pfn: int, count: int) -> bool:
        """True if the guest already "returned" pages in this span (not hot-added yet)."""
        return self.removed_guest.intersects_any(start_pfn, count) or (
            self.removed_both.intersects_any(start_pfn, count)
        )

    def add_v3_range(self, our: OurRange, vnow_ns: int) -> list[MachineEvent]:
        """Hot-add a whole backend (``hv-balloon-add-memory``) as soon as the host is idle."""
        self.v3_ranges.append(our)
        self._v3_pending.append(our)
        return self._run(vnow_ns)

    def remove_v3_range(self, our: OurRange) -> None:
        """Forget a v3 area (its device is being removed)."""
        if our in self.v3_ranges:
            self.v3_ranges.remove(our)
        if our in self._v3_pending:
            self._v3_pending.remove(our)

    # ================================================================ the event loop

    def _run(self, vnow_ns: int) -> list[MachineEvent]:
        self._event_loop(vnow_ns)
        events, self._events = self._events, []
        return events

    def _enter(self, new: HostState, vnow_ns: int) -> bool:
        """Switch to ``new``; False if already there. The only writer of :attr:`state`."""
        old = self.state
        if new is old:
            return False
        self.state = new
        self.progress += 1
        log.debug("hv_balloon.state.changed", state_old=old.name, state_new=new.name)
        if new is HostState.POST_INIT_WAIT:
            self.post_init_deadline_ns = vnow_ns + self.post_init_wait_ns
        elif new is HostState.WAIT_RESET:
            self.post_init_deadline_ns = None
        return True

    def _event_loop(self, vnow_ns: int) -> None:
        # hv_balloon_event_loop(): the state action, then messages, while anything moves.
        while True:
            new = self._state_action()
            state_repeat = new is not None and self._enter(new, vnow_ns)
            recv_repeat = self._receive(vnow_ns)
            if not (state_repeat or recv_repeat):
                return

    def _receive(self, vnow_ns: int) -> bool:
        """Read guest messages until one changes the state; True if anything moved."""
        if self.state in _NOT_READING:
            return False
        any_read = False
        new: HostState | None = None
        while (data := self.channel.receive_from_guest()) is not None:
            any_read = True
            self.progress += 1
            new = self._handle_message(data, vnow_ns)
            if new is not None:
                break
        changed = new is not None and self._enter(new, vnow_ns)
        return changed or any_read

    # ================================================================ state actions

    def _state_action(self) -> HostState | None:
        match self.state:
            case HostState.IDLE:
                return self._idle()
            case HostState.BALLOON_RB_WAIT:
                return self._rb_wait(16, HostState.BALLOON_POSTING)
            case HostState.BALLOON_POSTING:
                return self._balloon_posting()
            case HostState.UNBALLOON_RB_WAIT:
                return self._rb_wait(_UNBALLOON_SIZE, HostState.UNBALLOON_POSTING)
            case HostState.UNBALLOON_POSTING:
                return self._unballoon_posting()
            case HostState.HOT_ADD_SETUP:
                return self._hot_add_setup()
            case HostState.HOT_ADD_RB_WAIT:
                return self._rb_wait(24, HostState.HOT_ADD_POSTING)
            case HostState.HOT_ADD_POSTING:
                return self._hot_add_posting()
            case _:
                return None

    def _rb_wait(self, size: int, posting: HostState) -> HostState | None:
        return posting if self.channel.has_room(size) else None

    def _send(self, msg: dm.DmMessage) -> bool:
        data = dm.encode(msg)
        if not self.channel.has_room(len(data)):
            return False  # hv_balloon_send_packet(): the reply is lost when the ring is full
        self.channel.send_to_guest(data)
        return True

    def _idle(self) -> HostState | None:
        if self.target_changed:
            self.target_changed = False
            new = self._process_target()
            if new is not None:
                return new
        if self._v3_pending and self.caps.hot_add:
            our = self._v3_pending.popleft()
            self._ha_range = our
            self.hot_add_diff = our.remaining
            if self.hot_add_diff > 0:
                return HostState.HOT_ADD_SETUP
        return None

    def _process_target(self) -> HostState | None:
        """§3.6: deflate first, then hot-add; or inflate."""
        total = self.total_ram_pages()
        removed = self.total_removed_pages(total)
        current = total - removed
        if self.target > current:
            diff = self.target - current
            self.unballoon_diff = min(diff, removed)
            self.hot_add_diff = diff - self.unballoon_diff if self.caps.hot_add else 0
            self._ha_range = None
            if self.unballoon_diff > 0:
                assert self.caps.balloon, "pages were ballooned without the balloon capability"
                return HostState.UNBALLOON_RB_WAIT
            if self.hot_add_diff > 0:
                return HostState.HOT_ADD_SETUP
        elif self.caps.balloon and self.target < current:
            self.balloon_diff = current - self.target
            return HostState.BALLOON_RB_WAIT
        return None

    def _balloon_posting(self) -> HostState:
        assert self.balloon_diff > 0
        self._send(
            dm.BalloonRequest(
                trans_id=self.trans_id, num_pages=min(self.balloon_diff, BALLOON_CHUNK_PAGES)
            )
        )
        return HostState.BALLOON_REPLY_WAIT

    def _unballoon_source(self) -> tuple[PageRangeTree, bool] | None:
        """The tree to hand pages back from, and whether it counts as "both" (§3.8)."""
        if self.removed_guest:
            return self.removed_guest, False
        if self.removed_both:
            return self.removed_both, True
        for our in self._our_ranges():
            if our.removed_guest:
                return our.removed_guest, False
            if our.removed_both:
                return our.removed_both, True
        return None

    def _unballoon_posting(self) -> HostState | None:
        assert self.unballoon_diff > 0
        channel = self.channel
        while True:
            source = self._unballoon_source()
            if source is None:
                # Cannot happen with consistent counters; QEMU just stays put.
                _error("trying to unballoon but nothing seems to be ballooned")
                return None
            tree, both = source
            # QEMU posts one request per pass through UNBALLOON_RB_WAIT -> UNBALLOON_POSTING
            # and reads guest messages in between. While the ring has room and no guest
            # message is waiting, those passes change nothing, so post as many requests as
            # fit at once (a fragmented balloon is deflated one range per request). With a
            # message waiting, post one and let the loop read it, exactly as QEMU would.
            fit = 1 if channel.host_has_input else max(channel.free_bytes // _UNBALLOON_SIZE, 1)
            popped = tree.pop_many(self.unballoon_diff, fit, HOT_ADD_CHUNK_PAGES)
            assert popped
            pages = sum(count for _, count in popped)
            # The counters drop when the requests are sent, not when the guest answers.
            if both:
                self.removed_both_ctr -= pages
            else:
                self.removed_guest_ctr -= pages
            self.unballoon_diff -= pages
            requests = dm.encode_unballoon_requests(
                self.trans_id, popped, more_after_last=self.unballoon_diff > 0
            )
            channel.send_many_to_guest(requests)
            log.debug("hv_balloon.unballoon.posted", requests=len(requests), count_pages=pages)
            if not self.unballoon_diff:
                return HostState.UNBALLOON_REPLY_WAIT
            if not channel.has_room(_UNBALLOON_SIZE) or channel.host_has_input:
                return HostState.UNBALLOON_RB_WAIT

    def _ensure_our_range(self) -> OurRange | None:
        """hv_balloon_our_range_ensure(): create the memdev's hot-add area if needed."""
        if self.our_range is not None:
            return self.our_range
        if self.memdev is None:
            return None
        start, count = self.memdev.start_pfn, self.memdev.count
        if self.removed_guest.intersects_any(start, count) or self.removed_both.intersects_any(
            start, count
        ):
            _error(
                "some parts of the memory backend were already returned by the guest. "
                "this should not happen, please reboot the guest and try again"
            )
            return None
        self.our_range = OurRange(start=start, count=count, mapper=self.memdev.mapper)
        log.info("hv_balloon.our_range.created", start_pfn=start, count_pages=count)
        return self.our_range

    def _hot_add_setup(self) -> HostState:
        assert self.hot_add_diff > 0
        our = self._ha_range if self._ha_range is not None else self._ensure_our_range()
        if our is None:
            return HostState.IDLE
        self._ha_range = our
        align = self.caps.alignment_pages
        self._ha_start = our.remaining_start
        self._ha_count = align_down(min(our.remaining, self.hot_add_diff), align)
        if self._ha_count == 0:
            return HostState.IDLE  # a remainder below the alignment is dropped
        our.ensure_mapped_additional(self._ha_count)
        return HostState.HOT_ADD_RB_WAIT

    def _hot_add_posting(self) -> HostState:
        assert self._ha_count > 0
        align = self.caps.alignment_pages
        # The alignment overrides the 2 GiB chunk when it is larger.
        chunk = align if align >= HOT_ADD_CHUNK_PAGES else align_down(HOT_ADD_CHUNK_PAGES, align)
        self._ha_current = min(self._ha_count, chunk)
        self._send(
            dm.HotAddRequest(
                trans_id=self.trans_id,
                start=self._ha_start,
                count=self._ha_current,
                region_start=self._ha_start,
                region_count=self._ha_current,
            )
        )
        return HostState.HOT_ADD_REPLY_WAIT

    # ================================================================ guest messages

    def _handle_message(self, data: bytes, vnow_ns: int) -> HostState | None:
        header = dm.parse_header(data)
        if header is None:
            return None  # shorter than a header: dropped silently
        mtype = _HANDLED.get(header.type)
        if mtype is None:
            _warn(f"unknown DM message {header.type}")
            return None
        name = _WARN_NAME[mtype]
        expected = EXPECTED_IN.get(mtype)
        if expected is not None and self.state is not expected:
            _warn(f"unexpected {name} in {self.state.value} state")
            return None
        need = dm.MIN_SIZE[mtype]
        if len(data) < need:
            _warn(f"{name} message too short ({len(data)} vs {need}), ignoring")
            return None
        msg = dm.decode(data)
        match msg:
            case dm.VersionRequest():
                return self._on_version(msg)
            case dm.CapsReport():
                return self._on_caps(msg)
            case dm.StatusReport():
                self._on_status(msg)
                return None
            case dm.BalloonResponse():
                return self._on_balloon_response(msg, len(data))
            case dm.UnballoonResponse():
                return self._on_unballoon_response()
            case dm.HotAddResponse():
                return self._on_hot_add_response(msg)
            case _:
                raise AssertionError(f"unhandled {msg!r}")

    def _on_version(self, msg: dm.VersionRequest) -> HostState | None:
        accepted = dm.is_supported_version(msg.version)
        self._send(dm.VersionResponse(trans_id=msg.trans_id, is_accepted=accepted))
        if not accepted:
            return None  # the guest may retry with another version
        self.version = msg.version
        return HostState.CAPS

    def _on_caps(self, msg: dm.CapsReport) -> HostState:
        self.caps = Caps(
            balloon=msg.balloon,
            hot_add=msg.hot_add,
            hot_add_alignment=msg.hot_add_alignment,
            hot_remove=msg.hot_remove,
            min_page_cnt=msg.min_page_cnt,
            max_page_number=msg.max_page_number,
        )
        self._send(
            dm.CapsResponse(
                trans_id=msg.trans_id,
                is_accepted=True,
                hot_remove=True,
                suppress_pressure_reports=not self.status_report_enabled,
            )
        )
        return HostState.POST_INIT_WAIT  # _enter() arms the post-init timer

    def _on_status(self, msg: dm.StatusReport) -> None:
        if not self.status_report_enabled:
            return
        self.status_committed = (msg.num_committed * PAGE_SIZE) & U64_MAX
        self.status_available = (msg.num_avail * PAGE_SIZE) & U64_MAX
        self.status_received = True
        self._events.append(
            HvBalloonStatusReported(
                committed=self.status_committed,
                available=self.status_available,
                v3_spelling=self.v3_status_spelling,
            )
        )

    def _on_unballoon_response(self) -> HostState:
        self.trans_id += 1
        if self.hot_add_diff > 0:
            assert self.caps.hot_add
            return HostState.HOT_ADD_SETUP
        return HostState.IDLE

    def _on_hot_add_response(self, msg: dm.HotAddResponse) -> HostState:
        our = self._ha_range
        assert our is not None, "a hot-add is in progress"
        self.trans_id += 1
        page_count = msg.page_count
        if msg.result:
            if page_count > self._ha_current:
                _warn(
                    "DM_HOT_ADD_RESPONSE page count higher than requested "
                    f"({page_count} vs {self._ha_current})"
                )
                page_count = self._ha_current
            our.mark_added(page_count)
            self._ha_start += page_count
            self._ha_count -= page_count
        if not msg.result or page_count < self._ha_current:
            # Partly added: the guest hit a limit, so the rest is written off until reset.
            our.mark_remaining_unusable()
            return HostState.IDLE
        return HostState.HOT_ADD_RB_WAIT if self._ha_count > 0 else HostState.IDLE

    def _on_balloon_response(self, msg: dm.BalloonResponse, length: int) -> HostState | None:
        count = msg.declared_count
        if length < 16 + 8 * count:
            _warn("DM_BALLOON_RESPONSE too short for the range count")
            return None
        if count == 0:
            self.balloon_diff = 0  # the guest is at its minimum size
        else:
            self._handle_removed(msg.packed_ranges)
            if msg.more_pages:
                return None
        self.trans_id += 1  # the end of the balloon transaction
        return HostState.BALLOON_RB_WAIT if self.balloon_diff > 0 else HostState.IDLE

    # ================================================================ returned pages (§3.9)

    def _handle_removed(self, packed_ranges: Sequence[int]) -> None:
        classify = self._ram_map.classifier()
        removed = self._commit_all_ram(packed_ranges, classify)
        if removed is None:
            both_runs, guest_runs = self._classify(packed_ranges, classify)
            removed = self._commit(both_runs, both=True) + self._commit(guest_runs, both=False)
        # ("Both" pages would now be discarded on the host; we hold no guest memory.)
        if removed > self.balloon_diff:
            _warn(
                "guest reported more pages removed than currently pending "
                f"({removed} vs {self.balloon_diff})"
            )
            self.balloon_diff = 0
        else:
            self.balloon_diff -= removed

    def _commit_all_ram(self, packed_ranges: Sequence[int], classify: Classifier) -> int | None:
        """Fast path: every range lies in one span of ordinary RAM outside any our range.

        That is the usual response (a guest gives back boot RAM), and then the whole response
        goes to the global "both" tree in one batch. Returns the new pages, or None when the
        response needs the page-by-page classification.
        """
        starts = [v & _START_MASK for v in packed_ranges]
        counts = [v >> 40 for v in packed_ranges]
        lo = min(starts)
        hi = max(map(add, starts, counts))
        kind, span_lo, span_hi = classify(lo)
        if kind is not PageKind.RAM or lo < span_lo or hi > span_hi:
            return None
        for our in self._our_ranges():
            if our.start < hi and lo < our.end:
                return None
        added = sum(counts) - self.removed_both.insert_arrays(starts, counts)
        self.removed_both_ctr += added
        return added

    def _classify(
        self, packed_ranges: Sequence[int], classify: Classifier
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Split reported ranges into runs of "both" and "guest" pages.

        Consecutive runs of one class that touch are joined, as QEMU's pending ranges are;
        overlaps are left for the trees to count as duplicates.
        """
        both: list[tuple[int, int]] = []
        guest: list[tuple[int, int]] = []
        warnings = _PageWarnings()
        ram_lo = ram_hi = -1  # the last RAM span seen: most ranges fall inside it
        for packed in packed_ranges:
            pfn = packed & _START_MASK
            end = pfn + (packed >> 40)
            while pfn < end:
                if ram_lo <= pfn and end <= ram_hi:
                    run_end, runs = end, both
                else:
                    kind, lo, hi = classify(pfn)
                    run_end = pfn + 1 if kind is PageKind.SUBPAGE else min(hi, end)
                    if kind is PageKind.RAM:
                        ram_lo, ram_hi = lo, hi
                        runs = both
                    else:
                        warnings.add(kind, pfn, run_end)
                        runs = guest
                if runs and runs[-1][0] + runs[-1][1] == pfn:
                    start, count = runs[-1]
                    runs[-1] = (start, count + run_end - pfn)
                else:
                    runs.append((pfn, run_end - pfn))
                pfn = run_end
        warnings.finish()
        return both, guest

    def _commit(self, runs: list[tuple[int, int]], *, both: bool) -> int:
        """Store runs of one class in the right trees; return the pages that were new."""
        if not runs:
            return 0
        global_tree = self.removed_both if both else self.removed_guest
        ours = self._our_ranges()
        if not ours:
            added = self._insert(global_tree, runs)
        else:
            outside: list[tuple[int, int]] = []
            inside: dict[int, list[tuple[int, int]]] = {}
            for start, count in runs:
                self._split_by_our_ranges(start, start + count, ours, outside, inside)
            added = self._insert(global_tree, outside)
            for index, parts in inside.items():
                added += self._insert(ours[index].removed_tree(both=both), parts)
        if both:
            self.removed_both_ctr += added
        else:
            self.removed_guest_ctr += added
        return added

    @staticmethod
    def _split_by_our_ranges(
        start: int,
        end: int,
        ours: list[OurRange],
        outside: list[tuple[int, int]],
        inside: dict[int, list[tuple[int, int]]],
    ) -> None:
        """Cut ``[start, end)`` into the parts inside each our range and the rest.

        With a single our range this is QEMU's before / inside / after split; the inside part
        covers the whole range, including pages not hot-added yet.
        """
        pieces = [(start, end)]
        for index, our in enumerate(ours):
            rest: list[tuple[int, int]] = []
            for lo, hi in pieces:
                common_lo, common_hi = max(lo, our.start), min(hi, our.end)
                if common_lo >= common_hi:
                    rest.append((lo, hi))
                    continue
                inside.setdefault(index, []).append((common_lo, common_hi - common_lo))
                if lo < common_lo:
                    rest.append((lo, common_lo))
                if common_hi < hi:
                    rest.append((common_hi, hi))
            pieces = rest
        outside.extend((lo, hi - lo) for lo, hi in pieces)

    @staticmethod
    def _insert(tree: PageRangeTree, runs: list[tuple[int, int]]) -> int:
        total = sum(count for _, count in runs)
        return total - tree.insert_many(runs)
