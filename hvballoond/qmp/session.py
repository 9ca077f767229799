"""One QMP connection's protocol state, sans-I/O (spec §2-§4, §7-§9).

The session turns client bytes into :class:`Request` objects and replies, events
and the greeting into bytes. Everything QEMU answers without running a command is
answered here: JSON errors, request-envelope errors (§4.2), unknown commands,
out-of-band misuse, and the capabilities-negotiation wording (§3.2). Commands that
must run, ``qmp_capabilities`` included, are handed to the caller, which replies
with :meth:`QmpSession.send_reply` or :meth:`QmpSession.send_error`.

Ordering follows QEMU's monitor (monitor/qmp.c):

* In-band items (requests and the errors the session answers itself) are answered
  in the order they were read. An error met while earlier in-band requests are still
  running is held back until they have been answered.
* A request whose envelope makes it out-of-band (``exec-oob`` without ``execute``)
  is answered at once, ahead of queued in-band work, whether its reply is an error
  or comes from the caller.
* Events are written at once and never held back.
* Input is read only while QEMU's monitor would read it (§9.1): without OOB, not
  while an in-band item is unanswered; with OOB, not while 8 items wait behind the
  running one. :meth:`QmpSession.next_request` then returns ``None`` and
  :attr:`QmpSession.input_paused` is true.

Typical use by the I/O layer::

    session.receive_data(chunk)
    while (request := session.next_request()) is not None:
        ...execute; session.send_reply(request, result) or send_error(...)
    sock.send(session.data_to_send())

In-band requests may be answered later (after ``next_request`` returned ``None``
because input is paused); call ``next_request`` again after answering them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final, Protocol

from hvballoond.qmp.errors import ErrorClass, QmpError
from hvballoond.wire.encode import (
    encode,
    encode_error,
    encode_pretty,
    encode_return,
    ordered_keys,
)
from hvballoond.wire.streamer import JsonStreamer, WireError
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = [
    "IN_BAND_QUEUE_MAX",
    "CommandCatalog",
    "QmpSession",
    "Request",
    "SessionState",
]

# include/monitor/monitor.h QMP_REQ_QUEUE_LEN_MAX: in-band items that may wait
# while OOB is enabled.
IN_BAND_QUEUE_MAX: Final = 8

CAPABILITIES_COMMAND: Final = "qmp_capabilities"
_NEGOTIATION_DESC: Final = "Expecting capabilities negotiation with 'qmp_capabilities'"
_ALREADY_NEGOTIATED: Final = "Capabilities negotiation is already complete, command ignored"


class SessionState(Enum):
    """Where a connection is in its life (spec §3.1)."""

    NEGOTIATING = auto()
    COMMAND_MODE = auto()
    CLOSED = auto()


@dataclass(frozen=True, slots=True)
class Request:
    """A request that passed the envelope checks and must be executed.

    Attributes:
        command: The command name.
        arguments: The ``arguments`` member; ``{}`` when absent.
        id: The ``id`` member (any JSON value); ``None`` when absent or ``null``.
        has_id: Whether the request had an ``id`` member (tells ``null`` from absent).
        oob: Sent with ``exec-oob``: run at once, ahead of queued in-band requests.
    """

    command: str
    arguments: JSONObject
    id: JSONValue | None
    has_id: bool
    oob: bool


class CommandCatalog(Protocol):
    """What the session needs to know about the commands of command mode."""

    def is_known(self, name: str) -> bool:
        """Whether command ``name`` exists."""
        ...

    def allows_oob(self, name: str) -> bool:
        """Whether command ``name`` may be run with ``exec-oob``."""
        ...


class _Slot:
    """An in-band item awaiting its turn: a running request, or a held reply."""

    __slots__ = ("data", "request")

    def __init__(self, request: Request | None, data: bytes | None) -> None:
        self.request = request
        self.data = data


class QmpSession:
    """The protocol state of one QMP connection.

    Args:
        catalog: The commands available in command mode.
        greeting: ``{"QMP": {"version": ..., "capabilities": [...]}}``; queued for
            output at once. Its ``capabilities`` are the ones the client may enable.
        pretty: Print messages as ``-qmp-pretty`` does (§1.3).
    """

    def __init__(
        self, *, catalog: CommandCatalog, greeting: JSONObject, pretty: bool = False
    ) -> None:
        self._catalog = catalog
        self._pretty = pretty
        self._encode = encode_pretty if pretty else encode
        self._streamer = JsonStreamer()
        self._state = SessionState.NEGOTIATING
        self._oob_enabled = False
        self._offered = _offered_capabilities(greeting)
        self._inflight: deque[_Slot] = deque()
        self._out: list[bytes] = [self._encode(greeting)]

    # ---------------------------------------------------------------- state

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def oob_enabled(self) -> bool:
        """Whether the client enabled the ``oob`` capability."""
        return self._oob_enabled

    @property
    def inband_pending(self) -> int:
        """In-band requests handed out and not yet answered, plus replies held behind them."""
        return len(self._inflight)

    @property
    def has_unread_input(self) -> bool:
        """Whether received bytes are still waiting to be read by :meth:`next_request`."""
        return self._streamer.has_unread_input

    @property
    def pending_output(self) -> int:
        """Messages produced and not yet taken by :meth:`data_to_send`."""
        return len(self._out)

    @property
    def input_paused(self) -> bool:
        """Whether QEMU's monitor would have stopped reading input now (§9.1).

        Without OOB, reading stops while any in-band item is unanswered. With OOB,
        it stops when the queue behind the running request reaches
        :data:`IN_BAND_QUEUE_MAX`. In-band requests are assumed to run one at a
        time, oldest first.
        """
        if not self._oob_enabled:
            return bool(self._inflight)
        return len(self._inflight) > IN_BAND_QUEUE_MAX

    # ---------------------------------------------------------------- input

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes received from the client.

        Args:
            data: Raw input; messages may be split or joined arbitrarily.
        """
        if self._state is not SessionState.CLOSED:
            self._streamer.feed(data)

    def receive_eof(self) -> None:
        """The client went away: drop unread input and queued work (§9.4).

        Replies to requests still running are discarded when they arrive; output
        already produced stays available from :meth:`data_to_send`.
        """
        self._state = SessionState.CLOSED
        self._streamer.reset()
        self._inflight.clear()

    def next_request(self) -> Request | None:
        """Read input up to the next request that must be executed.

        Malformed input and envelope errors met on the way are answered into the
        output buffer, in order.

        Returns:
            The request, or ``None`` when the buffered input holds no further
            request or reading is paused (see :attr:`input_paused`).
        """
        while self._state is not SessionState.CLOSED and not self.input_paused:
            item = self._streamer.next_item()
            if item is None:
                return None
            if isinstance(item, WireError):
                self._answer_inband(self._error(None, ErrorClass.GENERIC_ERROR, item.desc))
                continue
            request = self._check_request(item.value)
            if request is not None:
                if not request.oob:
                    self._inflight.append(_Slot(request, None))
                return request
        return None

    def _check_request(self, value: JSONValue) -> Request | None:
        """qapi/qmp-dispatch.c ``qmp_dispatch`` up to running the command."""
        if not isinstance(value, dict):
            self._answer_inband(
                self._error(None, ErrorClass.GENERIC_ERROR, "QMP input must be a JSON object")
            )
            return None
        # monitor/qmp.c qmp_is_oob(): such requests bypass the in-band queue, and so
        # do their error replies.
        immediate = "exec-oob" in value and "execute" not in value
        request_id: JSONValue | None = value.get("id")
        reply_id = (request_id,) if "id" in value else None
        desc = self._envelope_error(value)
        if desc is not None:
            self._answer(self._error(reply_id, ErrorClass.GENERIC_ERROR, desc), immediate)
            return None
        command = value.get("execute")
        oob = False
        if command is None:
            command = value["exec-oob"]
            oob = True
        assert isinstance(command, str)  # checked by _envelope_error
        if not self._is_known(command):
            desc = f"The command {command} has not been found"
            if self._state is SessionState.NEGOTIATING:
                desc = _NEGOTIATION_DESC
            self._answer(self._error(reply_id, ErrorClass.COMMAND_NOT_FOUND, desc), immediate)
            return None
        if oob and not self._catalog.allows_oob(command):
            desc = f"The command {command} does not support OOB"
            self._answer(self._error(reply_id, ErrorClass.GENERIC_ERROR, desc), immediate)
            return None
        arguments = value.get("arguments")
        if arguments is None:
            arguments = {}
        assert isinstance(arguments, dict)  # checked by _envelope_error
        return Request(command, arguments, request_id, reply_id is not None, oob)

    def _envelope_error(self, request: JSONObject) -> str | None:
        """qapi/qmp-dispatch.c ``qmp_dispatch_check_obj``: members in qdict order."""
        exec_key = None
        for key in ordered_keys(request):
            if key == "execute" or (key == "exec-oob" and self._oob_enabled):
                if not isinstance(request[key], str):
                    return f"QMP input member '{key}' must be a string"
                if exec_key is not None:
                    return f"QMP input member '{key}' clashes with '{exec_key}'"
                exec_key = key
            elif key == "arguments":
                if not isinstance(request[key], dict):
                    return "QMP input member 'arguments' must be an object"
            elif key != "id":
                return f"QMP input member '{key}' is unexpected"
        if exec_key is None:
            return "QMP input lacks member 'execute'"
        return None

    def _is_known(self, command: str) -> bool:
        if command == CAPABILITIES_COMMAND:
            return True
        return self._state is SessionState.COMMAND_MODE and self._catalog.is_known(command)

    # ----------------------------------------------------------- negotiation

    def enable_capabilities(self, capabilities: list[str]) -> None:
        """Complete capabilities negotiation (``qmp_capabilities``, spec §3.3).

        Call after validating the command's arguments, before replying.

        Args:
            capabilities: The ``enable`` argument (``[]`` when absent); duplicates
                are allowed.

        Raises:
            QmpError: ``CommandNotFound`` in command mode; ``GenericError`` if a
                capability is not offered by this monitor.
        """
        if self._state is SessionState.COMMAND_MODE:
            raise QmpError(_ALREADY_NEGOTIATED, ErrorClass.COMMAND_NOT_FOUND)
        unavailable = [name for name in capabilities if name not in self._offered]
        if unavailable:
            raise QmpError(f"Capability {', '.join(unavailable)} not available")
        if self._state is SessionState.CLOSED:
            return
        self._oob_enabled = "oob" in capabilities
        self._state = SessionState.COMMAND_MODE

    # ---------------------------------------------------------------- output

    def send_reply(self, request: Request, result: JSONValue) -> None:
        """Answer a request with success: ``{"return": result, "id": ...}``.

        Args:
            request: The request, as returned by :meth:`next_request`.
            result: The command's return value (``{}`` for commands without one);
                objects carry their members in schema order.

        Raises:
            ValueError: If ``request`` is an in-band request that is not pending.
        """
        reply_id = (request.id,) if request.has_id else None
        if self._pretty:
            message: JSONObject = {"return": result}
            if reply_id is not None:
                message["id"] = reply_id[0]
            self._answer_request(request, self._encode(message))
        else:
            self._answer_request(request, encode_return(result, reply_id))

    def send_error(self, request: Request | None, error: QmpError) -> None:
        """Answer a request with an error: ``{"id": ..., "error": {...}}``.

        Args:
            request: The request, or ``None`` for an error tied to no request (it
                then takes its place in the in-band order, like a JSON error).
            error: The error.

        Raises:
            ValueError: If ``request`` is an in-band request that is not pending.
        """
        desc = error.desc
        if (
            self._state is SessionState.NEGOTIATING
            and error.error_class is ErrorClass.COMMAND_NOT_FOUND
        ):
            desc = _NEGOTIATION_DESC  # monitor/qmp.c monitor_qmp_dispatch()
        if request is None:
            if self._state is not SessionState.CLOSED:
                self._answer_inband(self._error(None, error.error_class, desc))
            return
        reply_id = (request.id,) if request.has_id else None
        self._answer_request(request, self._error(reply_id, error.error_class, desc))

    def send_event(self, event: JSONObject) -> None:
        """Send an event; dropped unless in command mode (spec §8.3).

        Args:
            event: ``{"timestamp": {...}, "event": name, "data": {...}}``.
        """
        if self._state is SessionState.COMMAND_MODE:
            self._out.append(self._encode(event))

    def data_to_send(self) -> bytes:
        """Drain the output buffer.

        Returns:
            Everything produced since the last call, possibly ``b""``.
        """
        data = b"".join(self._out)
        self._out.clear()
        return data

    def _error(
        self, reply_id: tuple[JSONValue] | None, error_class: ErrorClass, desc: str
    ) -> bytes:
        """An error reply; its id, if any, is given as a 1-tuple."""
        if not self._pretty:
            return encode_error(error_class.value, desc, reply_id)
        message: JSONObject = {"error": {"class": error_class.value, "desc": desc}}
        if reply_id is not None:
            message["id"] = reply_id[0]
        return self._encode(message)

    def _answer_request(self, request: Request, data: bytes) -> None:
        if self._state is SessionState.CLOSED:
            return  # the client is gone; its reply is lost (§9.4)
        if request.oob:
            self._out.append(data)
            return
        for slot in self._inflight:
            if slot.request is request and slot.data is None:
                slot.data = data
                break
        else:
            raise ValueError(f"no pending in-band request {request!r}")
        self._flush()

    def _answer(self, data: bytes, immediate: bool) -> None:
        if immediate:
            self._out.append(data)
        else:
            self._answer_inband(data)

    def _answer_inband(self, data: bytes) -> None:
        if self._inflight:
            self._inflight.append(_Slot(None, data))
        else:
            self._out.append(data)

    def _flush(self) -> None:
        inflight = self._inflight
        while inflight and inflight[0].data is not None:
            data = inflight.popleft().data
            assert data is not None
            self._out.append(data)


def _offered_capabilities(greeting: JSONObject) -> frozenset[str]:
    qmp = greeting.get("QMP")
    offered = qmp.get("capabilities") if isinstance(qmp, dict) else None
    if not isinstance(offered, list):
        return frozenset()
    return frozenset(name for name in offered if isinstance(name, str))
