"""Outgoing replies and events checked against the schema.

Under test (``HVB_SCHEMA_CHECK=strict``, set by the test suite) every command return and event
is checked, with the generated pydantic models too: a mismatching return becomes an error
reply (so the test comparing replies fails with the problem), a mismatching event raises
(failing the in-process test that caused it). In production a mismatch is our bug, never the
client's: it is logged, and to keep start-up and the hot path cheap the check skips pydantic
(a structural check against the schema tables) and runs only the first few times each command
and event is sent.
"""

from __future__ import annotations

import os
from collections import Counter

import structlog

from hvballoond.qapi import validation
from hvballoond.qapi.generated.specs import COMMANDS, EVENTS
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["OutgoingChecker", "strict_checking_enabled"]

log = structlog.get_logger(__name__)

PRODUCTION_CHECKS_PER_NAME = 3
# ... and only the first elements of each list: a reply listing 4,096 backends would
# otherwise cost more to check than to build.
PRODUCTION_ITEMS_PER_LIST = 8
# Returns served as recorded from QEMU 10.0.2 (the probe store): their members are inserted
# so that the encoder prints QEMU's recorded bytes, which is not schema order.
RECORDED_RETURNS = frozenset({"query-machines"})


def strict_checking_enabled() -> bool:
    """True under test: ``HVB_SCHEMA_CHECK=strict`` (the test suite sets it)."""
    return os.environ.get("HVB_SCHEMA_CHECK") == "strict"


class OutgoingChecker:
    def __init__(self, *, strict: bool | None = None) -> None:
        if strict is None:
            strict = strict_checking_enabled()
        self.strict = strict
        self._seen: Counter[str] = Counter()
        self._done: set[str] = set()  # checked PRODUCTION_CHECKS_PER_NAME times already

    def _due(self, name: str) -> bool:
        if self.strict:
            return True
        if name in self._done:
            return False
        self._seen[name] += 1
        if self._seen[name] >= PRODUCTION_CHECKS_PER_NAME:
            self._done.add(name)
        return True

    def check_return(self, command: str, value: JSONValue) -> str | None:
        """Check a return value; under strict checking, return the problem instead of logging.

        A strict mismatch is answered as an error reply by the dispatcher rather than raised:
        an exception would leave the client without a reply.
        """
        if not self._due(command):
            return None
        check_order = command not in RECORDED_RETURNS
        try:
            if self.strict:
                from hvballoond.qapi import runtime  # pydantic: only under test

                runtime.check_return(command, value, check_order=check_order)
            else:
                spec = COMMANDS[command]
                validation.check_value(
                    spec.ret_type, value, what=f"return of {command}", check_order=check_order,
                    max_items=PRODUCTION_ITEMS_PER_LIST,
                )
        except validation.SchemaViolation as err:
            if self.strict:
                return str(err)
            log.error("qmp.return.schema_mismatch", command=command, problem=str(err))
        return None

    def check_event(self, name: str, data: JSONObject | None) -> None:
        if not self._due(f"event:{name}"):
            return
        try:
            if self.strict:
                from hvballoond.qapi import runtime  # pydantic: only under test

                runtime.check_event(name, data)
            else:
                validation.check_value(
                    EVENTS[name].arg_type, {} if data is None else data, what=f"event {name}",
                    max_items=PRODUCTION_ITEMS_PER_LIST,
                )
        except validation.SchemaViolation as err:
            if self.strict:
                raise
            log.error("qmp.event.schema_mismatch", event_name=name, problem=str(err))
